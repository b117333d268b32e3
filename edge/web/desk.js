// The enrolment desk: sign in, choose who is enrolled, type their data (checked as it is typed),
// capture faces with live feedback, look at likely duplicates, save. Plain browser JavaScript:
// no build step and nothing fetched from outside the site service.
"use strict";

// Every word the page shows, Indonesian first. Server messages arrive in both languages.
const STRINGS = {
  id: {
    title: "Meja Pendaftaran",
    other_language: "English",
    sign_out: "Keluar",
    login_title: "Masuk",
    username: "Nama pengguna",
    password: "Kata sandi",
    login_button: "Masuk",
    signed_in_as: "Petugas: {name}",
    login_failed: "Nama pengguna atau kata sandi salah.",
    not_enrolment_role: "Akun ini tidak berwenang mendaftarkan orang. Masuk dengan akun petugas pendaftaran.",
    step_role: "Siapa yang didaftarkan?",
    role_inmate: "Narapidana / Tahanan",
    role_staff: "Pegawai",
    role_visitor: "Pengunjung",
    step_data: "Data diri",
    full_name: "Nama lengkap",
    birth_date: "Tanggal lahir",
    sex: "Jenis kelamin",
    sex_M: "Laki-laki",
    sex_F: "Perempuan",
    registration_number: "Nomor registrasi",
    nip: "NIP (18 angka)",
    nik: "NIK (16 angka, dari KTP)",
    aliases: "Nama lain (pisahkan dengan koma)",
    admission_date: "Tanggal masuk",
    case_reference: "Nomor perkara",
    cell_block: "Blok / kamar",
    phone: "Nomor telepon",
    visit_inmate: "ID narapidana yang dikunjungi (boleh kosong)",
    visit_relationship: "Hubungan dengan narapidana",
    consent: "Pengunjung setuju wajahnya dipakai untuk pemeriksaan di gerbang.",
    consent_purpose: "Pemeriksaan wajah pengunjung di gerbang",
    step_photo: "Foto wajah",
    capture: "Ambil foto",
    auto_start: "Otomatis",
    auto_stop: "Berhenti",
    photo_accepted: "Foto diterima",
    photo_refused: "Foto belum bisa dipakai:",
    enough_photos: "Foto sudah cukup. Lanjutkan ke langkah 4.",
    counter: "{kept} / {needed} foto baik",
    camera_starting: "Kamera sedang dinyalakan…",
    camera_unavailable: "Kamera tidak dapat dipakai. Periksa kabel kamera dan izin kamera di peramban. Kamera hanya bisa dipakai lewat https atau di komputer server ini.",
    camera_not_ready: "Kamera belum siap. Tunggu sebentar lalu coba lagi.",
    step_save: "Periksa dan simpan",
    check_duplicates: "Periksa duplikat",
    commit: "Simpan",
    restart: "Ulangi foto",
    no_duplicates: "Tidak ada orang terdaftar yang mirip. Silakan simpan.",
    need_photos: "Foto belum cukup: {kept} dari {needed}. Ambil foto lagi.",
    fix_fields: "Periksa kembali isian yang ditandai merah.",
    decide_each: "Putuskan untuk setiap orang yang mirip: orang yang sama atau orang berbeda.",
    duplicates_title: "Orang ini mirip dengan identitas yang sudah terdaftar",
    duplicates_help: "Bandingkan kedua foto. Putuskan untuk setiap orang, lalu tekan Simpan.",
    current_capture: "Foto sekarang",
    their_photo: "Foto terdaftar",
    photo_missing: "Foto tidak tersedia",
    site: "UPT",
    number: "Nomor",
    photo_at_site: "Terdaftar di UPT lain (registri nasional). Fotonya ada di {site}.",
    national_unavailable: "Registri nasional tidak dapat dihubungi, jadi hanya data UPT ini yang diperiksa. Menyimpan tetap bisa. ({reason})",
    name: "Nama",
    role: "Peran",
    status: "Status",
    score: "Kemiripan",
    identity_id: "ID identitas",
    same_person: "Orang yang sama",
    different_person: "Orang berbeda",
    reason: "Alasan (wajib untuk \"orang berbeda\")",
    reason_needed: "Tulis alasannya.",
    ...STATUS_WORDS.id,
    saved_title: "Tersimpan",
    saved_new: "Identitas baru sudah dibuat.",
    saved_existing: "Foto ditambahkan ke identitas yang sudah terdaftar.",
    next_person: "Daftarkan orang berikutnya",
    network: "Tidak dapat menghubungi server. Periksa jaringan, lalu coba lagi.",
    server_error: "Server mengalami masalah ({status}). Coba lagi atau hubungi admin.",
    // hints while typing
    required: "Wajib diisi.",
    ok: "✓",
    date_future: "Tanggal lahir tidak boleh di masa depan.",
    date_too_old: "Umur lebih dari 120 tahun. Periksa kembali.",
    digits_only: "Hanya boleh angka.",
    nik_length: "NIK harus 16 angka (sekarang {n}).",
    nik_province: "Dua angka pertama NIK bukan kode provinsi. Periksa KTP.",
    nik_region: "Angka ke-3 sampai ke-6 NIK tidak boleh 00.",
    nik_date: "Angka ke-7 sampai ke-12 NIK bukan tanggal lahir yang sah.",
    nik_birth_mismatch: "Tanggal lahir dalam NIK ({date}) tidak cocok dengan tanggal lahir yang diisi.",
    nik_sex_mismatch: "NIK ini milik seorang {sex}, tidak cocok dengan jenis kelamin yang dipilih.",
    nik_serial: "Empat angka terakhir NIK tidak boleh 0000.",
    nik_ok: "✓ NIK sesuai: lahir {date}, {sex}.",
    nip_length: "NIP harus 18 angka (sekarang {n}).",
    nip_date: "Delapan angka pertama NIP bukan tanggal lahir (tahun, bulan, tanggal).",
    nip_appointment: "Angka ke-9 sampai ke-14 NIP bukan bulan pengangkatan yang mungkin.",
    nip_sex_digit: "Angka ke-15 NIP harus 1 (laki-laki) atau 2 (perempuan).",
    nip_serial: "Tiga angka terakhir NIP tidak boleh 000.",
    nip_birth_mismatch: "Tanggal lahir dalam NIP ({date}) tidak cocok dengan tanggal lahir yang diisi.",
    nip_sex_mismatch: "NIP ini milik seorang {sex}, tidak cocok dengan jenis kelamin yang dipilih.",
    nip_ok: "✓ NIP sesuai: lahir {date}, {sex}.",
    registration_format: "Format nomor registrasi, contoh: B.I-123/2024 atau AIII.45/2023.",
    registration_year: "Tahun pada nomor registrasi harus antara 1950 dan tahun ini.",
    visit_inmate_format: "ID narapidana terdiri dari 36 karakter (lihat data narapidana).",
    sex_word_M: "laki-laki",
    sex_word_F: "perempuan",
  },
  en: {
    title: "Enrolment desk",
    other_language: "Bahasa Indonesia",
    sign_out: "Sign out",
    login_title: "Sign in",
    username: "Username",
    password: "Password",
    login_button: "Sign in",
    signed_in_as: "Officer: {name}",
    login_failed: "Wrong username or password.",
    not_enrolment_role: "This account may not enrol people. Sign in with an enrolment officer's account.",
    step_role: "Who is being enrolled?",
    role_inmate: "Inmate / Detainee",
    role_staff: "Staff",
    role_visitor: "Visitor",
    step_data: "Personal data",
    full_name: "Full name",
    birth_date: "Date of birth",
    sex: "Sex",
    sex_M: "Male",
    sex_F: "Female",
    registration_number: "Registration number",
    nip: "NIP (18 digits)",
    nik: "NIK (16 digits, from the ID card)",
    aliases: "Other names (separate with commas)",
    admission_date: "Admission date",
    case_reference: "Case number",
    cell_block: "Block / cell",
    phone: "Phone number",
    visit_inmate: "ID of the inmate visited (may be empty)",
    visit_relationship: "Relationship to the inmate",
    consent: "The visitor agrees that their face is used for checks at the gate.",
    consent_purpose: "Face checks of visitors at the gate",
    step_photo: "Face photos",
    capture: "Capture",
    auto_start: "Automatic",
    auto_stop: "Stop",
    photo_accepted: "Photo accepted",
    photo_refused: "This photo cannot be used yet:",
    enough_photos: "Enough photos. Go on to step 4.",
    counter: "{kept} / {needed} good photos",
    camera_starting: "Starting the camera…",
    camera_unavailable: "The camera cannot be used. Check the camera cable and the browser's camera permission. The camera only works over https or on the server computer itself.",
    camera_not_ready: "The camera is not ready yet. Wait a moment and try again.",
    step_save: "Check and save",
    check_duplicates: "Check duplicates",
    commit: "Save",
    restart: "Retake photos",
    no_duplicates: "Nobody enrolled looks like this person. You can save.",
    need_photos: "Not enough photos: {kept} of {needed}. Capture more.",
    fix_fields: "Check the fields marked in red.",
    decide_each: "Decide for every similar person: same person or different person.",
    duplicates_title: "This person resembles someone already enrolled",
    duplicates_help: "Compare the two photos. Decide for each person, then press Save.",
    current_capture: "Photo now",
    their_photo: "Enrolled photo",
    photo_missing: "No photo available",
    site: "Site",
    number: "Number",
    photo_at_site: "Enrolled at another site (national registry). The photo is held at {site}.",
    national_unavailable: "The national registry could not be reached, so only this site was checked. Saving still works. ({reason})",
    name: "Name",
    role: "Role",
    status: "Status",
    score: "Similarity",
    identity_id: "Identity ID",
    same_person: "Same person",
    different_person: "Different person",
    reason: "Reason (required for \"different person\")",
    reason_needed: "Write the reason.",
    ...STATUS_WORDS.en,
    saved_title: "Saved",
    saved_new: "A new identity was created.",
    saved_existing: "The photos were added to the identity already enrolled.",
    next_person: "Enrol the next person",
    network: "Cannot reach the server. Check the network, then try again.",
    server_error: "The server had a problem ({status}). Try again or call the administrator.",
    required: "Required.",
    ok: "✓",
    date_future: "The date of birth cannot be in the future.",
    date_too_old: "That is an age over 120 years. Check it again.",
    digits_only: "Digits only.",
    nik_length: "The NIK must be 16 digits (now {n}).",
    nik_province: "The first two digits of the NIK are not a province code. Check the ID card.",
    nik_region: "Digits 3 to 6 of the NIK cannot be 00.",
    nik_date: "Digits 7 to 12 of the NIK are not a valid birth date.",
    nik_birth_mismatch: "The birth date inside the NIK ({date}) does not match the date of birth entered.",
    nik_sex_mismatch: "This NIK belongs to a {sex}; it does not match the sex chosen.",
    nik_serial: "The last four digits of the NIK cannot be 0000.",
    nik_ok: "✓ NIK matches: born {date}, {sex}.",
    nip_length: "The NIP must be 18 digits (now {n}).",
    nip_date: "The first eight digits of the NIP are not a birth date (year, month, day).",
    nip_appointment: "Digits 9 to 14 of the NIP are not a possible month of appointment.",
    nip_sex_digit: "Digit 15 of the NIP must be 1 (male) or 2 (female).",
    nip_serial: "The last three digits of the NIP cannot be 000.",
    nip_birth_mismatch: "The birth date inside the NIP ({date}) does not match the date of birth entered.",
    nip_sex_mismatch: "This NIP belongs to a {sex}; it does not match the sex chosen.",
    nip_ok: "✓ NIP matches: born {date}, {sex}.",
    registration_format: "Registration number format, e.g. B.I-123/2024 or AIII.45/2023.",
    registration_year: "The year in the registration number must be between 1950 and this year.",
    visit_inmate_format: "An inmate ID has 36 characters (see the inmate's record).",
    sex_word_M: "man",
    sex_word_F: "woman",
  },
};

const ENROLLING_ROLES = ["enrolment_officer", "supervisor", "site_admin"];
const AUTO_INTERVAL_MS = 700;
const MAX_AGE_YEARS = 120;
const FEMALE_DAY_OFFSET = 40;
// The same province codes enrollment/identifiers.py accepts (the server stays the authority).
const PROVINCE_CODES = new Set(
  ("11 12 13 14 15 16 17 18 19 21 31 32 33 34 35 36 51 52 53 61 62 63 64 65 " +
   "71 72 73 74 75 76 81 82 91 92 93 94 95 96").split(" "));
const REGISTRATION = /^([AB])\.?(I|II|IIa|IIb|III|IV|V)[.\- ]?(\d{1,6})\/(\d{4})$/i;
const SEPARATORS = /[\s.\-\u2010-\u2015\u2212]+/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const state = {
  lang: sessionStorage.getItem("gerbang.lang") || "id",
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
  error: null, // the error on show: {key, vars} or a server error body
  notice: null, // {key, vars, kind}
  captureUrl: null, // blob: URL of the last accepted frame, shown next to candidates
  candidates: [], // local and national (`national: true`) look-alikes
  decisions: {}, // candidate id -> {decision, reason}
  nationalSearch: null, // {status, reason} of the last duplicate check
  photoUrls: [],
  stream: null,
};

// ---------------------------------------------------------------- language

function applyLanguage() {
  translatePage();
  $('[data-testid="officer-name"]').textContent = t("signed_in_as", { name: state.officer });
  $("#auto").textContent = t(state.auto ? "auto_stop" : "auto_start");
  renderFeedback();
  renderCounter();
  renderError();
  renderNotice();
  renderCandidates();
  renderNationalNotice();
  $$("#identity-form input").forEach((input) => { if (input.dataset.touched) validateField(input.name); });
}

// ---------------------------------------------------------------- talking to the service

// The desk calls as the signed-in officer; a session that ends (401) sends it back to sign in.
async function api(method, path, body) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  try {
    return await request(method, path, body, headers);
  } catch (error) {
    if (error.status === 401 && path !== "/v1/auth/login") signedOut(error);
    throw error;
  }
}

async function photoUrl(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) return null;
  const url = URL.createObjectURL(await response.blob());
  state.photoUrls.push(url);
  return url;
}

// ---------------------------------------------------------------- messages

function showError(error) {
  state.error = errorState(error);
  // A refusal about one field is shown at that field too.
  const field = error instanceof ApiError ? error.details?.field : null;
  if (field && $(`[data-for="${field}"]`)) setHint(field, "bad", messageText(error.payload.message));
  renderError();
}

function clearError() { state.error = null; renderError(); }

function renderError() {
  const box = $("#error");
  const error = state.error;
  box.hidden = !error;
  if (!error) return;
  box.textContent = error.server ? messageText(error.server.message) || error.server.code : t(error.key, error.vars);
}

function setNotice(key, vars = {}, kind = "info") { state.notice = key ? { key, vars, kind } : null; renderNotice(); }

function renderNotice() {
  const box = $("#notice");
  box.hidden = !state.notice;
  if (!state.notice) return;
  box.className = `notice ${state.notice.kind}`;
  box.textContent = state.notice.server ? messageText(state.notice.server) : t(state.notice.key, state.notice.vars);
}

// ---------------------------------------------------------------- sign in

async function signIn(event) {
  event.preventDefault();
  clearError();
  const form = event.target;
  try {
    const body = await api("POST", "/v1/auth/login",
      { username: form.username.value.trim(), password: form.password.value });
    state.token = body.token;
    state.officer = body.name;
    sessionStorage.setItem("gerbang.token", body.token);
    sessionStorage.setItem("gerbang.officer", body.name);
    form.password.value = "";
    if (!ENROLLING_ROLES.includes(body.role)) showError("not_enrolment_role");
    showView("enrol");
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
  stopCamera();
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
  $$("#identity-form [data-roles]").forEach((el) => { el.hidden = !el.dataset.roles.split(" ").includes(role); });
  $("#identity-form").hidden = false;
  $("#camera-card").hidden = false;
  $("#save-card").hidden = false;
  startCamera();
}

function formValue(name) {
  const form = $("#identity-form");
  if (name === "sex") return form.querySelector('input[name="sex"]:checked')?.value || "";
  if (name === "consent") return form.consent.checked;
  return form.elements[name].value.trim();
}

function parseDate(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  return m ? calendarDate(+m[1], +m[2], +m[3]) : null;
}

function calendarDate(year, month, day) {
  const d = new Date(Date.UTC(year, month - 1, day));
  const real = d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
  return real ? { year, month, day } : null;
}

function showDate(d) { return `${String(d.day).padStart(2, "0")}-${String(d.month).padStart(2, "0")}-${d.year}`; }

function ageProblem(d) {
  const now = new Date();
  const today = { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate() };
  const key = (x) => x.year * 10000 + x.month * 100 + x.day;
  if (key(d) > key(today)) return ["date_future"];
  const age = today.year - d.year - (key({ ...today, year: 0 }) < key({ ...d, year: 0 }) ? 1 : 0);
  return age > MAX_AGE_YEARS ? ["date_too_old"] : null;
}

// Each check returns null (fine), [key, vars] (problem) or ["ok-key", vars] for a positive hint.
function checkNik(text, birth, sex) {
  const d = text.replace(SEPARATORS, "");
  if (!/^[0-9]*$/.test(d)) return ["digits_only"];
  if (d.length !== 16) return ["nik_length", { n: d.length }];
  if (!PROVINCE_CODES.has(d.slice(0, 2))) return ["nik_province"];
  if (d.slice(2, 4) === "00" || d.slice(4, 6) === "00") return ["nik_region"];
  if (d.slice(12) === "0000") return ["nik_serial"];
  let day = +d.slice(6, 8);
  const nikSex = day > FEMALE_DAY_OFFSET ? "F" : "M";
  if (nikSex === "F") day -= FEMALE_DAY_OFFSET;
  const month = +d.slice(8, 10);
  const yy = +d.slice(10, 12);
  if (!calendarDate(2000 + yy, month, day) && !calendarDate(1900 + yy, month, day)) return ["nik_date"];
  const dateText = [day, month, yy].map((n) => String(n).padStart(2, "0")).join("-");
  if (birth && (birth.day !== day || birth.month !== month || birth.year % 100 !== yy)) {
    return ["nik_birth_mismatch", { date: dateText }];
  }
  if (sex && sex !== nikSex) return ["nik_sex_mismatch", { sex: t(`sex_word_${nikSex}`) }];
  return ["nik_ok", { date: birth ? showDate(birth) : dateText, sex: t(`sex_word_${nikSex}`) }];
}

function checkNip(text, birth, sex) {
  const d = text.replace(SEPARATORS, "");
  if (!/^[0-9]*$/.test(d)) return ["digits_only"];
  if (d.length !== 18) return ["nip_length", { n: d.length }];
  const born = calendarDate(+d.slice(0, 4), +d.slice(4, 6), +d.slice(6, 8));
  if (!born) return ["nip_date"];
  const tooOld = ageProblem(born);
  if (tooOld) return tooOld;
  const appointed = +d.slice(8, 12) * 100 + +d.slice(12, 14);
  const month = +d.slice(12, 14);
  const now = new Date();
  if (month < 1 || month > 12 || appointed < (born.year + 18) * 100 + born.month
      || appointed > now.getFullYear() * 100 + now.getMonth() + 1) return ["nip_appointment"];
  if (!"12".includes(d[14])) return ["nip_sex_digit"];
  if (d.slice(15) === "000") return ["nip_serial"];
  if (birth && (birth.year !== born.year || birth.month !== born.month || birth.day !== born.day)) {
    return ["nip_birth_mismatch", { date: showDate(born) }];
  }
  const nipSex = d[14] === "1" ? "M" : "F";
  if (sex && sex !== nipSex) return ["nip_sex_mismatch", { sex: t(`sex_word_${nipSex}`) }];
  return ["nip_ok", { date: showDate(born), sex: t(`sex_word_${nipSex}`) }];
}

function checkRegistration(text) {
  const cleaned = text.split(/\s+/).filter(Boolean).join(" ").replace(/\s*([./-])\s*/g, "$1");
  const m = REGISTRATION.exec(cleaned);
  if (!m) return ["registration_format"];
  const year = +m[4];
  return year < 1950 || year > new Date().getFullYear() ? ["registration_year"] : ["ok"];
}

const REQUIRED = {
  inmate: ["full_name", "birth_date", "sex", "registration_number"],
  staff: ["full_name", "birth_date", "sex", "nip"],
  visitor: ["full_name", "birth_date", "sex", "nik", "consent"],
};

function fieldProblem(name) {
  const value = formValue(name);
  const birth = parseDate(formValue("birth_date"));
  const sex = formValue("sex") || null;
  if (!value) return REQUIRED[state.role]?.includes(name) ? ["required"] : null;
  switch (name) {
    case "birth_date": return birth ? ageProblem(birth) || ["ok"] : ["required"];
    case "nik": return checkNik(value, birth, sex);
    case "nip": return checkNip(value, birth, sex);
    case "registration_number": return checkRegistration(value);
    case "visit_inmate": return UUID.test(value) ? ["ok"] : ["visit_inmate_format"];
    default: return null;
  }
}

function setHint(name, kind, text) {
  const hint = $(`[data-for="${name}"]`);
  if (!hint) return;
  hint.textContent = text;
  hint.className = `hint ${kind}`;
  const input = $(`#identity-form [name="${name}"]`);
  if (input) input.setAttribute("aria-invalid", String(kind === "bad"));
}

// Show the field's hint; return true when the field is fine.
function validateField(name) {
  const problem = fieldProblem(name);
  if (!problem) { setHint(name, "", ""); return true; }
  const [key, vars] = problem;
  const good = key === "ok" || key.endsWith("_ok");
  setHint(name, good ? "good" : "bad", t(key, vars));
  return good;
}

function onFieldInput(event) {
  const name = event.target.name;
  if (!name) return;
  event.target.dataset.touched = "1";
  validateField(name);
  // The NIK and NIP carry the birth date and sex: re-check them when those change.
  if (["birth_date", "sex"].includes(name)) ["nik", "nip"].forEach((n) => { if (formValue(n)) validateField(n); });
}

// Check every field of the role; return the first bad one's name, or null.
function validateAll() {
  const names = ["full_name", "birth_date", "sex", "registration_number", "nip", "nik", "visit_inmate", "consent"];
  const shown = names.filter((n) => !$(`#identity-form [data-for="${n}"]`)?.closest("[hidden]"));
  const bad = shown.filter((n) => !validateField(n));
  return bad[0] || null;
}

function identityBody() {
  const v = (name) => formValue(name) || null;
  const body = {
    full_name: formValue("full_name"),
    birth_date: v("birth_date"),
    sex: v("sex"),
    aliases: formValue("aliases").split(",").map((a) => a.trim()).filter(Boolean),
  };
  const byRole = {
    inmate: ["registration_number", "admission_date", "case_reference", "cell_block"],
    staff: ["nip", "phone"],
    visitor: ["nik", "phone"],
  };
  byRole[state.role].forEach((name) => { body[name] = v(name); });
  if (state.role === "visitor") {
    body.consent_purpose = formValue("consent") ? t("consent_purpose") : null;
    if (v("visit_inmate")) body.visits = [{ inmate_id: v("visit_inmate"), relationship: v("visit_relationship") || "-" }];
  }
  return body;
}

// ---------------------------------------------------------------- camera and captures

async function startCamera() {
  if (state.stream) return;
  const video = $("#preview");
  if (!navigator.mediaDevices?.getUserMedia) { showFeedbackText("camera_unavailable", "bad"); return; }
  showFeedbackText("camera_starting", "");
  try {
    state.stream = await openCamera();
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    if (!state.feedback) showFeedbackText(null);
  } catch (error) {
    console.error(error);
    showFeedbackText("camera_unavailable", "bad");
  }
}

function stopCamera() {
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
}

function grabFrame() {
  const video = $("#preview");
  if (!video.videoWidth) return Promise.resolve(null);
  return videoFrame(video);
}

// Send one frame (opening the capture session first if needed); null when nothing was sent.
async function sendFrame() {
  if (state.busy) return null;
  state.busy = true;
  try {
    const blob = await grabFrame();
    if (!blob) { showFeedbackText("camera_not_ready", "bad"); return null; }
    if (!state.sessionId) {
      const session = await api("POST", "/v1/captures", { role: state.role });
      state.sessionId = session.session_id;
      state.needed = session.needed;
    }
    const form = new FormData();
    form.append("image", blob, "frame.jpg");
    const sessionId = state.sessionId;
    const feedback = await api("POST", `/v1/captures/${sessionId}/frames`, form);
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
    item.textContent = reason[state.lang] || reason.id || reason.code;
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

// Local candidates, then those the national registry holds at other sites (no photo here).
function allCandidates(body) {
  return [...(body.candidates || []),
    ...(body.national_candidates || []).map((c) => ({ ...c, national: true }))];
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
  const panel = $("#duplicates");
  const list = $("#candidates");
  panel.hidden = !state.candidates.length;
  list.replaceChildren(...state.candidates.map(candidateCard));
}

function candidateCard(candidate) {
  const card = $("#candidate-template").content.firstElementChild.cloneNode(true);
  const choice = state.decisions[candidate.identity_id] || {};
  card.dataset.identityId = candidate.identity_id;
  card.classList.toggle("national", Boolean(candidate.national));
  $$("[data-i18n]", card).forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $(".current", card).src = state.captureUrl || "";
  $(".current", card).alt = t("current_capture");
  const theirs = $(".theirs", card);
  if (candidate.photo) theirs.src = candidate.photo; else theirs.alt = t("photo_missing");
  if (candidate.national) {
    const site = candidate.site_name || candidate.site_id || "—";
    theirs.nextElementSibling.textContent = t("photo_at_site", { site });
    $(".c-site", card).textContent = candidate.site_id ? `${site} (${candidate.site_id})` : site;
    $(".c-number", card).textContent =
      candidate.registration_number || candidate.nik || candidate.nip || "—";
  }
  $(".c-name", card).textContent = candidate.full_name || "—";
  $(".c-role", card).textContent = t(`role_${candidate.role}`);
  $(".c-status", card).textContent = t(`status_${candidate.status}`);
  $(".c-score", card).textContent = Number(candidate.score).toFixed(3);
  $(".c-id", card).textContent = candidate.identity_id;
  const same = $(".same", card);
  const different = $(".different", card);
  same.setAttribute("aria-pressed", String(choice.decision === "same_person"));
  different.setAttribute("aria-pressed", String(choice.decision === "different_person"));
  const reasonBox = $(".reason", card);
  const reason = $("textarea", card);
  reasonBox.hidden = choice.decision !== "different_person";
  reason.value = choice.reason || "";
  $(".reason .hint", card).hidden = !(choice.decision === "different_person" && choice.missingReason);
  same.addEventListener("click", () => decide(candidate.identity_id, "same_person"));
  different.addEventListener("click", () => decide(candidate.identity_id, "different_person"));
  reason.addEventListener("input", () => {
    state.decisions[candidate.identity_id].reason = reason.value;
    state.decisions[candidate.identity_id].missingReason = false;
    $(".reason .hint", card).hidden = true;
  });
  return card;
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

async function commit() {
  clearError();
  setNotice(null);
  // 'Same person' as someone here adds the photos to them; as someone at another site, the
  // person is still enrolled here (with their data), linked to that national identity.
  const joinsExisting = Object.entries(state.decisions)
    .some(([id, d]) => d.decision === "same_person" && !isNational(id));
  if (!joinsExisting) {
    const bad = validateAll();
    if (bad) {
      setNotice("fix_fields", {}, "bad");
      $(`#identity-form [name="${bad}"]`)?.focus();
      return;
    }
  }
  if (!state.ready) { setNotice("need_photos", { kept: state.kept, needed: state.needed || "?" }, "bad"); return; }
  const decisions = collectDecisions();
  if (!decisions) return;
  try {
    const result = await api("POST", `/v1/captures/${state.sessionId}/commit`,
      { identity: joinsExisting ? null : identityBody(), decisions });
    showSaved(result);
  } catch (error) {
    if (error.code === "possible_duplicate") await showConflict(error);
    else showError(error);
  }
}

function showSaved(result) {
  state.sessionId = null; // committed: nothing to abandon
  $("#saved-id").textContent = result.identity_id;
  $("#saved-text").dataset.i18n = result.created ? "saved_new" : "saved_existing";
  const national = $("#saved-national");
  national.hidden = result.national_search?.status !== "unavailable";
  if (!national.hidden) national.textContent = t("national_unavailable", { reason: result.national_search.reason || "?" });
  state.auto = false;
  showView("done");
}

// ---------------------------------------------------------------- starting over

// Give up the open capture session, so its photos do not linger on the server.
async function abandonSession() {
  const id = state.sessionId;
  state.sessionId = null;
  if (!id || !state.token) return;
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
  state.role = null;
  const form = $("#identity-form");
  form.reset();
  $$("input", form).forEach((input) => { delete input.dataset.touched; input.removeAttribute("aria-invalid"); });
  $$(".hint", form).forEach((hint) => { hint.textContent = ""; hint.className = "hint"; });
  form.hidden = true;
  $("#camera-card").hidden = true;
  $("#save-card").hidden = true;
  $$(".role").forEach((b) => b.setAttribute("aria-pressed", "false"));
}

function nextPerson() {
  resetEnrolment();
  clearError();
  showView("enrol");
}

// ---------------------------------------------------------------- wiring

function init() {
  $("#lang-toggle").addEventListener("click", () => toggleLanguage(sessionStorage, "gerbang.lang"));
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $$(".role").forEach((b) => b.addEventListener("click", () => chooseRole(b.dataset.role)));
  $("#identity-form").addEventListener("input", onFieldInput);
  $("#identity-form").addEventListener("change", onFieldInput);
  $("#capture").addEventListener("click", captureOnce);
  $("#auto").addEventListener("click", toggleAuto);
  $("#check").addEventListener("click", checkDuplicates);
  $("#commit").addEventListener("click", commit);
  $("#restart").addEventListener("click", () => { clearError(); resetCaptures(); });
  $("#next").addEventListener("click", nextPerson);
  showView(state.token ? "enrol" : "login");
}

document.addEventListener("DOMContentLoaded", init);
