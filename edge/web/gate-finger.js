// The kiosk's fingerprint: the reader of this gate (the service's, found with the device key), one
// finger pressed before "Check", sent with the passage as finger_image / finger_position, and
// dropped after the decision so the next person never passes on it.

import { errorState, errorText } from "/web/shared/api.js";
import { element } from "/web/shared/dom.js";
import { captureFinger, fillPositions, fingerWord, listReaders, pngBlob } from "./finger-reader.js";

// Exits and movements first ask for the right index finger, as the desk enrols it first.
const KIOSK_POSITIONS = [2, 7, 1, 6, 3, 8];

export class KioskFinger {
  /** `root` is the (empty) panel; `api` the kiosk's caller; `language` the page's Language. */
  constructor(root, { api, language }) {
    this.root = root;
    this.api = api;
    this.language = language;
    this.reader = null; // the name of this gate's reader, when it has one
    this.shot = null; // {blob, position} once a usable finger is read
    this.status = null; // {key, vars, kind} or {error}
    this.busy = false;
    this.build();
  }

  word(key, vars) { return fingerWord(this.language, key, vars); }

  build() {
    this.position = element("select", { testid: "kiosk-finger-position" });
    this.scan = element("button", { className: "big", testid: "kiosk-finger-scan" });
    this.scan.type = "button";
    this.scan.addEventListener("click", () => this.capture());
    this.clear = element("button", { className: "link", testid: "kiosk-finger-clear" });
    this.clear.type = "button";
    this.clear.addEventListener("click", () => this.reset());
    this.statusBox = element("div", { className: "status", testid: "kiosk-finger-status" });
    this.statusBox.setAttribute("aria-live", "polite");
    this.root.replaceChildren(this.position, this.scan, this.clear, this.statusBox);
  }

  /** Find this gate's reader (a kiosk sees only its own); no reader: the panel stays hidden. */
  async load() {
    try {
      const readers = await listReaders(this.api);
      this.reader = readers[0]?.name || null;
    } catch {
      this.reader = null; // an older service without readers: the kiosk works on faces alone
    }
    this.render();
  }

  async capture() {
    if (this.busy || !this.reader) return;
    const position = Number(this.position.value);
    const finger = this.word(`finger_${position}`);
    Object.assign(this, { busy: true, shot: null, status: { key: "finger_waiting", vars: { finger }, kind: "waiting" } });
    this.render();
    try {
      const answer = await captureFinger(this.api, this.reader, position);
      this.shot = { blob: pngBlob(answer.image_png), position, ppi: answer.resolution_ppi };
      // The decision judges the print; what the reader saw is said so the person can press again.
      const hint = answer.reasons?.[0];
      this.status = hint ? { server: hint, kind: "waiting" } : { key: "finger_taken", vars: { finger }, kind: "good" };
    } catch (error) {
      this.status = { error };
    } finally {
      this.busy = false;
      this.render();
    }
  }

  /** Add the finger read (if any) to a passage's form. */
  attach(form) {
    if (!this.shot) return;
    form.append("finger_image", this.shot.blob, "finger.png");
    form.append("finger_position", String(this.shot.position));
  }

  /** Forget the finger: after each decision, and when the mode changes. */
  reset() {
    Object.assign(this, { shot: null, status: null });
    this.render();
  }

  render() {
    this.root.hidden = !this.reader;
    if (!this.reader) return;
    fillPositions(this.position, this.language, KIOSK_POSITIONS);
    this.scan.textContent = this.word("finger_scan");
    this.scan.disabled = this.busy;
    this.clear.textContent = this.word("finger_clear");
    this.clear.hidden = !this.shot;
    const status = this.status;
    this.statusBox.className = `status ${status?.error ? "bad" : status?.kind || ""}`;
    this.statusBox.textContent = !status ? ""
      : status.error ? errorText(errorState(status.error), this.language)
        : status.server ? this.language.message(status.server) : this.word(status.key, status.vars);
  }
}
