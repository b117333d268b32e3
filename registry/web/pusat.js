// The central registry's page: an adjudicator works through duplicate cases (both people side by
// side, their photos asked from the owning sites on request), and every central or regional
// officer reads the sites' consolidation report. A native ES module, no build step; what it shares
// with the site pages (API client, i18n, DOM helpers, vocabulary) is in /web/shared/.

import { apiClient, blobUrl, errorState, errorText, request } from "/web/shared/api.js";
import { $, $$, element, fromTemplate } from "/web/shared/dom.js";
import { Language } from "/web/shared/i18n.js";
import { STRINGS } from "./pusat-strings.js";
import { WatchlistTab, loadWatchlist } from "./pusat-watchlist.js";

const MIN_REASON = 3;

const language = new Language(STRINGS, sessionStorage, "gerbang.pusat.lang");
const t = (key, vars) => language.t(key, vars);

const state = {
  token: sessionStorage.getItem("gerbang.pusat.token"),
  officer: JSON.parse(sessionStorage.getItem("gerbang.pusat.officer") || "null"),
  tab: "cases",
  cases: [],
  sites: [],
  watchlist: [],
  photoUrls: new Map(), // identity id -> blob: URL of a photo already fetched
  error: null,
  notice: null,
};

// ---------------------------------------------------------------- calls

const api = apiClient(
  () => ({ Authorization: `Bearer ${state.token}` }),
  () => { if (state.token) signOut(); },
);

async function photoUrl(identityId) {
  if (state.photoUrls.has(identityId)) return state.photoUrls.get(identityId);
  const url = await blobUrl(`/v1/identities/${identityId}/photo`, { Authorization: `Bearer ${state.token}` });
  if (url) state.photoUrls.set(identityId, url);
  return url;
}

// ---------------------------------------------------------------- messages

function showError(error) {
  state.error = error === null ? null : errorState(error);
  renderBanners();
}

function showNotice(key, vars) {
  state.notice = { key, vars };
  renderBanners();
}

function renderBanners() {
  const box = $("#error");
  box.hidden = !state.error;
  if (state.error) box.textContent = errorText(state.error, language);
  const notice = $("#notice");
  notice.hidden = !state.notice;
  if (state.notice) notice.textContent = t(state.notice.key, state.notice.vars);
}

// ---------------------------------------------------------------- sign in

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const body = await request("POST", "/v1/auth/login",
      { body: { username: form.get("username"), password: form.get("password") } });
    state.token = body.token;
    state.officer = { name: form.get("username"), role: body.role, region: body.region };
    sessionStorage.setItem("gerbang.pusat.token", body.token);
    sessionStorage.setItem("gerbang.pusat.officer", JSON.stringify(state.officer));
    showError(null);
    startWork();
  } catch (error) {
    showError(error);
  }
}

async function signOutHere() {
  try { await api("POST", "/v1/auth/logout"); } catch { /* the token is dropped anyway */ }
  signOut();
}

function signOut() {
  state.token = null;
  state.officer = null;
  sessionStorage.removeItem("gerbang.pusat.token");
  sessionStorage.removeItem("gerbang.pusat.officer");
  state.photoUrls.forEach((url) => URL.revokeObjectURL(url));
  state.photoUrls.clear();
  state.notice = null;
  renderBanners();
  render();
}

const mayDecide = () => state.officer && state.officer.role !== "kanwil_monitor";

function startWork() {
  state.tab = mayDecide() ? "cases" : "reports";
  render();
  load();
}

async function load() {
  try {
    if (state.tab === "cases") state.cases = (await api("GET", "/v1/cases")).cases;
    else if (state.tab === "watchlist") state.watchlist = await loadWatchlist(api);
    else state.sites = (await api("GET", "/v1/reports/sites")).sites;
    render();
  } catch (error) {
    showError(error);
  }
}

// ---------------------------------------------------------------- cases

async function askPhoto(person, caseId) {
  try {
    await api("POST", `/v1/identities/${person.id}/photo-requests`, { body: { reason: `case ${caseId}` } });
    await load();
  } catch (error) {
    showError(error);
  }
}

async function decide(caseBody, decision, card) {
  const reason = $("[data-testid=case-reason]", card).value.trim();
  if (reason.length < MIN_REASON) {
    showError("need_reason");
    return;
  }
  try {
    const done = await api("POST", `/v1/cases/${caseBody.id}/decision`, { body: { decision, reason } });
    showError(null);
    if (decision === "same") showNotice("decided_same", { id: caseBody.id, survivor: done.survivor_id });
    else showNotice("decided_not_same", { id: caseBody.id });
    await load();
  } catch (error) {
    showError(error);
  }
}

function renderPhoto(slot, person, caseId) {
  slot.replaceChildren();
  const photo = person.photo || {};
  const asked = photo.request;
  if (photo.available) {
    slot.textContent = t("photo_loading");
    photoUrl(person.id).then((url) => {
      if (!url) return;
      const img = element("img", { testid: "person-photo" });
      img.src = url;
      img.alt = person.full_name || "";
      slot.replaceChildren(img);
    });
    return;
  }
  const text = element("p", { testid: "photo-state" });
  let button = null;
  if (asked && asked.state === "requested") {
    text.textContent = t("photo_requested", { site: person.site_id });
  } else if (asked && asked.state === "unavailable") {
    text.textContent = t("photo_unavailable", { note: asked.note || "" });
    button = t("request_again");
  } else {
    text.textContent = t("no_photo");
    button = t("request_photo");
  }
  slot.append(text);
  if (button) {
    const ask = element("button", { text: button, testid: "request-photo" });
    ask.type = "button";
    ask.addEventListener("click", () => askPhoto(person, caseId));
    slot.append(ask);
  }
}

function renderCase(caseBody) {
  const card = fromTemplate($("#case-template"));
  card.dataset.caseId = caseBody.id;
  $("[data-field=heading]", card).textContent = t("case_heading", {
    id: caseBody.id, score: caseBody.score.toFixed(3), threshold: caseBody.threshold.toFixed(3),
  });
  const modality = caseBody.modality || "face";
  const modalityLine = $("[data-field=modality]", card);
  modalityLine.dataset.modality = modality;
  modalityLine.textContent = t(`modality_${modality}`, { searched: caseBody.templates_searched ?? "—" });
  language.translate(card);
  const said = $("[data-testid=site-decisions]", card);
  said.replaceChildren(...(caseBody.site_decisions || []).map((d) => element("li", {
    text: t("site_decision", {
      site: d.site_id, officer: d.officer, decision: t(`sd_${d.decision}`), reason: d.reason,
    }),
  })));
  said.hidden = said.children.length === 0;
  const slots = $$("[data-testid=case-person]", card);
  caseBody.people.forEach((person, index) => {
    const slot = slots[index];
    slot.replaceChildren($("#person-template").content.cloneNode(true));
    language.translate(slot);
    $("[data-field=name]", slot).textContent = person.full_name || "—";
    $("[data-field=role]", slot).textContent = t(`role_${person.role}`);
    $("[data-field=status]", slot).textContent = t(`status_${person.status}`);
    $("[data-field=site]", slot).textContent = person.site_id || "—";
    $("[data-field=id]", slot).textContent = person.id;
    renderPhoto($("[data-field=photo]", slot), person, caseBody.id);
  });
  $("[data-testid=decide-same]", card).addEventListener("click", () => decide(caseBody, "same", card));
  $("[data-testid=decide-not-same]", card)
    .addEventListener("click", () => decide(caseBody, "not_same", card));
  return card;
}

// ---------------------------------------------------------------- reports

function arrivedCount(arrived) {
  return Object.values(arrived || {})
    .reduce((sum, outcomes) => sum + Object.values(outcomes).reduce((a, b) => a + b, 0), 0);
}

// What the site did, in words; the denials' reasons (words from the server) in the cell's title.
function activityCell(activity) {
  const cell = element("td", { className: "activity" });
  if (!activity) return cell;
  const denials = activity.denials || [];
  cell.textContent = t("activity", {
    inmates: activity.enrolled.inmate, staff: activity.enrolled.staff,
    visitors: activity.enrolled.visitor, visits_in: activity.visits_in,
    visits_out: activity.visits_out, alarms: activity.alarms_raised, open: activity.alarms_open,
    denials: denials.reduce((sum, d) => sum + d.count, 0),
  });
  cell.title = denials.map((d) => `${d.count} × ${language.message(d)}`).join("\n");
  return cell;
}

function renderSite(site) {
  const row = element("tr", { testid: "site-row" });
  row.dataset.siteId = site.id;
  row.classList.toggle("silent", Boolean(site.silent));
  const contact = site.last_contact ? new Date(site.last_contact).toLocaleString(language.lang) : t("never");
  const cells = [
    `${site.id} — ${site.name}`, site.region,
    site.silent ? `${contact} · ${t("silent")}` : contact,
  ].map((text, index) => element("td", { text, className: index === 2 ? "contact" : "" }));
  const counts = [arrivedCount(site.arrived), (site.refused || []).length,
    site.quarantined?.count ?? 0, site.pending_cases ?? 0];
  row.append(...cells, activityCell(site.activity), ...counts.map((n) => element("td", { text: String(n) })));
  return row;
}

// ---------------------------------------------------------------- watchlist

const isAdmin = () => state.officer && state.officer.role === "central_admin";

const watchlist = new WatchlistTab({
  api,
  t,
  lang: () => language.lang,
  isAdmin,
  entries: () => state.watchlist,
  done: async (notice, vars) => { showError(null); showNotice(notice, vars); await load(); },
  failed: showError,
});

// ---------------------------------------------------------------- page

function render() {
  const signedIn = Boolean(state.token && state.officer);
  $("#login-view").hidden = signedIn;
  $("#work-view").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#officer").hidden = !signedIn;
  if (!signedIn) return;
  const officer = state.officer;
  $("#officer").textContent = t("signed_in_as", {
    name: officer.name, role: t(`role_${officer.role}`, { region: officer.region || "" }),
  });
  $("#tab-cases").hidden = !mayDecide();
  $("#tab-cases").setAttribute("aria-selected", String(state.tab === "cases"));
  $("#tab-watchlist").hidden = !mayDecide();
  for (const tab of ["cases", "reports", "watchlist"]) {
    $(`#tab-${tab}`).setAttribute("aria-selected", String(state.tab === tab));
    $(`#${tab}-view`).hidden = state.tab !== tab;
  }
  if (state.tab === "cases") {
    $("#cases").replaceChildren(...state.cases.map(renderCase));
    $("#no-cases").hidden = state.cases.length > 0;
  } else if (state.tab === "watchlist") {
    watchlist.render();
  } else {
    $("#sites").replaceChildren(...state.sites.map(renderSite));
  }
}

function applyLanguage() {
  language.translatePage(document, $("#lang-toggle"));
  renderBanners();
  render();
}

function switchTab(tab) {
  state.tab = tab;
  render();
  load();
}

function init() {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOutHere);
  $("#lang-toggle").addEventListener("click", () => { language.toggle(); applyLanguage(); });
  $("#tab-cases").addEventListener("click", () => switchTab("cases"));
  $("#tab-reports").addEventListener("click", () => switchTab("reports"));
  $("#tab-watchlist").addEventListener("click", () => switchTab("watchlist"));
  $("#watchlist-form").addEventListener("submit", (event) => watchlist.add(event));
  $("#watchlist-add-finger").addEventListener("click", () => watchlist.addFinger());
  $("#refresh").addEventListener("click", () => { state.notice = null; renderBanners(); load(); });
  applyLanguage();
  if (state.token && state.officer) startWork();
}

init(); // a module runs once the document is parsed
