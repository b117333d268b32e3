// The national watchlist tab of /pusat: everyone banned nationally (the registry's own entries and
// the sites' bans, which only their site lifts), a central admin's form to add a person from face
// photos and/or fingerprint images (the registry embeds the photos with the national gallery's
// pack and extracts the fingers as a site's enrolment does), and removal with a reason.
// Every change is audited by the registry and reaches every site's gate at its next pull.

import { $, $$, element } from "/web/shared/dom.js";

const MIN_REASON = 3;
const MAX_FINGERS = 10;
const FINGER_IMAGES = "image/png,image/tiff,image/bmp,image/jpeg";

/** One finger of the form: the ISO position (1-10, named in the page's language) and its image. */
export function fingerRow(t, position) {
  const row = element("div", { className: "finger-row", testid: "watchlist-finger" });
  const select = element("select", { testid: "watchlist-finger-position" });
  select.setAttribute("aria-label", t("finger_position"));
  for (let code = 1; code <= 10; code += 1) {
    const option = element("option", { text: t(`finger_${code}`) });
    option.value = String(code);
    option.dataset.i18n = `finger_${code}`; // relabelled when the language changes
    select.append(option);
  }
  select.value = String(position);
  const file = element("input", { testid: "watchlist-finger-image" });
  file.type = "file";
  file.accept = FINGER_IMAGES;
  file.setAttribute("aria-label", t("wl_finger_image"));
  row.append(select, file);
  return row;
}

/** The chosen fingers: [position, file] for every row with an image. */
function chosenFingers(form) {
  return $$("[data-testid=watchlist-finger]", form)
    .map((row) => [row.querySelector("select").value, row.querySelector("input").files[0]])
    .filter(([, file]) => file);
}

/** The entries, newest first. */
export async function loadWatchlist(api) {
  return (await api("GET", "/v1/watchlist")).entries;
}

/** Post the add form (photos and finger images as multipart); the answer or an ApiError. */
export async function addFromImages(api, form) {
  const body = new FormData();
  body.set("full_name", form.full_name.value.trim());
  body.set("reason", form.reason.value.trim());
  if (form.nik.value.trim()) body.set("nik", form.nik.value.trim());
  for (const file of form.photos.files) body.append("photos", file);
  for (const [position, file] of chosenFingers(form)) {
    body.append("finger_images", file);
    body.append("finger_positions", position);
  }
  return api("POST", "/v1/watchlist/photos", { body });
}

/** One row: who, why, whose ban; a removal button for the registry's own entries (admins). */
export function watchlistRow(entry, { t, lang, mayRemove, onRemove }) {
  const row = element("tr", { testid: "watchlist-row" });
  row.dataset.identityId = entry.identity_id;
  const owner = entry.site_id ? t("wl_site_ban", { site: entry.site_id }) : t("wl_registry_entry");
  const locale = lang === "en" ? "en-GB" : "id-ID"; // the page's language, not the browser's
  const since = new Date(entry.since).toLocaleDateString(locale, { day: "2-digit", month: "long", year: "numeric" });
  const fingers = entry.fingers ? t("wl_finger_count", { n: entry.fingers }) : "—";
  const cells = [entry.full_name, entry.nik || "—", entry.reason || "—", fingers, `${owner} · ${entry.officer || "—"}`, since];
  row.append(...cells.map((text) => element("td", { text })));
  row.children[3].dataset.testid = "watchlist-finger-count";
  const action = element("td");
  if (!entry.site_id && mayRemove) {
    const reason = element("input", { testid: "watchlist-remove-reason" });
    reason.placeholder = t("wl_remove_reason");
    reason.maxLength = 1000;
    const remove = element("button", { text: t("wl_remove"), testid: "watchlist-remove" });
    remove.type = "button";
    remove.addEventListener("click", () => onRemove(entry, reason.value.trim()));
    action.append(reason, remove);
  } else if (entry.site_id) {
    action.textContent = t("wl_lifted_by_site", { site: entry.site_id });
  }
  row.append(action);
  return row;
}

/** Remove a registry entry with its reason (refused here when too short). */
export async function removeEntry(api, entry, reason) {
  if (reason.length < MIN_REASON) throw "need_reason";
  return api("POST", `/v1/watchlist/${entry.identity_id}/removal`, { body: { reason } });
}

/**
 * The tab: `entries()` the loaded list, `done(notice, vars)` after a change the registry accepted,
 * `failed(error)` for a refusal; `isAdmin()` decides whether the form and removals show.
 */
export class WatchlistTab {
  constructor({ api, t, lang, isAdmin, entries, done, failed }) {
    Object.assign(this, { api, t, lang, isAdmin, entries, done, failed });
  }

  async add(event) {
    event.preventDefault();
    try {
      const added = await addFromImages(this.api, event.target);
      event.target.reset();
      $("#watchlist-finger-rows").replaceChildren(fingerRow(this.t, 2));
      await this.done("wl_added", { id: added.identity_id });
    } catch (error) {
      this.failed(error);
    }
  }

  async remove(entry, reason) {
    try {
      await removeEntry(this.api, entry, reason);
      await this.done("wl_removed", { name: entry.full_name });
    } catch (error) {
      this.failed(error);
    }
  }

  /** Another finger row, the next position preselected (up to ten rows). */
  addFinger() {
    const rows = $("#watchlist-finger-rows");
    if (rows.children.length >= MAX_FINGERS) return;
    const last = rows.lastElementChild?.querySelector("select").value;
    rows.append(fingerRow(this.t, last ? (Number(last) % 10) + 1 : 2));
  }

  render() {
    $("#watchlist-form").hidden = !this.isAdmin();
    if (!$("#watchlist-finger-rows").children.length) this.addFinger(); // right index first
    const context = { t: this.t, lang: this.lang(), mayRemove: this.isAdmin(), onRemove: (entry, reason) => this.remove(entry, reason) };
    const entries = this.entries();
    $("#watchlist").replaceChildren(...entries.map((entry) => watchlistRow(entry, context)));
    $("#no-watchlist").hidden = entries.length > 0;
  }
}
