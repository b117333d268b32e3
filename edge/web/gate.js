// The gate kiosk: a terminal at one gate, signed in with its device key, that checks faces for
// visitor entry, visitor exit and staff in/out and shows each decision so nobody can misread it.
// Plain browser JavaScript: no build step and nothing fetched from outside the site service.
"use strict";

// Every word the page shows, Indonesian first. Decision reasons arrive from the server in both.
const STRINGS = {
  id: {
    title: "Kios Gerbang",
    other_language: "English",
    setup: "Pengaturan",
    setup_title: "Pengaturan terminal",
    gate_id: "ID gerbang",
    device_key: "Kunci perangkat",
    save: "Simpan",
    gate_label: "Gerbang: {gate}",
    mode_entry: "Kunjungan masuk",
    mode_entry_other: "Visitor entry",
    mode_exit: "Kunjungan keluar",
    mode_exit_other: "Visitor exit",
    mode_staff: "Petugas masuk/keluar",
    mode_staff_other: "Staff in/out",
    nik: "NIK pengunjung (16 angka, dari KTP)",
    inmate: "Warga binaan yang dikunjungi (nomor registrasi, boleh kosong)",
    direction_in: "Masuk",
    direction_out: "Keluar",
    check: "Periksa",
    auto_start: "Otomatis",
    auto_stop: "Berhenti otomatis",
    inside_title: "Pengunjung di dalam",
    inside_empty: "Tidak ada pengunjung di dalam.",
    inside_visiting: "mengunjungi {inmate}",
    inside_since: "masuk {time}",
    choose_mode: "Pilih jenis perlintasan di atas.",
    camera_starting: "Kamera sedang dinyalakan…",
    camera_unavailable: "Kamera tidak dapat dipakai. Periksa kabel kamera dan izin kamera di peramban.",
    camera_not_ready: "Kamera belum siap. Tunggu sebentar lalu coba lagi.",
    checking: "Memeriksa…",
    waiting_face: "Menunggu wajah di depan kamera…",
    type_nik: "Ketik NIK pengunjung untuk mulai.",
    next_person: "Silakan lewat. Menunggu orang berikutnya…",
    dismiss: "Lanjut",
    nik_length: "NIK harus 16 angka (sekarang {n}).",
    nik_ok: "✓",
    inmate_not_found: "Warga binaan dengan nomor registrasi itu tidak ditemukan.",
    word_admit: "DITERIMA",
    word_deny: "DITOLAK",
    word_alarm: "ALARM",
    role_inmate: "Warga binaan",
    role_staff: "Petugas",
    role_visitor: "Pengunjung",
    ...STATUS_WORDS.id,
    unknown_person: "Orang tidak dikenal",
    alarm_open: "Alarm di gerbang ini belum dihentikan. Tahan orang ini dan panggil atasan.",
    override: "Izinkan (atasan)",
    clear_alarm: "Atasan: hentikan alarm",
    override_title: "Atasan mengizinkan perlintasan ini",
    clear_title: "Atasan menghentikan alarm",
    username: "Nama pengguna atasan",
    password: "Kata sandi",
    reason: "Alasan (wajib)",
    confirm: "Konfirmasi",
    cancel: "Batal",
    credentials_needed: "Isi nama pengguna dan kata sandi atasan.",
    reason_needed: "Tulis alasannya (minimal 3 huruf).",
    login_failed: "Nama pengguna atau kata sandi salah.",
    not_supervisor: "Akun ini bukan atasan. Hanya atasan yang boleh melakukan ini.",
    alarm_cleared: "Alarm dihentikan oleh {name}.",
    device_key_wrong: "Kunci perangkat tidak dikenal atau sudah dicabut. Minta kunci baru ke admin.",
    gate_unknown: "Gerbang \"{gate}\" tidak dikenal. Periksa ID gerbang.",
    network: "Tidak dapat menghubungi server. Periksa jaringan.",
    server_error: "Server mengalami masalah ({status}). Coba lagi atau hubungi admin.",
  },
  en: {
    title: "Gate kiosk",
    other_language: "Bahasa Indonesia",
    setup: "Setup",
    setup_title: "Terminal setup",
    gate_id: "Gate ID",
    device_key: "Device key",
    save: "Save",
    gate_label: "Gate: {gate}",
    mode_entry: "Visitor entry",
    mode_entry_other: "Kunjungan masuk",
    mode_exit: "Visitor exit",
    mode_exit_other: "Kunjungan keluar",
    mode_staff: "Staff in/out",
    mode_staff_other: "Petugas masuk/keluar",
    nik: "Visitor's NIK (16 digits, from the ID card)",
    inmate: "Inmate visited (registration number, may be empty)",
    direction_in: "In",
    direction_out: "Out",
    check: "Check",
    auto_start: "Automatic",
    auto_stop: "Stop automatic",
    inside_title: "Visitors inside now",
    inside_empty: "No visitors inside.",
    inside_visiting: "visiting {inmate}",
    inside_since: "in since {time}",
    choose_mode: "Choose the kind of passage above.",
    camera_starting: "Starting the camera…",
    camera_unavailable: "The camera cannot be used. Check the camera cable and the browser's camera permission.",
    camera_not_ready: "The camera is not ready yet. Wait a moment and try again.",
    checking: "Checking…",
    waiting_face: "Waiting for a face in front of the camera…",
    type_nik: "Type the visitor's NIK to start.",
    next_person: "Go ahead. Waiting for the next person…",
    dismiss: "Next",
    nik_length: "The NIK must be 16 digits (now {n}).",
    nik_ok: "✓",
    inmate_not_found: "No inmate has that registration number.",
    word_admit: "ADMIT",
    word_deny: "DENY",
    word_alarm: "ALARM",
    role_inmate: "Inmate",
    role_staff: "Staff",
    role_visitor: "Visitor",
    ...STATUS_WORDS.en,
    unknown_person: "Unknown person",
    alarm_open: "An alarm at this gate has not been cleared. Hold this person and call a supervisor.",
    override: "Admit (supervisor)",
    clear_alarm: "Supervisor: clear the alarm",
    override_title: "A supervisor admits this passage",
    clear_title: "A supervisor clears the alarm",
    username: "Supervisor's username",
    password: "Password",
    reason: "Reason (required)",
    confirm: "Confirm",
    cancel: "Cancel",
    credentials_needed: "Enter the supervisor's username and password.",
    reason_needed: "Write the reason (at least 3 letters).",
    login_failed: "Wrong username or password.",
    not_supervisor: "This account is not a supervisor's. Only a supervisor may do this.",
    alarm_cleared: "Alarm cleared by {name}.",
    device_key_wrong: "The device key is unknown or revoked. Ask the administrator for a new one.",
    gate_unknown: "Gate \"{gate}\" is unknown. Check the gate ID.",
    network: "Cannot reach the server. Check the network.",
    server_error: "The server had a problem ({status}). Try again or call the administrator.",
  },
};

const AUTO_INTERVAL_MS = 1500; // one frame per 1.5 s keeps a 2-core gate PC responsive
const RESULT_HOLD_MS = 4000; // how long a decision stays up before the next person
const POLL_MS = 3000; // visitors inside and open alarms
const CAMERA_WAIT_MS = 3000; // a camera just switched on takes a moment to give frames
const BEEP_EVERY_MS = 900;
const SUPERVISOR_ROLES = ["supervisor", "site_admin"];
const MIN_REASON = 3; // the API's ReasonBody minimum
const NIK_SEPARATORS = /[\s.\-\u2010-\u2015\u2212]+/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SYMBOLS = { admit: "✓", deny: "✕", alarm: "⚠" };
const PATHS = { entry: "visitor-entry", exit: "visitor-exit", staff: "staff" };

const state = {
  // The kiosk's own settings live in localStorage: they belong to this terminal, not a shift.
  lang: localStorage.getItem("gerbang.kiosk.lang") || "id",
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
  error: null, // {key, vars} or {server} (the API's error body)
  inside: [],
  // Counts alarm changes on this page, so a poll answered before one of them is ignored: it
  // would otherwise hide an alarm that just arrived, or revive one just cleared.
  alarmSerial: 0,
  dialog: null, // {action: "override" | "clear", eventId}
  stream: null,
  audio: null,
  beepTimer: null,
  pollTimer: null,
};

// ---------------------------------------------------------------- language

function applyLanguage() {
  translatePage();
  $("#gate-label").textContent = state.gate ? t("gate_label", { gate: state.gate }) : "";
  $("#auto").textContent = t(state.auto ? "auto_stop" : "auto_start");
  if (formNik()) checkNikField();
  renderStatus();
  renderError();
  renderInside();
  renderResult();
  renderDialog();
}

// ---------------------------------------------------------------- talking to the service

// The kiosk calls as its device; a supervisor's one action passes their bearer token instead.
async function api(method, path, { body, token } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : { "X-Device-Key": state.key };
  return request(method, path, body, headers);
}

// Photos need the device key too, so they are fetched and shown as blob: URLs.
async function photoUrl(path) {
  try {
    const response = await fetch(path, { headers: { "X-Device-Key": state.key } });
    return response.ok ? URL.createObjectURL(await response.blob()) : null;
  } catch {
    return null;
  }
}

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
  if (state.error) box.textContent = state.error.server ? messageText(state.error.server.message) : t(state.error.key, state.error.vars);
}

function setStatus(key, kind = "", vars = {}) { state.status = key ? { key, vars, kind } : null; renderStatus(); }

function renderStatus() {
  const box = $("#status");
  const status = state.status;
  box.className = `status ${status?.kind || ""}`;
  box.textContent = !status ? "" : status.message ? messageText(status.message) : t(status.key, status.vars);
}

// ---------------------------------------------------------------- setup

// A kiosk can be set up from its address (?gate=main&key=… or #gate=main&key=…); the key is
// then stored and wiped from the address bar so it is neither shown nor bookmarked.
function readSetupFromAddress() {
  const params = new URLSearchParams(location.hash.slice(1) || location.search);
  const gate = params.get("gate");
  const key = params.get("key");
  if (gate && key) storeSetup(gate.trim(), key.trim());
  if (params.has("key")) history.replaceState(null, "", location.pathname);
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
    if (error.status === 401) showError("device_key_wrong");
    else if (error.code === "gate_not_found") state.error = { key: "gate_unknown", vars: { gate: state.gate } };
    else showError(error);
    renderError();
    return;
  }
  $("#setup-view").hidden = true;
  $("#kiosk-view").hidden = false;
  $("#setup-open").hidden = false;
  applyLanguage();
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

// ---------------------------------------------------------------- modes and fields

function chooseMode(mode) {
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

// The inmate visited, typed as a registration number (or an identity id), as an identity id.
async function inmateId() {
  const text = $('#entry-form [name="inmate"]').value.trim();
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
    const inmate = await inmateId();
    if (inmate) form.append("inmate_id", inmate);
  }
  if (state.mode === "staff") form.append("direction", direction());
  return form;
}

function clearEntryFields() {
  $("#entry-form").reset();
  checkNikField();
}

// ---------------------------------------------------------------- camera

async function startCamera() {
  if (state.stream) return;
  if (!navigator.mediaDevices?.getUserMedia) { setStatus("camera_unavailable", "bad"); return; }
  setStatus("camera_starting");
  try {
    state.stream = await openCamera();
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
  const deadline = performance.now() + CAMERA_WAIT_MS;
  while (!video.videoWidth && performance.now() < deadline) await sleep(100);
  if (!video.videoWidth) return null;
  return videoFrame(video);
}

// ---------------------------------------------------------------- deciding

// Send one frame as this mode's passage and show the decision.
async function decide(blob) {
  const form = await passageForm(blob);
  if (!form) return null;
  setStatus("checking");
  const path = `/v1/gates/${encodeURIComponent(state.gate)}/${PATHS[state.mode]}`;
  const decision = await api("POST", path, { body: form });
  setStatus(null);
  await showDecision(decision);
  if (decision.result === "admit" && state.mode === "entry") clearEntryFields();
  refreshInside();
  return decision;
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

function readyForFrame() { return state.auto && state.mode && !state.busy && !state.decision && !state.dialog; }

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
  if (decision.result === "alarm") startBeeping();
  // An admit must not stay green for whoever comes next; in automatic mode the loop moves on.
  // A denial in manual mode stays until the officer's next action, so a supervisor can override.
  else if (decision.result === "admit" || state.auto) state.holdTimer = setTimeout(holdEnded, RESULT_HOLD_MS);
}

function holdEnded() {
  if (state.dialog) state.holdTimer = setTimeout(holdEnded, RESULT_HOLD_MS); // a supervisor is busy with it
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
  stopBeeping();
  state.decision = null;
  hideResult();
}

function renderResult() {
  const box = $("#result");
  const decision = state.decision;
  box.hidden = !decision;
  if (!decision) return;
  const result = decision.result;
  box.className = `result ${result}`;
  box.dataset.result = result;
  $("#result-symbol").textContent = SYMBOLS[result] || "";
  $("#result-word").textContent = t(`word_${result}`);
  // The other language's word too, for a visitor or officer who reads the other one.
  const other = STRINGS[state.lang === "id" ? "en" : "id"][`word_${result}`];
  $("#result-word-other").textContent = other === t(`word_${result}`) ? "" : other;
  renderPerson(decision.person);
  $("#result-message").textContent = decision.message ? messageText(decision.message) : t("alarm_open");
  // A ban is lifted by the site changing the person's status, never by an override at the gate
  // (the server refuses it too).
  const banned = ["visitor_banned", "watchlist_match"].includes(decision.reason);
  $("#override").hidden = result !== "deny" || !decision.event_id || banned;
  $("#dismiss").hidden = result === "alarm";
  $("#clear-alarm").hidden = result !== "alarm";
}

function renderPerson(person) {
  const photo = $("#result-photo");
  photo.hidden = !state.photo;
  if (state.photo) { photo.src = state.photo; photo.alt = person?.full_name || ""; }
  $("#result-name").textContent = person ? person.full_name : t("unknown_person");
  const words = person ? [t(`role_${person.role}`)] : [];
  if (person && person.status !== "active") words.push(t(`status_${person.status}`));
  $("#result-role").textContent = words.join(" · ");
}

// ---------------------------------------------------------------- the alarm sound

// Browsers only let a page make sound after a click or key press: any press unlocks it.
function unlockAudio() {
  try {
    state.audio ??= new AudioContext();
    if (state.audio.state === "suspended") state.audio.resume();
  } catch { /* no sound on this machine: the screen still flashes */ }
}

function beep() {
  const audio = state.audio;
  if (!audio || audio.state !== "running") return;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.type = "square";
  tone.frequency.value = 880;
  volume.gain.value = 0.25;
  tone.connect(volume).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.4);
}

function startBeeping() {
  if (state.beepTimer) return;
  beep();
  state.beepTimer = setInterval(beep, BEEP_EVERY_MS);
}

function stopBeeping() {
  clearInterval(state.beepTimer);
  state.beepTimer = null;
}

// ---------------------------------------------------------------- supervisor actions

function openSupervisor(action) {
  if (!state.decision) return;
  state.dialog = { action, eventId: state.decision.event_id };
  const form = $("#supervisor-form");
  form.reset();
  $("#supervisor-error").hidden = true;
  renderDialog();
  form.username.focus();
}

function closeSupervisor() {
  state.dialog = null;
  $("#supervisor-form").reset();
  renderDialog();
}

function renderDialog() {
  $("#supervisor").hidden = !state.dialog;
  if (state.dialog) $("#supervisor-title").textContent = t(state.dialog.action === "override" ? "override_title" : "clear_title");
}

function dialogError(key, message) {
  const box = $("#supervisor-error");
  box.hidden = false;
  box.textContent = message ? messageText(message) : t(key);
}

// Sign the supervisor in for this one action, do it, and sign them out again: the kiosk never
// keeps a supervisor's session.
async function submitSupervisor(event) {
  event.preventDefault();
  const form = event.target;
  const username = form.username.value.trim();
  const password = form.password.value;
  const reason = form.reason.value.trim();
  if (!username || !password) { dialogError("credentials_needed"); return; }
  if (reason.length < MIN_REASON) { dialogError("reason_needed"); form.reason.focus(); return; }
  let login;
  try {
    login = await api("POST", "/v1/auth/login", { body: { username, password } });
  } catch (error) {
    dialogError(error.status === 401 ? "login_failed" : "", error.status === 401 ? null : errorMessage(error));
    return;
  }
  try {
    if (!SUPERVISOR_ROLES.includes(login.role)) { dialogError("not_supervisor"); return; }
    await supervisorAction(state.dialog, reason, login);
  } catch (error) {
    dialogError(error.status === 403 ? "not_supervisor" : "", error.status === 403 ? null : errorMessage(error));
  } finally {
    api("POST", "/v1/auth/logout", { token: login.token }).catch(() => {});
  }
}

function errorMessage(error) {
  if (error?.payload?.message) return error.payload.message;
  const key = error?.status === 0 ? "network" : "server_error";
  return { [state.lang]: t(key, { status: error?.status }) };
}

async function supervisorAction(dialog, reason, login) {
  const path = `/v1/gate-events/${dialog.eventId}/${dialog.action === "override" ? "override" : "clear-alarm"}`;
  const answer = await api("POST", path, { body: { reason }, token: login.token });
  closeSupervisor();
  if (dialog.action === "override") {
    await showDecision(answer);
    refreshInside();
  } else {
    clearAlarmShown();
    setStatus("alarm_cleared", "", { name: login.full_name || login.name });
  }
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
  $("#inside-list").replaceChildren(...state.inside.map(insideItem));
}

function insideItem(visit) {
  const item = document.createElement("li");
  item.dataset.testid = "inside-item";
  const name = document.createElement("span");
  name.className = "visitor";
  name.textContent = visit.visitor_name;
  const detail = document.createElement("small");
  const parts = [t("inside_since", { time: clockTime(visit.entry_at) })];
  if (visit.inmate_name) parts.unshift(t("inside_visiting", { inmate: visit.inmate_name }));
  detail.textContent = parts.join(" · ");
  item.append(name, detail);
  return item;
}

function clockTime(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso || "";
  return at.toLocaleTimeString(state.lang === "id" ? "id-ID" : "en-GB", { hour: "2-digit", minute: "2-digit" });
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
  $("#lang-toggle").addEventListener("click", () => toggleLanguage(localStorage, "gerbang.kiosk.lang"));
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
  $("#supervisor-form").addEventListener("submit", submitSupervisor);
  $("#supervisor-cancel").addEventListener("click", closeSupervisor);
  document.addEventListener("pointerdown", unlockAudio);
  document.addEventListener("keydown", unlockAudio);
  readSetupFromAddress();
  applyLanguage();
  if (state.gate && state.key) startKiosk();
  else showSetup();
}

document.addEventListener("DOMContentLoaded", init);
