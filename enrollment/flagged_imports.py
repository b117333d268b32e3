"""Import rows flagged as likely duplicates, finished at the desk.

`gerbang import` leaves such a row's capture session open, with the row's typed data and its
candidates in `import_rows.details`. The desk lists them (`flagged_rows`), opens one in its form,
shows the candidates like a live enrolment and saves through `finish`: the same commit as the
importer's (archive capture rules: one photo, no liveness), then the row is marked imported.
Commit and mark are two transactions, as in the importer: a crash between them leaves the
identity saved and the row flagged with a closed session, which drops it from the list.
"""

from __future__ import annotations

import json
from typing import Any

from enrollment.db import Database
from enrollment.importer import ImportLedger, RowOutcome
from enrollment.records import IdentityDraft
from enrollment.service import CommitResult, DeskSignOff, EnrolmentService, OfficerDecision


def flagged_rows(db: Database) -> list[dict[str, Any]]:
    """Flagged rows whose session is still open, oldest first, with their data and candidates."""
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT r.import_id, r.row_id, r.session_id, r.details, r.updated_at, s.role,"
            " (SELECT COUNT(*) FROM captures c WHERE c.session_id = s.id) AS captures"
            " FROM import_rows r JOIN capture_sessions s ON s.id = r.session_id"
            " WHERE r.state = 'flagged' AND s.state = 'open' ORDER BY r.updated_at, r.row_id"
        ).fetchall()
    listed = []
    for row in rows:
        details = json.loads(row["details"])
        listed.append({
            "import_id": row["import_id"], "row_id": row["row_id"], "session_id": row["session_id"],
            "role": row["role"], "flagged_at": row["updated_at"], "captures": row["captures"],
            "draft": details.get("draft") or {"role": row["role"]},
            "candidates": len(details.get("candidates", [])),
        })  # fmt: skip
    return listed


def import_row_of(db: Database, session_id: str) -> tuple[str, str] | None:
    """(import_id, row_id) when this capture session is a flagged import row's, else None."""
    with db.reading() as tx:
        found = tx.execute(
            "SELECT import_id, row_id FROM import_rows WHERE session_id = ? AND state = 'flagged'",
            (session_id,),
        ).fetchone()
    return (found[0], found[1]) if found else None


def finish(
    service: EnrolmentService,
    session_id: str,
    draft: IdentityDraft | None,
    decisions: list[OfficerDecision],
    officer: str,
    replace_templates: bool = False,
    guard: DeskSignOff | None = None,
) -> CommitResult:
    """Commit a flagged row's session with the officer's decisions; mark the row imported."""
    row = import_row_of(service.db, session_id)
    result = service.commit(session_id, draft, decisions, officer, replace_templates, guard)
    if row is not None:
        outcome = RowOutcome("imported", identity_id=result.identity_id, session_id=session_id)
        ImportLedger(service.db, row[0]).mark(row[1], outcome)
    return result
