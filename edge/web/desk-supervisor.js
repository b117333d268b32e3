// The desk's supervisor sign-off: when a decision needs one (an inmate look-alike, a join across
// roles), a supervisor signs in on this dialog for that one commit, and is signed out again at
// once: the desk never keeps a supervisor's session. The server checks the token's role.

import { errorState, errorText, request } from "/web/shared/api.js";
import { $ } from "/web/shared/dom.js";

export const SUPERVISOR_ROLES = ["supervisor", "site_admin"];

export class SupervisorSignOff {
  /** `dialog` is the <dialog>; `language` the page's; `commit(token)` saves with the sign-off. */
  constructor(dialog, { language, commit }) {
    this.dialog = dialog;
    this.form = $("form", dialog);
    this.language = language;
    this.commit = commit;
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.approve(); });
    $("[data-testid=supervisor-cancel]", dialog).addEventListener("click", () => this.close());
  }

  open() {
    this.form.reset();
    this.showError(null);
    if (!this.dialog.open) this.dialog.showModal();
    this.form.username.focus();
  }

  close() {
    this.form.reset();
    if (this.dialog.open) this.dialog.close();
  }

  showError(error) {
    const box = $("[data-testid=supervisor-error]", this.dialog);
    box.hidden = !error;
    if (error) box.textContent = errorText(errorState(error), this.language);
  }

  async approve() {
    let token;
    try {
      const login = await request("POST", "/v1/auth/login", {
        body: { username: this.form.username.value.trim(), password: this.form.password.value },
      });
      if (!SUPERVISOR_ROLES.includes(login.role)) {
        await this.signOut(login.token);
        this.showError("not_a_supervisor");
        return;
      }
      token = login.token;
      this.close();
      await this.commit(token);
    } catch (error) {
      this.showError(error);
    } finally {
      if (token) await this.signOut(token);
    }
  }

  async signOut(token) {
    try {
      await request("POST", "/v1/auth/logout", { headers: { Authorization: `Bearer ${token}` } });
    } catch { /* the session ends at its idle timeout anyway */ }
  }
}
