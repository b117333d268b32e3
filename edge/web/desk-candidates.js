// The desk's look-alikes: the local and national candidates of a duplicate check, and the card on
// which the officer compares photos and decides "same person" or "different person". An active
// Warga Binaan resembling a visitor or staff enrolment is a red warning that needs a supervisor.
// A candidate carries a face score and, when the site has fingers for it, a finger score; "same
// person" with someone here shows what was typed against what is stored, for the officer to choose.

import { $, $$, element, fromTemplate } from "/web/shared/dom.js";
import { parseDate, showDate } from "./identity-checks.js";

const RECONCILED = ["full_name", "birth_date", "sex", "aliases"];

/** Local candidates, then those the national registry holds at other sites (no photo here). */
export function allCandidates(body) {
  return [...(body?.candidates || []),
    ...(body?.national_candidates || []).map((c) => ({ ...c, national: true }))];
}

/**
 * A card for `candidate` from `template`, showing `choice` ({decision, reason, missingReason});
 * `onDecide(decision)` and `onReason(text)` hear the officer.
 */
export function candidateCard(template, candidate, {
  choice, captureUrl, language, onDecide, onReason, typed = {}, onKeep = () => {},
}) {
  const t = (key, vars) => language.t(key, vars);
  const card = fromTemplate(template);
  card.dataset.identityId = candidate.identity_id;
  card.classList.toggle("national", Boolean(candidate.national));
  card.classList.toggle("lookalike", Boolean(candidate.inmate_lookalike));
  language.translate(card);
  $("[data-testid=inmate-lookalike]", card).hidden = !candidate.inmate_lookalike;
  const finger = candidate.finger_score ?? candidate.scores?.finger;
  $$(".finger-only", card).forEach((el) => { el.hidden = finger === undefined || finger === null; });
  if (finger !== undefined && finger !== null) $(".c-finger", card).textContent = Number(finger).toFixed(3);
  $(".current", card).src = captureUrl || "";
  $(".current", card).alt = t("current_capture");
  const theirs = $(".theirs", card);
  if (candidate.photo) theirs.src = candidate.photo; else theirs.alt = t("photo_missing");
  if (candidate.national) {
    const site = candidate.site_name || candidate.site_id || "—";
    theirs.nextElementSibling.textContent = t("photo_at_site", { site });
    $(".c-site", card).textContent = candidate.site_id ? `${site} (${candidate.site_id})` : site;
    $(".c-number", card).textContent =
      candidate.registration_number || candidate.nik || candidate.nip || "—";
  }
  $(".c-name", card).textContent = candidate.full_name || "—";
  $(".c-role", card).textContent = t(`role_${candidate.role}`);
  $(".c-status", card).textContent = t(`status_${candidate.status}`);
  $(".c-score", card).textContent = Number(candidate.score).toFixed(3);
  $(".c-id", card).textContent = candidate.identity_id;
  renderChoice(card, choice);
  if (choice.decision === "same_person" && !candidate.national) {
    renderReconcile($(".reconcile", card), candidate, typed, choice.keep || {}, language, onKeep);
  }
  $(".same", card).addEventListener("click", () => onDecide("same_person"));
  $(".different", card).addEventListener("click", () => onDecide("different_person"));
  const reason = $("textarea", card);
  reason.addEventListener("input", () => {
    onReason(reason.value);
    $(".reason .hint", card).hidden = true;
  });
  return card;
}

function renderChoice(card, choice) {
  const [same, different] = $$(".same, .different", card);
  same.setAttribute("aria-pressed", String(choice.decision === "same_person"));
  different.setAttribute("aria-pressed", String(choice.decision === "different_person"));
  $(".reason", card).hidden = choice.decision !== "different_person";
  $("textarea", card).value = choice.reason || "";
  $(".reason .hint", card).hidden = !(choice.decision === "different_person" && choice.missingReason);
}

function storedText(candidate, field, language) {
  const stored = { ...(candidate.stored || {}), full_name: candidate.full_name };
  const value = stored[field];
  if (value === null || value === undefined || (Array.isArray(value) && !value.length)) return "";
  if (field === "birth_date") { const d = parseDate(value); return d ? showDate(d, language.lang) : value; }
  if (field === "sex") return language.t(`sex_${value}`);
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Typed against stored, for each field that differs; the officer keeps one (stored by default). */
function renderReconcile(table, candidate, typed, keep, language, onKeep) {
  const rows = RECONCILED.filter((field) => typed[field] && typed[field][0] !== storedText(candidate, field, language))
    .map((field) => {
      const row = element("tr", { testid: "reconcile-row" });
      row.dataset.field = field;
      row.append(element("th", { text: language.t(field) }));
      for (const [which, text] of [["typed", typed[field][0]], ["stored", storedText(candidate, field, language) || "—"]]) {
        const cell = element("td");
        const label = element("label", { className: "inline" });
        const radio = element("input", { testid: `keep-${which}` });
        radio.type = "radio";
        radio.name = `keep-${candidate.identity_id}-${field}`;
        radio.checked = (keep[field] || "stored") === which;
        radio.addEventListener("change", () => onKeep(field, which));
        label.append(radio, ` ${text}`);
        cell.append(label);
        row.append(cell);
      }
      return row;
    });
  $("tbody", table).replaceChildren(...rows);
  table.hidden = !rows.length;
}
