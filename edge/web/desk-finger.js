// The desk's fingerprint enrolment, once a person is saved: the officer picks the reader and the
// finger, the person presses, the page shows what the reader saw with what to do (press flatter,
// centre it, too dry, too wet), and a usable impression goes to the finger enrolment API, which
// keeps it and says how many more are needed. When the impression matches another person's
// enrolled finger (the desk's duplicate check, issue 12), a red warning names them and tells the
// officer to check the person and call a supervisor; it stands beside the enrolment's result
// and stays, for every person found, until the panel shows another identity.

import { errorState, errorText } from "/web/shared/api.js";
import { $, element } from "/web/shared/dom.js";
import { captureFinger, fillPositions, fillReaders, fingerWord, listReaders, pngBlob } from "./finger-reader.js";

export class DeskFingers {
  /** `root` is the (empty) panel; `api` the desk's caller; `language` the page's Language. */
  constructor(root, { api, language }) {
    this.root = root;
    this.api = api;
    this.language = language;
    this.identityId = null;
    this.readers = [];
    this.status = null; // {key, vars, kind} or {error}
    this.shot = null; // the last capture's answer
    this.enrolled = null; // the enrolment API's last answer
    this.required = null; // {fingers, impressions_each} a complete enrolment needs
    this.duplicates = new Map(); // identity id -> the best candidate any impression found
    this.busy = false;
    this.build();
  }

  word(key, vars) { return fingerWord(this.language, key, vars); }

  build() {
    this.title = element("h3");
    this.readerLabel = element("span");
    this.reader = element("select", { testid: "finger-reader" });
    this.positionLabel = element("span");
    this.position = element("select", { testid: "finger-position" });
    this.scan = element("button", { className: "primary", testid: "finger-scan" });
    this.scan.type = "button";
    this.scan.addEventListener("click", () => this.capture());
    this.preview = element("img", { testid: "finger-preview", className: "finger-preview" });
    this.preview.hidden = true;
    this.statusBox = element("p", { testid: "finger-status", className: "notice" });
    this.statusBox.setAttribute("aria-live", "polite");
    this.reasons = element("ul", { testid: "finger-reasons" });
    this.progress = element("p", { testid: "finger-progress" });
    this.warning = element("div", { testid: "finger-duplicates", className: "finger-duplicates" });
    this.warning.setAttribute("role", "alert");
    this.warning.hidden = true;
    const readerField = element("label");
    readerField.append(this.readerLabel, this.reader);
    const positionField = element("label");
    positionField.append(this.positionLabel, this.position);
    this.root.replaceChildren(this.title, readerField, positionField, this.scan, this.statusBox,
      this.warning, this.reasons, this.preview, this.progress);
  }

  /** Show the panel for a saved identity and find the readers. */
  async show(identityId) {
    Object.assign(this, { identityId, shot: null, enrolled: null, status: null });
    this.duplicates = new Map();
    this.root.hidden = false;
    this.render();
    try {
      this.readers = await listReaders(this.api);
    } catch (error) {
      this.status = { error };
    }
    this.render();
  }

  hide() {
    this.identityId = null;
    this.root.hidden = true;
  }

  async capture() {
    if (this.busy || !this.identityId || !this.reader.value) return;
    const position = Number(this.position.value);
    const finger = this.word(`finger_${position}`);
    this.busy = true;
    Object.assign(this, { shot: null, status: { key: "finger_waiting", vars: { finger }, kind: "waiting" } });
    this.render();
    try {
      this.shot = await captureFinger(this.api, this.reader.value, position);
      // A blob: URL, as the desk's photos: the pages' CSP allows no data: images.
      if (this.preview.src) URL.revokeObjectURL(this.preview.src);
      this.preview.src = URL.createObjectURL(pngBlob(this.shot.image_png));
      this.status = { key: "finger_taken", vars: { finger }, kind: this.shot.usable ? "good" : "bad" };
      if (this.shot.usable) await this.enrol(position, finger);
      else this.status = { key: "finger_refused", vars: { finger }, kind: "bad" };
    } catch (error) {
      this.status = { error };
    } finally {
      this.busy = false;
      this.render();
    }
  }

  // The existing finger enrolment API judges again and keeps it: the desk never stores a print.
  async enrol(position, finger) {
    const form = new FormData();
    form.append("image", pngBlob(this.shot.image_png), "finger.png");
    form.append("position", String(position));
    form.append("resolution_ppi", String(this.shot.resolution_ppi));
    this.enrolled = await this.api("POST", `/v1/identities/${this.identityId}/fingers`, { body: form });
    for (const found of this.enrolled.duplicates || []) {
      const known = this.duplicates.get(found.identity_id);
      if (!known || found.score > known.score) this.duplicates.set(found.identity_id, found);
    }
    // What a complete enrolment needs is the service's rule: asked, not copied here.
    this.required = (await this.api("GET", `/v1/identities/${this.identityId}/fingers`)).required;
    const need = this.required.impressions_each;
    this.status = this.enrolled.accepted
      ? { key: "finger_kept", vars: { finger, n: this.enrolled.impressions, need }, kind: "good" }
      : { key: "finger_refused", vars: { finger }, kind: "bad" };
  }

  render() {
    if (this.root.hidden) return;
    this.title.textContent = this.word("finger_title");
    this.readerLabel.textContent = this.word("finger_reader");
    this.positionLabel.textContent = this.word("finger_position");
    this.scan.textContent = this.word("finger_scan");
    fillReaders(this.reader, this.readers, this.language);
    fillPositions(this.position, this.language);
    this.scan.disabled = this.busy || !this.readers.length;
    this.renderStatus();
    this.renderDuplicates();
    const reasons = this.shot?.reasons || this.enrolled?.reasons || [];
    this.reasons.replaceChildren(...reasons.map((r) =>
      element("li", { text: this.language.message(r), testid: "finger-reason" })));
    this.preview.hidden = !this.shot;
    const complete = this.enrolled?.complete;
    this.progress.textContent = !this.enrolled ? "" : complete ? this.word("finger_complete")
      : this.word("finger_more", { fingers: this.required.fingers, need: this.required.impressions_each });
  }

  renderDuplicates() {
    const t = (key, vars) => this.language.t(key, vars);
    const found = [...this.duplicates.values()].sort((a, b) => b.score - a.score);
    this.warning.hidden = !found.length;
    const items = found.map((d) => {
      const item = element("li", { testid: "finger-duplicate", text: t("finger_duplicate_item", {
        name: d.full_name || d.identity_id, role: t(`role_${d.role}`), status: t(`status_${d.status}`),
        number: d.registration_number ? ` · ${d.registration_number}` : "",
        finger: d.position ? this.word(`finger_${d.position}`) : "—", score: Number(d.score).toFixed(3),
      }) });
      if (d.inmate_lookalike) item.prepend(element("strong", { text: `${t("finger_duplicate_inmate")}: ` }));
      return item;
    });
    const list = element("ul");
    list.replaceChildren(...items);
    this.warning.replaceChildren(element("strong", { text: t("finger_duplicate_title") }),
      element("p", { text: t("finger_duplicate_help") }), list);
  }

  renderStatus() {
    const status = this.status;
    if (!this.readers.length && !status) {
      Object.assign(this.statusBox, { textContent: this.word("finger_no_reader"), className: "notice" });
      return;
    }
    this.statusBox.className = `notice ${status?.error ? "bad" : status?.kind || ""}`;
    this.statusBox.textContent = !status ? ""
      : status.error ? errorText(errorState(status.error), this.language) : this.word(status.key, status.vars);
  }
}

/** The panel's root in the page, for desk.js: `$("#finger-panel")`. */
export const fingerPanel = () => $("#finger-panel");
