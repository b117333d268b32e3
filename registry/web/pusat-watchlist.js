// The national watchlist tab of /pusat: everyone banned nationally (the registry's own entries and
// the sites' bans, which only their site lifts), a central admin's form to add a person from
// photos (the registry embeds them with the national gallery's pack), and removal with a reason.
// Every change is audited by the registry and reaches every site's gate at its next pull.

import { $, element } from "/web/shared/dom.js";

const MIN_REASON = 3;

/** The entries, newest first. */
export async function loadWatchlist(api) {
  return (await api("GET", "/v1/watchlist")).entries;
}

/** Post the add form (photos as multipart); the answer or an ApiError. */
export async function addFromPhotos(api, form) {
  const body = new FormData();
  body.set("full_name", form.full_name.value.trim());
  body.set("reason", form.reason.value.trim());
  if (form.nik.value.trim()) body.set("nik", form.nik.value.trim());
  for (const file of form.photos.files) body.append("photos", file);
  return api("POST", "/v1/watchlist/photos", { body });
}

/** One row: who, why, whose ban; a removal button for the registry's own entries (admins). */
export function watchlistRow(entry, { t, mayRemove, onRemove }) {
  const row = element("tr", { testid: "watchlist-row" });
  row.dataset.identityId = entry.identity_id;
  const owner = entry.site_id ? t("wl_site_ban", { site: entry.site_id }) : t("wl_registry_entry");
  const since = new Date(entry.since).toLocaleDateString("id-ID", { day: "2-digit", month: "long", year: "numeric" });
  const cells = [entry.full_name, entry.nik || "—", entry.reason || "—", `${owner} · ${entry.officer || "—"}`, since];
  row.append(...cells.map((text) => element("td", { text })));
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
  constructor({ api, t, isAdmin, entries, done, failed }) {
    Object.assign(this, { api, t, isAdmin, entries, done, failed });
  }

  async add(event) {
    event.preventDefault();
    try {
      const added = await addFromPhotos(this.api, event.target);
      event.target.reset();
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

  render() {
    $("#watchlist-form").hidden = !this.isAdmin();
    const context = { t: this.t, mayRemove: this.isAdmin(), onRemove: (entry, reason) => this.remove(entry, reason) };
    const entries = this.entries();
    $("#watchlist").replaceChildren(...entries.map((entry) => watchlistRow(entry, context)));
    $("#no-watchlist").hidden = entries.length > 0;
  }
}
