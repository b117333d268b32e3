// The desk's visited-Warga-Binaan picker: the officer types the registration number or a name the
// visitor gives, picks one of the active Warga Binaan the site answers with, and the form keeps
// that person's id (hidden). Nobody types an internal id.

import { $, element } from "/web/shared/dom.js";

const WAIT_MS = 250; // typing pauses this long before the site is asked

export class InmatePicker {
  /** `form` holds visit_search, visit_inmate and the results list; `api` is the desk's caller. */
  constructor(form, { api, language, onPicked }) {
    this.form = form;
    this.api = api;
    this.language = language;
    this.onPicked = onPicked;
    this.results = $("[data-testid=visit-results]", form);
    this.timer = null;
    this.asked = 0; // the newest question: older answers arriving late are dropped
    form.visit_search.addEventListener("input", () => this.typed());
  }

  typed() {
    this.form.visit_inmate.value = ""; // the text changed: no one is chosen any more
    clearTimeout(this.timer);
    const text = this.form.visit_search.value.trim();
    if (!text) { this.show([]); return; }
    this.timer = setTimeout(() => this.ask(text), WAIT_MS);
  }

  async ask(text) {
    const asked = ++this.asked;
    try {
      const answer = await this.api("GET", `/v1/identities/active-inmates?q=${encodeURIComponent(text)}`);
      if (asked === this.asked) this.show(answer.inmates, text);
    } catch {
      if (asked === this.asked) this.show([], text);
    }
  }

  show(inmates, text = "") {
    const t = (key, vars) => this.language.t(key, vars);
    this.results.replaceChildren(...inmates.map((inmate) => {
      const choose = element("button", { text: this.label(inmate), testid: "visit-result" });
      choose.type = "button";
      choose.addEventListener("click", () => this.pick(inmate));
      const item = element("li");
      item.append(choose);
      return item;
    }));
    if (text && !inmates.length) this.results.append(element("li", { text: t("visit_none", { text }), className: "hint" }));
    this.results.hidden = !this.results.children.length;
  }

  label(inmate) {
    const block = inmate.cell_block ? `, ${this.language.t("cell_block")} ${inmate.cell_block}` : "";
    return `${inmate.full_name} (${inmate.registration_number || "—"}${block})`;
  }

  pick(inmate) {
    this.form.visit_inmate.value = inmate.identity_id;
    this.form.visit_search.value = this.label(inmate);
    this.show([]);
    this.onPicked();
  }

  clear() {
    clearTimeout(this.timer);
    this.asked += 1;
    this.form.visit_inmate.value = "";
    this.show([]);
  }
}
