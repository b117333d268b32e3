// The desk's identity form: what each role must fill in, the hint under each field as it is
// typed, and the identity body sent on commit. Every function takes the form element, the role
// chosen and the page's Language explicitly.

import { $, $$ } from "/web/shared/dom.js";
import {
  UUID, ageProblem, checkNik, checkNip, checkRegistration, isoDate, parseDate, showDate,
} from "./identity-checks.js";

const REQUIRED = {
  inmate: ["full_name", "birth_date", "sex", "registration_number"],
  staff: ["full_name", "birth_date", "sex", "nip"],
  visitor: ["full_name", "birth_date", "sex", "nik", "consent"],
};
const CHECKED = ["full_name", "birth_date", "sex", "registration_number", "nip", "nik", "admission_date", "visit_inmate", "consent"];
const BY_ROLE = {
  inmate: ["registration_number", "admission_date", "case_reference", "cell_block"],
  staff: ["nip", "phone"],
  visitor: ["nik", "phone"],
};

/** A field's value, trimmed; the sex chosen ("" when none); the consent box as a boolean. */
export function formValue(form, name) {
  if (name === "sex") return form.querySelector('input[name="sex"]:checked')?.value || "";
  if (name === "consent") return form.consent.checked;
  return form.elements[name].value.trim();
}

// null (nothing to say) or [key, vars]: a problem, or "ok"/"*_ok" for a positive hint.
function fieldProblem(form, name, role) {
  const value = formValue(form, name);
  const birth = parseDate(formValue(form, "birth_date"));
  const sex = formValue(form, "sex") || null;
  if (!value) return REQUIRED[role]?.includes(name) ? ["required"] : null;
  switch (name) {
    case "birth_date": return birth ? ageProblem(birth) || ["date_ok", { born: birth }] : ["date_format"];
    case "admission_date": return parseDate(value) ? ["date_ok", { born: parseDate(value) }] : ["date_format"];
    case "nik": return checkNik(value, birth, sex);
    case "nip": return checkNip(value, birth, sex);
    case "registration_number": return checkRegistration(value);
    case "visit_inmate": return UUID.test(value) ? ["ok"] : ["visit_inmate_format"];
    default: return null;
  }
}

/** Show `text` under the field, good or bad ("" clears it), and mark the input. */
export function setHint(form, name, kind, text) {
  const hint = $(`[data-for="${name}"]`, form);
  if (!hint) return false;
  hint.textContent = text;
  hint.className = `hint ${kind}`;
  form.querySelector(`[name="${name}"]`)?.setAttribute("aria-invalid", String(kind === "bad"));
  return true;
}

/** Show the field's hint; true when the field is fine. */
export function validateField(form, name, role, language) {
  const problem = fieldProblem(form, name, role);
  if (!problem) { setHint(form, name, "", ""); return true; }
  const [key, vars = {}] = problem;
  const words = { ...vars };
  if (vars.sex) words.sex = language.t(`sex_word_${vars.sex}`);
  if (vars.born) words.date = showDate(vars.born, language.lang); // the page's language, not the browser's
  const good = key === "ok" || key.endsWith("_ok");
  setHint(form, name, good ? "good" : "bad", language.t(key, words));
  return good;
}

/** Check every field the role shows; the first bad one's name, or null. */
export function validateAll(form, role, language) {
  const shown = CHECKED.filter((n) => !$(`[data-for="${n}"]`, form)?.closest("[hidden]"));
  const bad = shown.filter((n) => !validateField(form, n, role, language));
  return bad[0] || null;
}

/** Re-check the fields already typed in (after a language switch). */
export function revalidateTouched(form, role, language) {
  $$("input", form).forEach((input) => {
    if (input.dataset.touched) validateField(form, input.name, role, language);
  });
}

/** Show only the fields of `role`. */
export function showRoleFields(form, role) {
  $$("[data-roles]", form).forEach((el) => { el.hidden = !el.dataset.roles.split(" ").includes(role); });
}

/** The typed values "same person" can keep over a joined record's: {field: [shown, sent]}. */
export function typedForReconcile(form, language) {
  const born = parseDate(formValue(form, "birth_date"));
  const sex = formValue(form, "sex");
  const aliases = formValue(form, "aliases").split(",").map((a) => a.trim()).filter(Boolean);
  const typed = {};
  if (formValue(form, "full_name")) typed.full_name = [formValue(form, "full_name"), formValue(form, "full_name")];
  if (born) typed.birth_date = [showDate(born, language.lang), isoDate(born)];
  if (sex) typed.sex = [language.t(`sex_${sex}`), sex];
  if (aliases.length) typed.aliases = [aliases.join(", "), aliases];
  return typed;
}

/** Empty the form, its hints and its marks. */
export function clearForm(form) {
  form.reset();
  $$("input", form).forEach((input) => { delete input.dataset.touched; input.removeAttribute("aria-invalid"); });
  form.visit_inmate.value = ""; // hidden: form.reset() keeps a hidden input's value
  $$(".hint", form).forEach((hint) => { hint.textContent = ""; hint.className = "hint"; });
}

/** The identity to create, as the commit endpoint takes it. */
export function identityBody(form, role, language) {
  const value = (name) => formValue(form, name) || null;
  const date = (name) => { const d = parseDate(formValue(form, name)); return d ? isoDate(d) : null; };
  const body = {
    full_name: formValue(form, "full_name"),
    birth_date: date("birth_date"),
    sex: value("sex"),
    aliases: formValue(form, "aliases").split(",").map((a) => a.trim()).filter(Boolean),
  };
  BY_ROLE[role].forEach((name) => { body[name] = name === "admission_date" ? date(name) : value(name); });
  if (role === "visitor") {
    body.consent_purpose = formValue(form, "consent") ? language.t("consent_purpose") : null;
    if (value("visit_inmate")) {
      body.visits = [{ inmate_id: value("visit_inmate"), relationship: value("visit_relationship") || "-" }];
    }
  }
  return body;
}
