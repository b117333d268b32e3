// The desk's look-alikes: the local and national candidates of a duplicate check, and the card on
// which the officer compares photos and decides "same person" or "different person".

import { $, $$, fromTemplate } from "/web/shared/dom.js";

/** Local candidates, then those the national registry holds at other sites (no photo here). */
export function allCandidates(body) {
  return [...(body?.candidates || []),
    ...(body?.national_candidates || []).map((c) => ({ ...c, national: true }))];
}

/**
 * A card for `candidate` from `template`, showing `choice` ({decision, reason, missingReason});
 * `onDecide(decision)` and `onReason(text)` hear the officer.
 */
export function candidateCard(template, candidate, { choice, captureUrl, language, onDecide, onReason }) {
  const t = (key, vars) => language.t(key, vars);
  const card = fromTemplate(template);
  card.dataset.identityId = candidate.identity_id;
  card.classList.toggle("national", Boolean(candidate.national));
  language.translate(card);
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
