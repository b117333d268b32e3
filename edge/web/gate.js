// The gate kiosk: a terminal at one gate, signed in with its device key, that checks faces for
// visitor entry, visitor exit, staff in/out and escorted inmate movements (court, transfer,
// release), and shows each decision so nobody can misread it.
// A native ES module: no build step and nothing fetched from outside the site service.

import { ApiError, apiClient, blobUrl, errorState, errorText } from "/web/shared/api.js";
import { cameraAvailable, openCamera, videoFrame, videoReady } from "/web/shared/camera.js";
import { $, $$, sleep } from "/web/shared/dom.js";
import { Language } from "/web/shared/i18n.js";
import { AlarmSound } from "./alarm-sound.js";
import { KioskFinger } from "./gate-finger.js";
import { KioskOfficer } from "./gate-officer.js";
import { STRINGS } from "./gate-strings.js";
import { SupervisorDialog } from "./gate-supervisor.js";
import { insideItem, renderDecision } from "./gate-views.js";
import { addressWithoutKey, setupFromAddress } from "./kiosk-address.js";

const AUTO_INTERVAL_MS = 1500; // one frame per 1.5 s keeps a 2-core gate PC responsive
const RESULT_HOLD_MS = 4000; // how long a decision stays up before the next person
const POLL_MS = 3000; // visitors inside and open alarms
const CAMERA_WAIT_MS = 3000; // a camera just switched on takes a moment to give frames
const BEEP_EVERY_MS = 900;
const NIK_SEPARATORS = /[\s.\-\u2010-\u2015\u2212]+/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PATHS = { entry: "visitor-entry", exit: "visitor-exit", staff: "staff", movement: "inmate-movement" };

// The kiosk's own settings live in localStorage: they belong to this terminal, not a shift.
const language = new Language(STRINGS, localStorage, "gerbang.kiosk.lang");
const t = (key, vars) => language.t(key, vars);
const sound = new AlarmSound(BEEP_EVERY_MS);

const state = {
  gate: localStorage.getItem("gerbang.kiosk.gate") || "",
  key: localStorage.getItem("gerbang.kiosk.key") || "",
  mode: null,
  auto: false,
  busy: false,
  decision: null, // the decision on show (an API decision body)
  photo: null, // blob: URL of its photo of record
  holdTimer: null,
  rearm: false, // after an admit, automatic mode waits for the face to leave first
  status: null, // {key, vars, kind} or {message, kind}
  error: null, // an errorState
  inside: [],
  // Counts alarm changes on this page, so a poll answered before one of them is ignored: it
  // would otherwise hide an alarm that just arrived, or revive one just cleared.
  alarmSerial: 0,
  stream: null,
  pollTimer: null,
};

// ---------------------------------------------------------------- language

function applyLanguage() {
  language.translatePage(document, $("#lang-toggle"));
  $("#gate-label").textContent = state.gate ? t("gate_label", { gate: state.gate }) : "";
  $("#auto").textContent = t(state.auto ? "auto_stop" : "auto_start");
  if (formNik()) checkNikField();
  renderStatus();
  renderError();
  renderInside();
  renderResult();
  supervisor.render();
  finger.render();
  officer.render();
}

// ---------------------------------------------------------------- talking to the service

// The kiosk calls as its device; a supervisor's one action passes their bearer token instead.
const api = apiClient(() => ({ "X-Device-Key": state.key }));
const asSupervisor = (token) => ({ Authorization: `Bearer ${token}` });

// Photos need the device key too, so they are fetched and shown as blob: URLs.
const photoUrl = (path) => blobUrl(path, { "X-Device-Key": state.key });

// The finger pressed before "Check" (gate-finger.js) and the officer a movement needs (gate-officer.js).
const finger = new KioskFinger($("#finger-panel"), { api, language });
const officer = new KioskOfficer($("#officer-panel"), {
  api,
  language,
  onSignedIn: () => { if (state.status?.key === "movement_needs_officer") setStatus(null); },
});

// ---------------------------------------------------------------- messages

function showError(error) {
  if (error instanceof ApiError && error.status === 401) {
    deviceRefused();
    return;
  }
  state.error = errorState(error);
  renderError();
}

function clearError() { state.error = null; renderError(); }

function renderError() {
  const box = $("#error");
  box.hidden = !state.error;
  if (state.error) box.textContent = errorText(state.error, language);
}

function setStatus(key, kind = "", vars = {}) { state.status = key ? { key, vars, kind } : null; renderStatus(); }

function renderStatus() {
  const box = $("#status");
  const status = state.status;
  box.className = `status ${status?.kind || ""}`;
  box.textContent = !status ? "" : status.message ? language.message(status.message) : t(status.key, status.vars);
}

// ---------------------------------------------------------------- setup

// A kiosk is set up from its address (/gate?gate=main#key=…, see kiosk-address.js); the key is
// then stored and wiped from the address bar so it is neither shown nor bookmarked. A key put in
// the query is not used: it has already gone to the server's logs, and the kiosk says so.
function readSetupFromAddress() {
  const found = setupFromAddress(location.search, location.hash);
  if (found.gate && found.key) storeSetup(found.gate, found.key);
  else if (found.gate && !state.key) state.gate = found.gate; // offered in the setup form
  if (found.key || found.keyInQuery) {
    history.replaceState(null, "", addressWithoutKey(location.pathname, location.search));
  }
  return found;
}

function storeSetup(gate, key) {
  Object.assign(state, { gate, key });
  localStorage.setItem("gerbang.kiosk.gate", gate);
  localStorage.setItem("gerbang.kiosk.key", key);
}

function showSetup() {
  stopAuto();
  $("#setup-view").hidden = false;
  $("#kiosk-view").hidden = true;
  $("#setup-open").hidden = true;
  const form = $("#setup-form");
  form.gate.value = state.gate;
  form.key.value = "";
}

async function saveSetup(event) {
  event.preventDefault();
  clearError();
  const form = event.target;
  storeSetup(form.gate.value.trim(), form.key.value.trim());
  await startKiosk();
}

// Check the gate and the key with one cheap call before showing the kiosk.
async function startKiosk() {
  try {
    await api("GET", `/v1/gates/${encodeURIComponent(state.gate)}/events?after=0&limit=1`);
  } catch (error) {
    showSetup();
    if (error.status === 401) state.error = { key: "device_key_wrong" };
    else if (error.code === "gate_not_found") state.error = { key: "gate_unknown", vars: { gate: state.gate } };
    else state.error = errorState(error);
    renderError();
    return;
  }
  $("#setup-view").hidden = true;
  $("#kiosk-view").hidden = false;
  $("#setup-open").hidden = false;
  applyLanguage();
  finger.load();
  const mode = state.mode || localStorage.getItem("gerbang.kiosk.mode");
  if (PATHS[mode]) chooseMode(mode);
  else setStatus("choose_mode");
  startPolling();
}

// The key stopped working (revoked, or the database was replaced): back to setup.
function deviceRefused() {
  stopPolling();
  showSetup();
  state.error = { key: "device_key_wrong" };
  renderError();
}

// Read the address, then run the kiosk or ask for its setup.
function setUp() {
  const found = readSetupFromAddress();
  applyLanguage();
  if (found.keyInQuery && !found.key) {
    showSetup();
    state.error = { key: "key_in_query", vars: { gate: found.gate || state.gate || "main" } };
    renderError();
  } else if (state.gate && state.key) {
    clearError();
    startKiosk();
  } else {
    showSetup();
  }
}

// ---------------------------------------------------------------- modes and fields

function chooseMode(mode) {
  if (state.mode === "movement" && mode !== "movement") officer.signOut(); // no session left behind
  if (state.mode !== mode) finger.reset();
  state.mode = mode;
  localStorage.setItem("gerbang.kiosk.mode", mode); // a kiosk usually serves one passage all day
  state.rearm = false;
  $$(".mode").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
  $$("[data-modes]").forEach((el) => { el.hidden = !el.dataset.modes.split(" ").includes(mode); });
  $("#camera").hidden = false;
  $("#check-buttons").hidden = false;
  if (!isAlarm()) hideResult();
  setStatus(null);
  startCamera();
  if (mode === "entry") $('#entry-form [name="nik"]').focus();
  if (mode === "movement") { stopAuto(); $('#movement-form [name="inmate"]').focus(); }
}

function formNik() { return $('#entry-form [name="nik"]').value.replace(NIK_SEPARATORS, ""); }

// Light help while typing; the server stays the judge of the NIK.
function checkNikField() {
  const nik = formNik();
  const good = /^\d{16}$/.test(nik);
  const hint = $("#hint-nik");
  hint.textContent = !nik ? "" : good ? t("nik_ok") : t("nik_length", { n: nik.length });
  hint.className = `hint ${!nik ? "" : good ? "good" : "bad"}`;
  $('#entry-form [name="nik"]').setAttribute("aria-invalid", String(Boolean(nik) && !good));
  return good;
}

function direction() { return $('#staff-form input[name="direction"]:checked').value; }

// An inmate typed as a registration number (or an identity id), as an identity id.
async function inmateId(field) {
  const text = field.value.trim();
  if (!text || UUID.test(text)) return text || null;
  const query = new URLSearchParams({ role: "inmate", registration_number: text, limit: "1" });
  const found = await api("GET", `/v1/identities?${query}`);
  if (!found.length) throw "inmate_not_found";
  return found[0].id;
}

// The form for this mode's passage, or null (with a hint) when something is missing.
async function passageForm(blob) {
  const form = new FormData();
  form.append("image", blob, "frame.jpg");
  if (state.mode === "entry") {
    if (!checkNikField()) { $('#entry-form [name="nik"]').focus(); return null; }
    form.append("nik", formNik());
    const inmate = await inmateId($('#entry-form [name="inmate"]'));
    if (inmate) form.append("inmate_id", inmate);
  }
  if (state.mode === "staff") form.append("direction", direction());
  finger.attach(form);
  if (state.mode === "movement") return movementForm(form);
  return form;
}

// An escorted movement names the inmate and the order that allows it; the gate verifies 1:1.
async function movementForm(form) {
  const fields = $("#movement-form");
  const order = fields.elements.order.value.trim();
  if (!fields.elements.inmate.value.trim()) { setStatus("movement_needs_inmate", "bad"); fields.elements.inmate.focus(); return null; }
  if (!order) { setStatus("movement_needs_order", "bad"); fields.elements.order.focus(); return null; }
  if (!officer.headers()) { setStatus("movement_needs_officer", "bad"); officer.say({ key: "officer_needed" }); return null; }
  form.append("inmate_id", await inmateId(fields.elements.inmate));
  form.append("passage", fields.elements.passage.value);
  form.append("order_reference", order);
  return form;
}

function clearEntryFields() {
  $("#entry-form").reset();
  checkNikField();
}

// ---------------------------------------------------------------- camera

async function startCamera() {
  if (state.stream) return;
  if (!cameraAvailable(navigator.mediaDevices)) { setStatus("camera_unavailable", "bad"); return; }
  setStatus("camera_starting");
  try {
    state.stream = await openCamera(navigator.mediaDevices);
    const video = $("#preview");
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    if (state.status?.key === "camera_starting") setStatus(null);
  } catch (error) {
    console.error(error);
    setStatus("camera_unavailable", "bad");
  }
}

// A frame from the camera as JPEG, or null. Waits a moment for a camera still starting, so a
// "Check" pressed right after choosing the mode does not fail.
async function grabFrame() {
  const video = $("#preview");
  if (!(await videoReady(video, CAMERA_WAIT_MS))) return null;
  return videoFrame(video, $("#grab"));
}

// ---------------------------------------------------------------- deciding

// Send one frame as this mode's passage and show the decision.
async function decide(blob) {
  const form = await passageForm(blob);
  if (!form) return null;
  setStatus("checking");
  const path = `/v1/gates/${encodeURIComponent(state.gate)}/${PATHS[state.mode]}`;
  const decision = await sendPassage(path, form);
  if (!decision) return null;
  finger.reset(); // the next person presses their own
  setStatus(null);
  await showDecision(decision);
  if (decision.result === "admit" && state.mode === "entry") clearEntryFields();
  if (decision.result === "admit" && state.mode === "movement") $("#movement-form").reset();
  refreshInside();
  return decision;
}

// A movement goes as the signed-in officer (the record names them), everything else as the kiosk.
// An officer's token the service no longer takes signs them out here, not the kiosk's key.
async function sendPassage(path, form) {
  if (state.mode !== "movement") return api("POST", path, { body: form });
  try {
    return await api("POST", path, { body: form, headers: officer.headers() });
  } catch (error) {
    if (error.status !== 401) throw error;
    officer.expired();
    setStatus("movement_needs_officer", "bad");
    return null;
  }
}

// The officer's "Check" button: one frame, sent whatever the camera sees.
async function checkOnce() {
  if (state.busy || isAlarm() || !state.mode) return;
  clearError();
  hideResult();
  state.busy = true;
  try {
    const blob = await grabFrame();
    if (!blob) setStatus("camera_not_ready", "bad");
    else await decide(blob);
  } catch (error) {
    setStatus(null);
    showError(error);
  } finally {
    state.busy = false;
  }
}

function readyForFrame() { return state.auto && state.mode && !state.busy && !state.decision && !supervisor.open; }

// Automatic mode: a frame every 1.5 s; a decision pauses it while it is on show.
async function autoLoop() {
  while (state.auto) {
    const started = performance.now();
    if (readyForFrame()) {
      state.busy = true;
      try {
        await autoStep();
      } catch (error) {
        setStatus(null);
        showError(error);
      } finally {
        state.busy = false;
      }
    }
    await sleep(Math.max(0, AUTO_INTERVAL_MS - (performance.now() - started)));
  }
}

async function autoStep() {
  if (state.mode === "entry" && !/^\d{16}$/.test(formNik())) { setStatus("type_nik", "waiting"); return; }
  const blob = await grabFrame();
  if (!blob) { setStatus("camera_not_ready", "bad"); return; }
  const face = await faceInFrame(blob);
  if (face === "none") state.rearm = false; // the person just admitted has gone
  if (face !== "one" && face !== "several") return;
  if (state.rearm) { setStatus("next_person", "waiting"); return; }
  clearError();
  const decision = await decide(blob);
  state.rearm = decision?.result === "admit";
}

// "one" usable face in the frame, "several", "none", or "unusable" (too small...). Only with
// people there does automatic mode ask the gate: every gate call is a logged decision, and an
// empty frame with a NIK typed would count as a failed attempt against that visitor (five of
// them start a cool-down), so an empty gate must not produce any. Several people do go to the
// gate: it searches every face for inmates and answers "one person at a time" itself.
async function faceInFrame(blob) {
  const form = new FormData();
  form.append("image", blob, "frame.jpg");
  try {
    await api("POST", "/v1/faces/analyse", { body: form });
    return "one";
  } catch (error) {
    if (!(error instanceof ApiError) || error.status < 400 || error.status >= 500 || error.status === 401) throw error;
    if (error.code === "face_multiple") return "several";
    const none = error.code === "face_not_found" || !error.payload;
    // Nobody there: wait quietly. Otherwise say what the person should do.
    state.status = none ? { key: "waiting_face", kind: "waiting" } : { message: error.payload.message, kind: "waiting" };
    renderStatus();
    return none ? "none" : "unusable";
  }
}

function toggleAuto() {
  if (state.auto) { stopAuto(); return; }
  if (!state.mode) { setStatus("choose_mode", "bad"); return; }
  // A movement changes an inmate's record and is escorted: an officer decides when to check.
  if (state.mode === "movement") { setStatus("movement_manual_only", "bad"); return; }
  clearError();
  state.auto = true;
  state.rearm = false;
  renderAutoButton();
  autoLoop();
}

function stopAuto() {
  state.auto = false; // the loop ends after its current frame
  renderAutoButton();
  if (state.status?.kind === "waiting") setStatus(null);
}

function renderAutoButton() {
  $("#auto").textContent = t(state.auto ? "auto_stop" : "auto_start");
  $("#auto").setAttribute("aria-pressed", String(state.auto));
}

// ---------------------------------------------------------------- the result

function isAlarm() { return state.decision?.result === "alarm"; }

async function showDecision(decision) {
  clearTimeout(state.holdTimer);
  state.alarmSerial += 1;
  if (state.photo) URL.revokeObjectURL(state.photo);
  state.photo = decision.person?.photo_url ? await photoUrl(decision.person.photo_url) : null;
  state.decision = decision;
  renderResult();
  if (decision.result === "alarm") sound.start();
  // An admit must not stay green for whoever comes next; in automatic mode the loop moves on.
  // A denial in manual mode stays until the officer's next action, so a supervisor can override.
  else if (decision.result === "admit" || state.auto) state.holdTimer = setTimeout(holdEnded, RESULT_HOLD_MS);
}

function holdEnded() {
  if (supervisor.open) state.holdTimer = setTimeout(holdEnded, RESULT_HOLD_MS); // a supervisor is busy with it
  else hideResult();
}

// Hide the decision on show. An alarm only goes when a supervisor clears it (clearAlarmShown).
function hideResult() {
  if (isAlarm()) return;
  clearTimeout(state.holdTimer);
  if (state.photo) URL.revokeObjectURL(state.photo);
  Object.assign(state, { decision: null, photo: null });
  renderResult();
}

function clearAlarmShown() {
  state.alarmSerial += 1;
  sound.stop();
  state.decision = null;
  hideResult();
}

function renderResult() { renderDecision($("#result"), state.decision, state.photo, language); }

// ---------------------------------------------------------------- supervisor actions

const supervisor = new SupervisorDialog($("#supervisor"), {
  api,
  language,
  onDone: async (action, answer, login) => {
    if (action === "override") {
      await showDecision(answer);
      refreshInside();
    } else {
      clearAlarmShown();
      setStatus("alarm_cleared", "", { name: login.full_name || login.name });
    }
  },
});

function openSupervisor(action) {
  if (state.decision) supervisor.show(action, state.decision.event_id);
}

// ---------------------------------------------------------------- polling: inside now, alarms

function startPolling() {
  stopPolling();
  poll();
  state.pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() { clearInterval(state.pollTimer); state.pollTimer = null; }

async function poll() {
  try {
    await Promise.all([refreshInside(), refreshAlarms()]);
    if (state.error?.key === "network") clearError();
  } catch (error) {
    showError(error);
  }
}

async function refreshInside() {
  state.inside = await api("GET", "/v1/visits/inside");
  renderInside();
}

function renderInside() {
  $("#inside-count").textContent = String(state.inside.length);
  $("#inside-empty").hidden = state.inside.length > 0;
  $("#inside-list").replaceChildren(...state.inside.map((visit) => insideItem(visit, language)));
}

// An alarm at this gate stays on screen while the server holds it open: reloading the page or
// another kiosk's decision cannot hide it, and clearing it anywhere takes it down here too.
async function refreshAlarms() {
  const serial = state.alarmSerial;
  const open = (await api("GET", "/v1/gate-events/alarms")).filter((a) => a.gate_id === state.gate);
  if (serial !== state.alarmSerial) return;
  if (isAlarm() && !open.some((a) => a.id === state.decision.event_id)) { clearAlarmShown(); return; }
  if (!isAlarm() && open.length) await showStoredAlarm(open[0]);
}

// A stored event has no message or person: fetch who matched; the page says why.
async function showStoredAlarm(event) {
  const id = event.matched_identity_id || event.claimed_identity_id;
  const serial = state.alarmSerial;
  const person = id ? await api("GET", `/v1/identities/${id}`).catch(() => null) : null;
  if (serial !== state.alarmSerial) return; // a live decision arrived meanwhile
  await showDecision({ event_id: event.id, result: "alarm", reason: event.reason, message: null, person });
}

// ---------------------------------------------------------------- wiring

function init() {
  $("#lang-toggle").addEventListener("click", () => { language.toggle(); applyLanguage(); });
  $("#setup-open").addEventListener("click", showSetup);
  $("#setup-form").addEventListener("submit", saveSetup);
  $$(".mode").forEach((b) => b.addEventListener("click", () => chooseMode(b.dataset.mode)));
  $("#entry-form").addEventListener("input", checkNikField);
  $("#entry-form").addEventListener("submit", (event) => { event.preventDefault(); checkOnce(); });
  $("#check").addEventListener("click", checkOnce);
  $("#auto").addEventListener("click", toggleAuto);
  $("#override").addEventListener("click", () => openSupervisor("override"));
  $("#clear-alarm").addEventListener("click", () => openSupervisor("clear"));
  $("#dismiss").addEventListener("click", hideResult);
  $("#supervisor-cancel").addEventListener("click", () => supervisor.close());
  document.addEventListener("pointerdown", () => sound.unlock());
  document.addEventListener("keydown", () => sound.unlock());
  // A setup address pasted into a kiosk already open changes only the fragment: no reload.
  window.addEventListener("hashchange", () => { if (location.hash.length > 1) setUp(); });
  setUp();
}

init(); // a module runs once the document is parsed
