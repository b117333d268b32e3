// The enrolment desk: sign in, choose who is enrolled, type their data (checked as it is typed),
// capture faces with live feedback, look at likely duplicates, save. A native ES module: no build
// step and nothing fetched from outside the site service.

import { ApiError, apiClient, blobUrl, errorState, errorText } from "/web/shared/api.js";
import { cameraAvailable, openCamera, stopCamera, videoFrame } from "/web/shared/camera.js";
import { $, $$, sleep } from "/web/shared/dom.js";
import { Language } from "/web/shared/i18n.js";
import { allCandidates, candidateCard } from "./desk-candidates.js";
import { fillForm, renderFlaggedImports } from "./desk-imports.js";
import { DeskFingers, fingerPanel } from "./desk-finger.js";
import {
  clearForm, formValue, identityBody, revalidateTouched, setHint, showRoleFields, typedForReconcile,
  validateAll, validateField,
} from "./desk-form.js";
import { InmatePicker } from "./desk-inmate-search.js";
import { STRINGS } from "./desk-strings.js";
import { SupervisorSignOff } from "./desk-supervisor.js";

const ENROLLING_ROLES = ["enrolment_officer", "supervisor", "site_admin"];
const AUTO_INTERVAL_MS = 700;

const language = new Language(STRINGS, sessionStorage, "gerbang.lang");
const t = (key, vars) => language.t(key, vars);
const form = $("#identity-form");

const state = {
  token: sessionStorage.getItem("gerbang.token"),
  officer: sessionStorage.getItem("gerbang.officer") || "",
  role: null,
  sessionId: null,
  kept: 0,
  needed: 0,
  ready: false,
  auto: false,
  busy: false,
  feedback: null, // the last frame's answer, re-rendered when the language changes
  error: null, // the error on show: an errorState
  notice: null, // {key, vars, kind} or {server, kind}
  captureUrl: null, // blob: URL of the last accepted frame, shown next to candidates
  candidates: [], // local and national (`national: true`) look-alikes
  decisions: {}, // candidate id -> {decision, reason, missingReason}
  nationalSearch: null, // {status, reason} of the last duplicate check
  photoUrls: [],
  stream: null,
  flagged: [], // import rows waiting for a decision (desk-imports.js)
  importRow: null, // the row_id when the open session is a flagged import row's
};

// ---------------------------------------------------------------- language

function applyLanguage() {
  language.translatePage(document, $("#lang-toggle"));
  $$("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $('[data-testid="officer-name"]').textContent = t("signed_in_as", { name: state.officer });
  $("#auto").textContent = t(state.auto ? "auto_stop" : "auto_start");
  renderFeedback();
  renderCounter();
  renderError();
  renderNotice();
  renderCandidates();
  renderNationalNotice();
  renderFlaggedImports(state.flagged, language, openImportRow);
  fingers.render();
  if (state.role) revalidateTouched(form, state.role, language);
}

// ---------------------------------------------------------------- talking to the service

// The desk calls as the signed-in officer; a session that ends (401) sends it back to sign in.
const api = apiClient(
  () => (state.token ? { Authorization: `Bearer ${state.token}` } : {}),
  (error, path) => { if (path !== "/v1/auth/login") signedOut(error); },
);
const fingers = new DeskFingers(fingerPanel(), { api, language }); // desk-finger.js

async function photoUrl(path) {
  const url = await blobUrl(path, { Authorization: `Bearer ${state.token}` });
  if (url) state.photoUrls.push(url);
  return url;
}

// ---------------------------------------------------------------- messages

function showError(error) {
  state.error = errorState(error);
  // A refusal about one field is shown at that field too.
  const field = error instanceof ApiError ? error.details?.field : null;
  if (field) setHint(form, field, "bad", language.message(error.payload.message));
  renderError();
}

function clearError() { state.error = null; renderError(); }

function renderError() {
  const box = $("#error");
  box.hidden = !state.error;
  if (state.error) box.textContent = errorText(state.error, language);
}

function setNotice(key, vars = {}, kind = "info") { state.notice = key ? { key, vars, kind } : null; renderNotice(); }

function renderNotice() {
  const box = $("#notice");
  box.hidden = !state.notice;
  if (!state.notice) return;
  box.className = `notice ${state.notice.kind}`;
  box.textContent = state.notice.server ? language.message(state.notice.server) : t(state.notice.key, state.notice.vars);
}

// ---------------------------------------------------------------- sign in

async function signIn(event) {
  event.preventDefault();
  clearError();
  const login = event.target;
  try {
    const body = await api("POST", "/v1/auth/login",
      { body: { username: login.username.value.trim(), password: login.password.value } });
    state.token = body.token;
    state.officer = body.name;
    sessionStorage.setItem("gerbang.token", body.token);
    sessionStorage.setItem("gerbang.officer", body.name);
    login.password.value = "";
    if (!ENROLLING_ROLES.includes(body.role)) showError("not_enrolment_role");
    showView("enrol");
    loadFlaggedImports();
  } catch (error) {
    // The service answers every refused login alike ("please sign in first"): say what happened.
    showError(error.status === 401 ? "login_failed" : error);
  }
}

async function signOut() {
  await abandonSession();
  try { await api("POST", "/v1/auth/logout"); } catch { /* the token is dropped anyway */ }
  signedOut(null);
}

function signedOut(error) {
  state.token = null;
  sessionStorage.removeItem("gerbang.token");
  sessionStorage.removeItem("gerbang.officer");
  stopCamera(state.stream);
  state.stream = null;
  resetEnrolment();
  showView("login");
  if (error) showError(error);
}

function showView(name) {
  $("#login-view").hidden = name !== "login";
  $("#enrol-view").hidden = name !== "enrol";
  $("#done-view").hidden = name !== "done";
  $("#sign-out").hidden = name === "login";
  $('[data-testid="officer-name"]').hidden = name === "login";
  applyLanguage();
}

// ---------------------------------------------------------------- role and fields

function chooseRole(role) {
  if (state.role !== role) resetCaptures();
  state.role = role;
  $$(".role").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.role === role)));
  showRoleFields(form, role);
  form.hidden = false;
  $("#camera-card").hidden = false;
  $("#save-card").hidden = false;
  startCamera();
}

function onFieldInput(event) {
  const name = event.target.name;
  if (!name) return;
  event.target.dataset.touched = "1";
  validateField(form, name, state.role, language);
  // The NIK and NIP carry the birth date and sex: re-check them when those change.
  if (["birth_date", "sex"].includes(name)) {
    ["nik", "nip"].forEach((n) => { if (formValue(form, n)) validateField(form, n, state.role, language); });
  }
}

// ---------------------------------------------------------------- camera and captures

async function startCamera() {
  if (state.stream) return;
  const video = $("#preview");
  if (!cameraAvailable(navigator.mediaDevices)) { showFeedbackText("camera_unavailable", "bad"); return; }
  showFeedbackText("camera_starting", "");
  try {
    state.stream = await openCamera(navigator.mediaDevices);
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    if (!state.feedback) showFeedbackText(null);
  } catch (error) {
    console.error(error);
    showFeedbackText("camera_unavailable", "bad");
  }
}

// Send one frame (opening the capture session first if needed); null when nothing was sent.
async function sendFrame() {
  if (state.busy) return null;
  state.busy = true;
  try {
    const blob = await videoFrame($("#preview"), $("#grab"));
    if (!blob) { showFeedbackText("camera_not_ready", "bad"); return null; }
    if (!state.sessionId) {
      const session = await api("POST", "/v1/captures", { body: { role: state.role } });
      state.sessionId = session.session_id;
      state.needed = session.needed;
    }
    const frame = new FormData();
    frame.append("image", blob, "frame.jpg");
    const sessionId = state.sessionId;
    const feedback = await api("POST", `/v1/captures/${sessionId}/frames`, { body: frame });
    if (state.sessionId !== sessionId) return null; // started over while the frame was judged
    Object.assign(state, { feedback, kept: feedback.kept, needed: feedback.needed, ready: feedback.ready });
    if (feedback.accepted) {
      if (state.captureUrl) URL.revokeObjectURL(state.captureUrl);
      state.captureUrl = URL.createObjectURL(blob);
    }
    renderFeedback();
    renderCounter();
    return feedback;
  } finally {
    state.busy = false;
  }
}

async function captureOnce() {
  clearError();
  try { await sendFrame(); } catch (error) { showError(error); }
}

async function toggleAuto() {
  if (state.auto) { state.auto = false; return; } // the loop below ends after its frame
  clearError();
  state.auto = true;
  $("#auto").textContent = t("auto_stop");
  $("#auto").setAttribute("aria-pressed", "true");
  while (state.auto && !state.ready) {
    const started = performance.now();
    try {
      await sendFrame();
    } catch (error) {
      showError(error);
      break;
    }
    await sleep(Math.max(0, AUTO_INTERVAL_MS - (performance.now() - started)));
  }
  state.auto = false;
  $("#auto").textContent = t("auto_start");
  $("#auto").setAttribute("aria-pressed", "false");
}

function showFeedbackText(key, kind = "") {
  const box = $("#feedback");
  box.className = `feedback ${kind}`;
  box.textContent = key ? t(key) : "";
}

function renderFeedback() {
  const box = $("#feedback");
  const feedback = state.feedback;
  if (!feedback) return;
  box.replaceChildren();
  box.className = `feedback ${feedback.accepted ? "good" : "bad"}`;
  const head = document.createElement("strong");
  head.textContent = t(feedback.accepted ? "photo_accepted" : "photo_refused");
  box.append(head);
  const list = document.createElement("ul");
  for (const reason of feedback.reasons || []) {
    const item = document.createElement("li");
    item.dataset.code = reason.code;
    item.textContent = language.message(reason) || reason.code;
    list.append(item);
  }
  if (list.children.length) box.append(list);
  if (feedback.ready) {
    const enough = document.createElement("p");
    enough.textContent = t("enough_photos");
    box.append(enough);
  }
}

function renderCounter() {
  const counter = $("#counter");
  counter.hidden = !state.needed;
  counter.className = `counter ${state.ready ? "good" : ""}`;
  counter.textContent = t("counter", { kept: Math.min(state.kept, state.needed), needed: state.needed });
}

// ---------------------------------------------------------------- duplicates and saving

async function checkDuplicates() {
  clearError();
  if (!state.ready) { setNotice("need_photos", { kept: state.kept, needed: state.needed || "?" }, "bad"); return; }
  try {
    const body = await api("GET", `/v1/captures/${state.sessionId}/duplicates`);
    await showCandidates(allCandidates(body), true);
    showNationalSearch(body.national_search);
    if (!state.candidates.length) setNotice("no_duplicates", {}, "good");
  } catch (error) {
    showError(error);
  }
}

function showNationalSearch(search) {
  state.nationalSearch = search || null;
  renderNationalNotice();
}

function renderNationalNotice() {
  const box = $("#national-notice");
  const search = state.nationalSearch;
  box.hidden = search?.status !== "unavailable";
  if (!box.hidden) box.textContent = t("national_unavailable", { reason: search.reason || "?" });
}

// Show the candidates. `complete` lists are the server's whole answer and replace what is shown;
// a 409 names only the candidates still undecided, so those are added to the list.
async function showCandidates(candidates, complete) {
  const before = Object.fromEntries(state.candidates.map((c) => [c.identity_id, c]));
  const listed = complete ? candidates
    : [...state.candidates, ...candidates.filter((c) => !before[c.identity_id])];
  state.candidates = listed.map((c) => ({ ...before[c.identity_id], ...c }));
  for (const candidate of state.candidates) {
    if (candidate.national) continue; // photos stay at their own site
    const url = candidate.photo_url || `/v1/identities/${candidate.identity_id}/photo`;
    if (!candidate.photo) candidate.photo = await photoUrl(url);
  }
  renderCandidates();
}

// After a 409: the duplicates endpoint gives the same candidates with names and photo links.
async function showConflict(error) {
  try {
    const full = await api("GET", `/v1/captures/${state.sessionId}/duplicates`);
    await showCandidates(allCandidates(full), true);
    showNationalSearch(full.national_search);
  } catch {
    await showCandidates(allCandidates(error.details), false);
    showNationalSearch(error.details.national_search);
  }
  state.notice = { server: error.payload.message, kind: "bad" };
  renderNotice();
  $("#duplicates").scrollIntoView({ block: "start" });
}

function renderCandidates() {
  $("#duplicates").hidden = !state.candidates.length;
  const template = $("#candidate-template");
  $("#candidates").replaceChildren(...state.candidates.map((candidate) => {
    const id = candidate.identity_id;
    return candidateCard(template, candidate, {
      choice: state.decisions[id] || {},
      captureUrl: state.captureUrl,
      language,
      onDecide: (decision) => decide(id, decision),
      onReason: (text) => Object.assign(state.decisions[id], { reason: text, missingReason: false }),
      typed: typedForReconcile(form, language),
      onKeep: (field, which) => { state.decisions[id].keep = { ...state.decisions[id].keep, [field]: which }; },
    });
  }));
}

function isNational(identityId) {
  return Boolean(state.candidates.find((c) => c.identity_id === identityId)?.national);
}

function decide(identityId, decision) {
  // Only one identity here, and one in the national registry, can be this person.
  if (decision === "same_person") {
    for (const [id, choice] of Object.entries(state.decisions)) {
      if (id !== identityId && choice.decision === "same_person"
          && isNational(id) === isNational(identityId)) delete state.decisions[id];
    }
  }
  const previous = state.decisions[identityId] || {};
  state.decisions[identityId] = { decision, reason: previous.reason || "" };
  setNotice(null);
  renderCandidates();
  if (decision === "different_person") $(`[data-identity-id="${identityId}"] textarea`)?.focus();
}

// The decisions to send, or null after marking what is still missing.
function collectDecisions() {
  let complete = true;
  for (const candidate of state.candidates) {
    const choice = state.decisions[candidate.identity_id];
    if (!choice) complete = false;
    else if (choice.decision === "different_person" && !choice.reason.trim()) {
      choice.missingReason = true;
      complete = false;
    }
  }
  if (!complete) { renderCandidates(); setNotice("decide_each", {}, "bad"); return null; }
  return state.candidates.map((c) => ({
    candidate_identity_id: c.identity_id,
    decision: state.decisions[c.identity_id].decision,
    reason: state.decisions[c.identity_id].reason.trim(),
  }));
}

// The typed values the officer chose to keep over the record "same person" joins, or null.
function keptTyped() {
  const joined = Object.entries(state.decisions)
    .find(([id, d]) => d.decision === "same_person" && !isNational(id));
  if (!joined) return null;
  const typed = typedForReconcile(form, language);
  const kept = Object.entries(joined[1].keep || {}).filter(([field, which]) => which === "typed" && typed[field]);
  return kept.length ? Object.fromEntries(kept.map(([field]) => [field, typed[field][1]])) : null;
}

// `supervisorToken`: a supervisor's sign-off for this one commit (desk-supervisor.js).
async function commit(supervisorToken = null) {
  clearError();
  setNotice(null);
  // 'Same person' as someone here adds the photos to them; as someone at another site, the
  // person is still enrolled here (with their data), linked to that national identity.
  const joinsExisting = Object.entries(state.decisions)
    .some(([id, d]) => d.decision === "same_person" && !isNational(id));
  if (!joinsExisting) {
    const bad = validateAll(form, state.role, language);
    if (bad) {
      setNotice("fix_fields", {}, "bad");
      form.querySelector(`[name="${bad}"]`)?.focus();
      return;
    }
  }
  if (!state.ready) { setNotice("need_photos", { kept: state.kept, needed: state.needed || "?" }, "bad"); return; }
  const decisions = collectDecisions();
  if (!decisions) return;
  try {
    const identity = joinsExisting ? null : identityBody(form, state.role, language);
    const body = { identity, decisions, keep_typed: joinsExisting ? keptTyped() : null };
    if (supervisorToken) body.supervisor_token = supervisorToken;
    const result = await api("POST", `/v1/captures/${state.sessionId}/commit`, { body });
    showSaved(result);
  } catch (error) {
    if (error.code === "possible_duplicate") await showConflict(error);
    else if (error.code === "supervisor_required" && !supervisorToken) {
      state.notice = { server: error.payload.message, kind: "bad" };
      renderNotice();
      supervisor.open();
    } else showError(error);
  }
}

function showSaved(result) {
  state.sessionId = null; // committed: nothing to abandon
  state.importRow = null;
  $("#saved-id").textContent = result.identity_id;
  $("#saved-text").dataset.i18n = result.created ? "saved_new" : "saved_existing";
  const national = $("#saved-national");
  national.hidden = result.national_search?.status !== "unavailable";
  if (!national.hidden) national.textContent = t("national_unavailable", { reason: result.national_search.reason || "?" });
  state.auto = false;
  showView("done");
  fingers.show(result.identity_id);
}

// ---------------------------------------------------------------- starting over

// Give up the open capture session, so its photos do not linger on the server.
async function abandonSession() {
  const id = state.sessionId;
  const fromImport = state.importRow;
  state.sessionId = null;
  state.importRow = null;
  if (!id || !state.token || fromImport) return; // an import row's photos stay for later
  try { await api("DELETE", `/v1/captures/${id}`); } catch { /* already closed or gone */ }
}

function resetCaptures() {
  state.auto = false;
  abandonSession();
  Object.assign(state, { kept: 0, needed: 0, ready: false, feedback: null, notice: null });
  if (state.captureUrl) URL.revokeObjectURL(state.captureUrl);
  state.photoUrls.forEach((url) => URL.revokeObjectURL(url));
  Object.assign(state, { captureUrl: null, candidates: [], decisions: {}, photoUrls: [], nationalSearch: null });
  showFeedbackText(null);
  renderCounter();
  renderNotice();
  renderCandidates();
  renderNationalNotice();
}

function resetEnrolment() {
  resetCaptures();
  picker.clear();
  state.role = null;
  clearForm(form);
  form.hidden = true;
  $("#camera-card").hidden = true;
  $("#save-card").hidden = true;
  $$(".role").forEach((b) => b.setAttribute("aria-pressed", "false"));
}

function nextPerson() {
  fingers.hide();
  resetEnrolment();
  clearError();
  showView("enrol");
  loadFlaggedImports();
}

// ---------------------------------------------------------------- flagged import rows

async function loadFlaggedImports() {
  try {
    state.flagged = (await api("GET", "/v1/imports/flagged")).rows;
  } catch {
    state.flagged = []; // an account that may not enrol sees none
  }
  renderFlaggedImports(state.flagged, language, openImportRow);
}

// Open a flagged row as if it had just been captured here: its data in the form, its photos'
// session, then the look-alikes to decide on.
async function openImportRow(row) {
  clearError();
  resetEnrolment();
  chooseRole(row.role);
  fillForm(form, row.draft);
  revalidateTouched(form, row.role, language);
  Object.assign(state, { sessionId: row.session_id, importRow: row.row_id,
    kept: row.captures, needed: row.captures, ready: true });
  renderCounter();
  setNotice("import_opened", { row: row.row_id }, "info");
  await checkDuplicates();
  $("#save-card").scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- wiring

function init() {
  $("#lang-toggle").addEventListener("click", () => { language.toggle(); applyLanguage(); });
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $$(".role").forEach((b) => b.addEventListener("click", () => chooseRole(b.dataset.role)));
  form.addEventListener("input", onFieldInput);
  form.addEventListener("change", onFieldInput);
  $("#capture").addEventListener("click", captureOnce);
  $("#auto").addEventListener("click", toggleAuto);
  $("#check").addEventListener("click", checkDuplicates);
  $("#commit").addEventListener("click", () => commit());
  $("#restart").addEventListener("click", () => { clearError(); resetCaptures(); });
  $("#next").addEventListener("click", nextPerson);
  showView(state.token ? "enrol" : "login");
  if (state.token) loadFlaggedImports();
}

const picker = new InmatePicker(form, {
  api, language, onPicked: () => validateField(form, "visit_inmate", state.role, language),
});
const supervisor = new SupervisorSignOff($("#supervisor-dialog"), { language, commit: (token) => commit(token) });

init(); // a module runs once the document is parsed
