// The desk's fingerprint enrolment, once a person is saved: the officer picks the reader and the
// finger, the person presses, the page shows what the reader saw with what to do (press flatter,
// centre it, too dry, too wet), and a usable impression goes to the finger enrolment API, which
// keeps it and says how many more are needed.

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
    const readerField = element("label");
    readerField.append(this.readerLabel, this.reader);
    const positionField = element("label");
    positionField.append(this.positionLabel, this.position);
    this.root.replaceChildren(this.title, readerField, positionField, this.scan, this.statusBox,
      this.reasons, this.preview, this.progress);
  }

  /** Show the panel for a saved identity and find the readers. */
  async show(identityId) {
    Object.assign(this, { identityId, shot: null, enrolled: null, status: null });
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
    const reasons = this.shot?.reasons || this.enrolled?.reasons || [];
    this.reasons.replaceChildren(...reasons.map((r) =>
      element("li", { text: this.language.message(r), testid: "finger-reason" })));
    this.preview.hidden = !this.shot;
    const complete = this.enrolled?.complete;
    this.progress.textContent = !this.enrolled ? "" : complete ? this.word("finger_complete")
      : this.word("finger_more", { fingers: this.required.fingers, need: this.required.impressions_each });
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
