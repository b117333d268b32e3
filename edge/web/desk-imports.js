// Import rows flagged as likely duplicates (`gerbang import`), listed at the desk so an officer
// can open one in the form, look at the candidates and decide, like a live enrolment.

import { $ } from "/web/shared/dom.js";

const FIELDS = ["full_name", "birth_date", "registration_number", "nip", "nik", "admission_date",
  "case_reference", "cell_block", "phone"];

/** The list of flagged rows (hidden when there are none); `onOpen(row)` when one is opened. */
export function renderFlaggedImports(rows, language, onOpen) {
  $("#imports-card").hidden = !rows.length;
  $("#flagged-list").replaceChildren(...rows.map((row) => {
    const item = document.createElement("li");
    item.setAttribute("data-testid", "flagged-row");
    item.dataset.rowId = row.row_id;
    const text = document.createElement("span");
    text.textContent = language.t("import_row", {
      name: row.draft.full_name || "?", role: language.t(`role_${row.role}`),
      row: row.row_id, n: row.candidates,
    });
    const open = document.createElement("button");
    open.type = "button";
    open.setAttribute("data-testid", "open-import");
    open.textContent = language.t("open_import");
    open.addEventListener("click", () => onOpen(row));
    item.append(text, open);
    return item;
  }));
}

/** Fill the form with a row's data, each field marked as typed so its hint shows. */
export function fillForm(form, draft) {
  for (const name of FIELDS) {
    const input = form.elements[name];
    if (!input || draft[name] == null) continue;
    input.value = draft[name];
    input.dataset.touched = "1";
  }
  if (draft.aliases?.length) form.elements.aliases.value = draft.aliases.join(", ");
  const sex = form.querySelector(`input[name="sex"][value="${draft.sex}"]`);
  if (sex) { sex.checked = true; sex.dataset.touched = "1"; }
}
