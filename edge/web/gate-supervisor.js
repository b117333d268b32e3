// The kiosk's supervisor dialog: a supervisor signs in for one action (admit a denied passage,
// or clear an alarm), gives a reason, and is signed out again at once: the kiosk never keeps a
// supervisor's session.

import { errorState, errorText } from "/web/shared/api.js";
import { $ } from "/web/shared/dom.js";

const SUPERVISOR_ROLES = ["supervisor", "site_admin"];
const MIN_REASON = 3; // the API's ReasonBody minimum
const PATHS = { override: "override", clear: "clear-alarm" };

export class SupervisorDialog {
  /**
   * `root` holds the dialog (its form, title and error box); `api` is the kiosk's caller;
   * `onDone(action, answer, login)` hears each action the service accepted.
   */
  constructor(root, { api, language, onDone }) {
    this.root = root;
    this.form = $("form", root);
    this.api = api;
    this.language = language;
    this.onDone = onDone;
    this.open = null; // {action: "override" | "clear", eventId} while shown
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
  }

  show(action, eventId) {
    this.open = { action, eventId };
    this.form.reset();
    $("[data-testid=supervisor-error]", this.root).hidden = true;
    this.render();
    this.form.username.focus();
  }

  close() {
    this.open = null;
    this.form.reset();
    this.render();
  }

  render() {
    this.root.hidden = !this.open;
    if (this.open) {
      $("[data-testid=supervisor-title]", this.root).textContent =
        this.language.t(this.open.action === "override" ? "override_title" : "clear_title");
    }
  }

  // The dialog's error: one of the page's strings (`key`) or a failed call's message.
  fail(key, error) {
    const box = $("[data-testid=supervisor-error]", this.root);
    box.hidden = false;
    box.textContent = error ? errorText(errorState(error), this.language) : this.language.t(key);
  }

  async submit() {
    const username = this.form.username.value.trim();
    const password = this.form.password.value;
    const reason = this.form.reason.value.trim();
    if (!username || !password) { this.fail("credentials_needed"); return; }
    if (reason.length < MIN_REASON) { this.fail("reason_needed"); this.form.reason.focus(); return; }
    let login;
    try {
      login = await this.api("POST", "/v1/auth/login", { body: { username, password } });
    } catch (error) {
      if (error.status === 401) this.fail("login_failed"); else this.fail("", error);
      return;
    }
    const supervisor = { Authorization: `Bearer ${login.token}` };
    try {
      if (!SUPERVISOR_ROLES.includes(login.role)) { this.fail("not_supervisor"); return; }
      const { action, eventId } = this.open;
      const answer = await this.api("POST", `/v1/gate-events/${eventId}/${PATHS[action]}`,
        { body: { reason }, headers: supervisor });
      this.close();
      await this.onDone(action, answer, login);
    } catch (error) {
      if (error.status === 403) this.fail("not_supervisor"); else this.fail("", error);
    } finally {
      this.api("POST", "/v1/auth/logout", { headers: supervisor }).catch(() => {});
    }
  }
}
