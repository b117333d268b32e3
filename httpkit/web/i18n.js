// Two languages, Indonesian first. A page keeps its words in a strings module
// ({id: {...}, en: {...}}) and hands them to a Language, which also remembers the choice in the
// storage the page passes (the desk per session, the kiosk per terminal). Server messages arrive
// in both languages ({id, en}) and are shown in the chosen one, Indonesian when it is missing.

import { $$ } from "/web/shared/dom.js";

export const LANGUAGES = ["id", "en"];

/** `text` with each {name} replaced by vars[name]. */
export function format(text, vars = {}) {
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** A server message ({id, en}) in `lang`, falling back to Indonesian. */
export function messageIn(message, lang) {
  return message?.[lang] || message?.id || "";
}

export class Language {
  constructor(strings, storage, storageKey) {
    this.strings = strings;
    this.storage = storage;
    this.storageKey = storageKey;
    const saved = storage.getItem(storageKey);
    this.lang = LANGUAGES.includes(saved) ? saved : "id";
  }

  /** The language not chosen. */
  get other() { return this.lang === "id" ? "en" : "id"; }

  /** The page's word for `key` in the chosen language (Indonesian, then the key, if missing). */
  t(key, vars = {}) { return this.in(this.lang, key, vars); }

  /** The page's word for `key` in `lang`. */
  in(lang, key, vars = {}) {
    return format(this.strings[lang]?.[key] ?? this.strings.id[key] ?? key, vars);
  }

  /** A server message ({id, en}) in the chosen language. */
  message(message) { return messageIn(message, this.lang); }

  /** Switch Indonesian <-> English and remember it. */
  toggle() {
    this.lang = this.other;
    this.storage.setItem(this.storageKey, this.lang);
  }

  /** Relabel every [data-i18n] element under `root`. */
  translate(root) {
    $$("[data-i18n]", root).forEach((el) => { el.textContent = this.t(el.dataset.i18n); });
  }

  /** Relabel what every page has: its language, title, [data-i18n] elements and the toggle. */
  translatePage(doc, toggleButton) {
    doc.documentElement.lang = this.lang;
    doc.title = `Gerbang — ${this.t("title")}`;
    this.translate(doc);
    toggleButton.textContent = this.t("other_language");
  }
}
