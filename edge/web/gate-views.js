// What the kiosk draws from the service's answers: the decision (ADMIT / DENY / ALARM, readable
// from two metres in either language) and the list of visitors inside now. Each function takes
// the root it draws into and the page's Language.

import { $, element } from "/web/shared/dom.js";

const SYMBOLS = { admit: "✓", deny: "✕", alarm: "⚠" };
// A ban is lifted by the site changing the person's status, never by an override at the gate
// (the server refuses it too).
const NOT_OVERRIDABLE = ["visitor_banned", "watchlist_match"];

/** Draw `decision` (an API decision body, or null to hide) with its photo of record (a URL). */
export function renderDecision(box, decision, photo, language) {
  box.hidden = !decision;
  // gate.css lifts the language switch above a full-screen alarm
  document.body.classList.toggle("alarm-up", decision?.result === "alarm");
  if (!decision) return;
  const result = decision.result;
  const word = language.t(`word_${result}`);
  box.className = `result ${result}`;
  box.dataset.result = result;
  $("#result-symbol", box).textContent = SYMBOLS[result] || "";
  $("#result-word", box).textContent = word;
  // The other language's word too, for a visitor or officer who reads the other one.
  const other = language.in(language.other, `word_${result}`);
  $("#result-word-other", box).textContent = other === word ? "" : other;
  renderPerson(box, decision.person, photo, language);
  $("#result-message", box).textContent = decision.message ? language.message(decision.message) : language.t("alarm_open");
  $("#override", box).hidden = result !== "deny" || !decision.event_id || NOT_OVERRIDABLE.includes(decision.reason);
  $("#dismiss", box).hidden = result === "alarm";
  $("#clear-alarm", box).hidden = result !== "alarm";
}

function renderPerson(box, person, photo, language) {
  const image = $("#result-photo", box);
  image.hidden = !photo;
  if (photo) { image.src = photo; image.alt = person?.full_name || ""; }
  $("#result-name", box).textContent = person ? person.full_name : language.t("unknown_person");
  const words = person ? [language.t(`role_${person.role}`)] : [];
  if (person && person.status !== "active") words.push(language.t(`status_${person.status}`));
  $("#result-role", box).textContent = words.join(" · ");
}

/** One visitor inside: their name, whom they visit and since when. */
export function insideItem(visit, language) {
  const item = element("li", { testid: "inside-item" });
  const parts = [language.t("inside_since", { time: clockTime(visit.entry_at, language.lang) })];
  if (visit.inmate_name) parts.unshift(language.t("inside_visiting", { inmate: visit.inmate_name }));
  item.append(element("span", { text: visit.visitor_name, className: "visitor" }),
    element("small", { text: parts.join(" · ") }));
  return item;
}

function clockTime(iso, lang) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso || "";
  return at.toLocaleTimeString(lang === "id" ? "id-ID" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}
