// The officer at the kiosk for the passages an officer answers for (an inmate's release, transfer
// or court movement): they sign in with their own account (the site's throttled sign-in), every
// movement goes with their token so the record names them, and they are signed out by the button,
// by leaving the mode, or after a short idle time. The token lives in this page only, never in
// storage: a reload or a closed tab ends it, and the device key alone cannot move an inmate.

import { errorState, errorText } from "/web/shared/api.js";
import { element } from "/web/shared/dom.js";
import { format } from "/web/shared/i18n.js";

export const IDLE_SIGN_OUT_MS = 2 * 60 * 1000; // an officer walking away leaves no open session
const OFFICER_ROLES = ["gate_officer", "supervisor", "site_admin"];

const WORDS = {
  id: {
    officer_title: "Petugas pengawal",
    officer_username: "Nama pengguna petugas",
    officer_password: "Kata sandi",
    officer_sign_in: "Masuk petugas",
    officer_sign_out: "Keluar",
    officer_signed_in: "Petugas: {name}",
    officer_needed: "Pergerakan Warga Binaan harus dilakukan petugas: masuk dengan akun Anda.",
    officer_credentials: "Isi nama pengguna dan kata sandi petugas.",
    officer_login_failed: "Nama pengguna atau kata sandi salah.",
    officer_not_allowed: "Akun ini tidak berwenang melakukan pergerakan Warga Binaan.",
    officer_idle: "Petugas dikeluarkan otomatis karena tidak ada aktivitas.",
    officer_ended: "Sesi petugas berakhir: masuk lagi.",
  },
  en: {
    officer_title: "Escorting officer",
    officer_username: "Officer's username",
    officer_password: "Password",
    officer_sign_in: "Officer sign-in",
    officer_sign_out: "Sign out",
    officer_signed_in: "Officer: {name}",
    officer_needed: "An inmate movement is an officer's act: sign in with your account.",
    officer_credentials: "Enter the officer's username and password.",
    officer_login_failed: "Wrong username or password.",
    officer_not_allowed: "This account may not carry out inmate movements.",
    officer_idle: "The officer was signed out after a while without activity.",
    officer_ended: "The officer's session ended: sign in again.",
  },
};

export class KioskOfficer {
  /** `root` is the (empty) panel; `api` the kiosk's caller; `language` the page's Language. */
  constructor(root, { api, language, onSignedIn = () => {}, idleMs = IDLE_SIGN_OUT_MS }) {
    this.root = root;
    this.onSignedIn = onSignedIn; // the kiosk drops its "sign in first" status
    this.api = api;
    this.language = language;
    this.idleMs = idleMs;
    this.login = null; // {token, name, full_name, role} while signed in
    this.note = null; // {key} or {error}: why the panel says what it says
    this.idleTimer = null;
    this.build();
    for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, () => this.active());
  }

  word(key, vars) { return format(WORDS[this.language.lang]?.[key] ?? WORDS.id[key], vars); }

  build() {
    this.title = element("strong");
    this.form = element("div", { className: "officer-form" });
    this.userLabel = element("label");
    this.username = element("input", { testid: "officer-username" });
    this.passLabel = element("label");
    this.password = element("input", { testid: "officer-password" });
    this.password.type = "password";
    for (const input of [this.username, this.password]) {
      input.autocomplete = "off";
      input.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); this.signIn(); } });
    }
    this.signInButton = element("button", { className: "primary", testid: "officer-sign-in" });
    this.signInButton.type = "button";
    this.signInButton.addEventListener("click", () => this.signIn());
    this.userText = element("span", { testid: "officer-name" });
    this.signOutButton = element("button", { className: "link", testid: "officer-sign-out" });
    this.signOutButton.type = "button";
    this.signOutButton.addEventListener("click", () => this.signOut());
    this.noteBox = element("div", { className: "hint", testid: "officer-note" });
    this.noteBox.setAttribute("role", "status");
    this.userLabel.append(element("span"), this.username);
    this.passLabel.append(element("span"), this.password);
    this.form.append(this.userLabel, this.passLabel, this.signInButton);
    this.root.replaceChildren(this.title, this.form, this.userText, this.signOutButton, this.noteBox);
  }

  /** The headers a movement is sent with, or null when nobody is signed in. */
  headers() { return this.login ? { Authorization: `Bearer ${this.login.token}` } : null; }

  async signIn() {
    const username = this.username.value.trim();
    const password = this.password.value;
    if (!username || !password) { this.say({ key: "officer_credentials" }); return; }
    let login;
    try {
      login = await this.api("POST", "/v1/auth/login", { body: { username, password } });
    } catch (error) {
      this.say(error.status === 401 ? { key: "officer_login_failed" } : { error });
      return;
    }
    this.password.value = "";
    if (!OFFICER_ROLES.includes(login.role)) {
      this.end(login.token);
      this.say({ key: "officer_not_allowed" });
      return;
    }
    this.login = login;
    this.username.value = "";
    this.active();
    this.say(null);
    this.onSignedIn(login);
  }

  /** Sign out (the button, leaving the mode, idle); `why` is the key shown after, if any. */
  signOut(why = null) {
    clearTimeout(this.idleTimer);
    if (this.login) this.end(this.login.token);
    this.login = null;
    this.say(why ? { key: why } : null);
  }

  /** The service refused the token (expired, or signed out elsewhere). */
  expired() { this.signOut("officer_ended"); }

  end(token) {
    this.api("POST", "/v1/auth/logout", { headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
  }

  active() {
    if (!this.login) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.signOut("officer_idle"), this.idleMs);
  }

  say(note) { this.note = note; this.render(); }

  render() {
    const signedIn = Boolean(this.login);
    this.title.textContent = this.word("officer_title");
    this.userLabel.firstChild.textContent = this.word("officer_username");
    this.passLabel.firstChild.textContent = this.word("officer_password");
    this.signInButton.textContent = this.word("officer_sign_in");
    this.signOutButton.textContent = this.word("officer_sign_out");
    this.form.hidden = signedIn;
    this.userText.hidden = !signedIn;
    this.signOutButton.hidden = !signedIn;
    if (signedIn) this.userText.textContent = this.word("officer_signed_in", { name: this.login.full_name || this.login.name });
    const note = this.note;
    this.noteBox.className = `hint ${note && note.key !== "officer_needed" ? "bad" : ""}`;
    this.noteBox.textContent = !note ? "" : note.error ? errorText(errorState(note.error), this.language) : this.word(note.key);
  }
}
