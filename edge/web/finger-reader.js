// A fingerprint reader attached to the site service, as the desk and the kiosk use it: which readers
// this caller may use, one capture (the service waits for the finger, bounded, and answers the
// image with what to tell the person), and the words both pages show around it.

import { format } from "/web/shared/i18n.js";

export const CAPTURE_TIMEOUT_S = 15; // the person has this long to put the finger down

// ISO/IEC 19794-2 positions, the fingers a desk asks for first (right and left index, then thumbs).
export const POSITIONS = [2, 7, 1, 6, 3, 8];

const WORDS = {
  id: {
    finger_title: "Sidik jari",
    finger_reader: "Pemindai",
    finger_position: "Jari",
    finger_scan: "Pindai jari",
    finger_clear: "Hapus",
    finger_waiting: "Letakkan {finger} di tengah pemindai…",
    finger_waiting_any: "Letakkan jari di tengah pemindai…",
    finger_taken: "{finger} terbaca.",
    finger_taken_any: "Sidik jari terbaca.",
    finger_kept: "{finger}: tersimpan ({n} dari {need} kali).",
    finger_refused: "{finger}: belum cukup jelas, ulangi.",
    finger_complete: "Sidik jari lengkap.",
    finger_more: "Butuh {fingers} jari, masing-masing {need} kali.",
    finger_no_reader: "Tidak ada pemindai sidik jari untuk tempat ini.",
    reader_absent: "(tidak terpasang)",
    reader_busy: "(sedang dipakai)",
    finger_1: "Ibu jari kanan", finger_2: "Telunjuk kanan", finger_3: "Jari tengah kanan",
    finger_4: "Jari manis kanan", finger_5: "Kelingking kanan", finger_6: "Ibu jari kiri",
    finger_7: "Telunjuk kiri", finger_8: "Jari tengah kiri", finger_9: "Jari manis kiri",
    finger_10: "Kelingking kiri",
  },
  en: {
    finger_title: "Fingerprints",
    finger_reader: "Reader",
    finger_position: "Finger",
    finger_scan: "Scan finger",
    finger_clear: "Clear",
    finger_waiting: "Place the {finger} in the middle of the reader…",
    finger_waiting_any: "Place a finger in the middle of the reader…",
    finger_taken: "{finger} read.",
    finger_taken_any: "Fingerprint read.",
    finger_kept: "{finger}: kept ({n} of {need} times).",
    finger_refused: "{finger}: not clear enough yet, again please.",
    finger_complete: "Fingerprints complete.",
    finger_more: "{fingers} fingers needed, {need} times each.",
    finger_no_reader: "No fingerprint reader for this place.",
    reader_absent: "(not connected)",
    reader_busy: "(in use)",
    finger_1: "right thumb", finger_2: "right index finger", finger_3: "right middle finger",
    finger_4: "right ring finger", finger_5: "right little finger", finger_6: "left thumb",
    finger_7: "left index finger", finger_8: "left middle finger", finger_9: "left ring finger",
    finger_10: "left little finger",
  },
};

/** This module's word for `key` in the page's chosen language. */
export function fingerWord(language, key, vars = {}) {
  return format(WORDS[language.lang]?.[key] ?? WORDS.id[key] ?? key, vars);
}

/** The readers the caller may use: [{name, state, problem, ...}]. */
export async function listReaders(api) {
  return api("GET", "/v1/readers");
}

/** One capture: the service's answer (image_png base64, usable, reasons, quality...). */
export async function captureFinger(api, reader, position) {
  return api("POST", `/v1/readers/${encodeURIComponent(reader)}/capture`,
    { body: { position, timeout_s: CAPTURE_TIMEOUT_S } });
}

/** The captured PNG (base64) as a Blob, to send on as a finger image. */
export function pngBlob(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}

/** Fill a <select> with finger positions, keeping the one chosen. */
export function fillPositions(select, language, positions = POSITIONS) {
  const chosen = select.value;
  select.replaceChildren(...positions.map((p) => {
    const option = document.createElement("option");
    option.value = String(p);
    option.textContent = fingerWord(language, `finger_${p}`);
    return option;
  }));
  if (chosen) select.value = chosen;
}

/** Fill a <select> with readers, saying which are absent or busy. */
export function fillReaders(select, readers, language) {
  const chosen = select.value;
  select.replaceChildren(...readers.map((r) => {
    const option = document.createElement("option");
    option.value = r.name;
    const note = r.state === "absent" ? ` ${fingerWord(language, "reader_absent")}`
      : r.state === "busy" ? ` ${fingerWord(language, "reader_busy")}` : "";
    option.textContent = `${r.name}${note}`;
    return option;
  }));
  if (chosen && readers.some((r) => r.name === chosen)) select.value = chosen;
}
