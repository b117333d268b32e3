// The central registry's page: an adjudicator works through duplicate cases (both people side by
// side, their photos asked from the owning sites on request), and every central or regional
// officer reads the sites' consolidation report. Plain browser JavaScript, no build step; the
// helpers shared with the site pages ($, t, request, errorState...) are in common.js.
"use strict";

const STRINGS = {
  id: {
    ...STATUS_WORDS.id,
    title: "Registri Pusat",
    other_language: "English",
    sign_out: "Keluar",
    login_title: "Masuk",
    username: "Nama pengguna",
    password: "Kata sandi",
    login_button: "Masuk",
    signed_in_as: "{name} ({role})",
    role_central_admin: "admin pusat",
    role_adjudicator: "adjudikator",
    role_kanwil_monitor: "pemantau Kanwil {region}",
    tab_cases: "Kasus duplikat",
    tab_reports: "Laporan situs",
    refresh: "Muat ulang",
    cases_help: "Orang yang wajahnya mirip di atas ambang nasional. Lihat kedua foto, lalu putuskan.",
    no_cases: "Tidak ada kasus terbuka.",
    case_heading: "Kasus #{id}: skor {score} (ambang {threshold})",
    reason: "Alasan keputusan",
    decide_same: "Orang yang sama — gabungkan",
    decide_not_same: "Bukan orang yang sama",
    need_reason: "Tulis alasan keputusan (paling sedikit 3 huruf).",
    decided_same: "Kasus #{id}: digabung. Identitas yang dipertahankan: {survivor}. Semua situs terkait akan menerimanya.",
    decided_not_same: "Kasus #{id} ditutup: bukan orang yang sama.",
    full_name: "Nama",
    role: "Peran",
    status: "Status",
    site: "Situs",
    person_inmate: "Narapidana",
    person_staff: "Pegawai",
    person_visitor: "Pengunjung",
    no_photo: "Foto belum ada di pusat (hanya templat yang dikirim).",
    request_photo: "Minta foto dari situs",
    photo_requested: "Foto diminta dari {site}. Foto tiba setelah situs tersambung lagi.",
    photo_unavailable: "Situs tidak dapat mengirim foto: {note}",
    request_again: "Minta lagi",
    photo_loading: "Memuat foto…",
    site_decision: "Petugas pendaftaran {site} ({officer}) menilai: {decision}. Alasan: {reason}",
    sd_same_person: "orang yang sama",
    sd_different_person: "orang berbeda",
    col_site: "Situs",
    col_region: "Kanwil",
    col_contact: "Kontak terakhir",
    col_arrived: "Masuk (24 jam)",
    col_refused: "Ditolak",
    col_quarantined: "Karantina",
    col_cases: "Kasus terbuka",
    never: "belum pernah",
    silent: "DIAM lebih dari sehari",
    no_sites: "Tidak ada situs.",
    network: "Registri tidak dapat dihubungi. Periksa jaringan lalu coba lagi.",
    server_error: "Terjadi kesalahan di registri ({status}). Coba lagi atau hubungi admin pusat.",
  },
  en: {
    ...STATUS_WORDS.en,
    title: "Central Registry",
    other_language: "Bahasa Indonesia",
    sign_out: "Sign out",
    login_title: "Sign in",
    username: "Username",
    password: "Password",
    login_button: "Sign in",
    signed_in_as: "{name} ({role})",
    role_central_admin: "central admin",
    role_adjudicator: "adjudicator",
    role_kanwil_monitor: "Kanwil monitor {region}",
    tab_cases: "Duplicate cases",
    tab_reports: "Site reports",
    refresh: "Reload",
    cases_help: "People whose faces match above the national threshold. Look at both photos, then decide.",
    no_cases: "No open cases.",
    case_heading: "Case #{id}: score {score} (threshold {threshold})",
    reason: "Reason for the decision",
    decide_same: "Same person — merge",
    decide_not_same: "Not the same person",
    need_reason: "Write the reason for the decision (at least 3 letters).",
    decided_same: "Case #{id}: merged. Surviving identity: {survivor}. Every site concerned will receive it.",
    decided_not_same: "Case #{id} closed: not the same person.",
    full_name: "Name",
    role: "Role",
    status: "Status",
    site: "Site",
    person_inmate: "Inmate",
    person_staff: "Staff",
    person_visitor: "Visitor",
    no_photo: "No photo at the centre yet (only templates travel).",
    request_photo: "Ask the site for the photo",
    photo_requested: "Photo asked from {site}. It arrives once the site is connected again.",
    photo_unavailable: "The site cannot send a photo: {note}",
    request_again: "Ask again",
    photo_loading: "Loading photo…",
    site_decision: "The enrolment officer at {site} ({officer}) judged: {decision}. Reason: {reason}",
    sd_same_person: "the same person",
    sd_different_person: "a different person",
    col_site: "Site",
    col_region: "Kanwil",
    col_contact: "Last contact",
    col_arrived: "Arrived (24 h)",
    col_refused: "Refused",
    col_quarantined: "Quarantined",
    col_cases: "Open cases",
    never: "never",
    silent: "SILENT for over a day",
    no_sites: "No sites.",
    network: "The registry cannot be reached. Check the network and try again.",
    server_error: "The registry had an error ({status}). Try again or call the central administrator.",
  },
};

const state = {
  lang: sessionStorage.getItem("gerbang.pusat.lang") || "id",
  token: sessionStorage.getItem("gerbang.pusat.token"),
  officer: JSON.parse(sessionStorage.getItem("gerbang.pusat.officer") || "null"),
  tab: "cases",
  cases: [],
  sites: [],
  photoUrls: new Map(), // identity id -> blob: URL of a photo already fetched
  error: null,
  notice: null,
};

// ---------------------------------------------------------------- calls

async function api(method, path, body) {
  try {
    return await request(method, path, body, { Authorization: `Bearer ${state.token}` });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && state.token) signOut();
    throw error;
  }
}

async function photoUrl(identityId) {
  if (state.photoUrls.has(identityId)) return state.photoUrls.get(identityId);
  const response = await fetch(`/v1/identities/${identityId}/photo`,
    { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) return null;
  const url = URL.createObjectURL(await response.blob());
  state.photoUrls.set(identityId, url);
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
  if (state.error) {
    box.textContent = state.error.server ? messageText(state.error.server.message)
      : t(state.error.key, state.error.vars);
  }
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
      { username: form.get("username"), password: form.get("password") });
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
    else state.sites = (await api("GET", "/v1/reports/sites")).sites;
    render();
  } catch (error) {
    showError(error);
  }
}

// ---------------------------------------------------------------- cases

async function askPhoto(person, caseId) {
  try {
    await api("POST", `/v1/identities/${person.id}/photo-requests`, { reason: `case ${caseId}` });
    await load();
  } catch (error) {
    showError(error);
  }
}

async function decide(caseBody, decision, card) {
  const reason = $("[data-testid=case-reason]", card).value.trim();
  if (reason.length < 3) {
    showError("need_reason");
    return;
  }
  try {
    const done = await api("POST", `/v1/cases/${caseBody.id}/decision`, { decision, reason });
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
  const request = photo.request;
  if (photo.available) {
    slot.textContent = t("photo_loading");
    photoUrl(person.id).then((url) => {
      if (!url) return;
      const img = document.createElement("img");
      img.src = url;
      img.alt = person.full_name || "";
      img.dataset.testid = "person-photo";
      slot.replaceChildren(img);
    });
    return;
  }
  const text = document.createElement("p");
  text.dataset.testid = "photo-state";
  let button = null;
  if (request && request.state === "requested") {
    text.textContent = t("photo_requested", { site: person.site_id });
  } else if (request && request.state === "unavailable") {
    text.textContent = t("photo_unavailable", { note: request.note || "" });
    button = t("request_again");
  } else {
    text.textContent = t("no_photo");
    button = t("request_photo");
  }
  slot.append(text);
  if (button) {
    const ask = document.createElement("button");
    ask.type = "button";
    ask.dataset.testid = "request-photo";
    ask.textContent = button;
    ask.addEventListener("click", () => askPhoto(person, caseId));
    slot.append(ask);
  }
}

function renderCase(caseBody) {
  const card = $("#case-template").content.firstElementChild.cloneNode(true);
  card.dataset.caseId = caseBody.id;
  $("[data-field=heading]", card).textContent = t("case_heading", {
    id: caseBody.id, score: caseBody.score.toFixed(3), threshold: caseBody.threshold.toFixed(3),
  });
  $$("[data-i18n]", card).forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const said = $("[data-testid=site-decisions]", card);
  said.replaceChildren(...(caseBody.site_decisions || []).map((d) => {
    const line = document.createElement("li");
    line.textContent = t("site_decision", {
      site: d.site_id, officer: d.officer, decision: t(`sd_${d.decision}`), reason: d.reason,
    });
    return line;
  }));
  said.hidden = said.children.length === 0;
  const slots = $$("[data-testid=case-person]", card);
  caseBody.people.forEach((person, index) => {
    const slot = slots[index];
    slot.replaceChildren($("#person-template").content.cloneNode(true));
    $$("[data-i18n]", slot).forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("[data-field=name]", slot).textContent = person.full_name || "—";
    $("[data-field=role]", slot).textContent = t(`person_${person.role}`);
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

function arrivedText(arrived) {
  return Object.entries(arrived || {})
    .map(([kind, outcomes]) => `${kind}: ${Object.values(outcomes).reduce((a, b) => a + b, 0)}`)
    .join(", ") || "0";
}

function renderSite(site) {
  const row = document.createElement("tr");
  row.dataset.testid = "site-row";
  row.dataset.siteId = site.id;
  row.classList.toggle("silent", Boolean(site.silent));
  const contact = site.last_contact ? new Date(site.last_contact).toLocaleString(state.lang) : t("never");
  const cells = [
    `${site.id} — ${site.name}`, site.region,
    site.silent ? `${contact} · ${t("silent")}` : contact,
    arrivedText(site.arrived), String((site.refused || []).length),
    String(site.quarantined?.count ?? 0), String(site.pending_cases ?? 0),
  ];
  cells.forEach((text, index) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (index === 2) cell.className = "contact";
    row.append(cell);
  });
  return row;
}

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
  $("#tab-reports").setAttribute("aria-selected", String(state.tab === "reports"));
  $("#cases-view").hidden = state.tab !== "cases";
  $("#reports-view").hidden = state.tab !== "reports";
  if (state.tab === "cases") {
    $("#cases").replaceChildren(...state.cases.map(renderCase));
    $("#no-cases").hidden = state.cases.length > 0;
  } else {
    $("#sites").replaceChildren(...state.sites.map(renderSite));
  }
}

function applyLanguage() {
  translatePage();
  renderBanners();
  render();
}

function switchTab(tab) {
  state.tab = tab;
  render();
  load();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOutHere);
  $("#lang-toggle").addEventListener("click", () => toggleLanguage(sessionStorage, "gerbang.pusat.lang"));
  $("#tab-cases").addEventListener("click", () => switchTab("cases"));
  $("#tab-reports").addEventListener("click", () => switchTab("reports"));
  $("#refresh").addEventListener("click", () => { state.notice = null; renderBanners(); load(); });
  applyLanguage();
  if (state.token && state.officer) startWork();
});
