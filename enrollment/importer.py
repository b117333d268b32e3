"""Bulk import of a prison-database export: each row enrolled through the desk's own commit path.

Per row: the registration data is validated (`export_rows`), each photo goes through a capture
session like a desk frame, and the enrolment service commits identity, images, templates, outbox
row and audit event in one transaction. A likely duplicate (in the gallery, or earlier in the same
file) is flagged with its candidates and its session left open for the desk; nothing is merged.

Archive photos are scans of prints, so the importer's service skips the liveness check and needs
one accepted photo per person; every other frame rule still applies. A photo the rules refuse (a
side view, a second person) is left out and named in the report; the row is refused only when
none of its photos is accepted.

Resume: `import_id` is the sha256 of the file (and of its column mapping, if any) and
`import_rows` records each row's state, so the same file run again skips imported and flagged
rows. Rejected rows are tried again: a photo put in place or rescanned in the folder (which is
not part of the import's identity) can change their outcome, and a row whose own values are
wrong is refused again at once. The commit and the row's mark are two transactions (the
service owns its own); a crash between them leaves the row `pending` with its identity committed.
That identity carries `details.import = {import_id, row_id}`, and the re-run, which checks every
row's identity numbers before enrolling, recognises it and marks the row instead of enrolling twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from enrollment.audit import now_iso
from enrollment.captures import CapturePolicy
from enrollment.column_mapping import ColumnMapping
from enrollment.db import Database
from enrollment.export_rows import (
    ExportRow,
    draft_fields,
    identity_numbers,
    load_photos,
    read_export,
)
from enrollment.import_errors import PhotoFolderMissing
from enrollment.service import (
    CommitResult,
    EnrolmentService,
    IdentityNumberTaken,
    PossibleDuplicate,
)
from enrollment.unit_of_work import unit_of_work
from kernel.errors import GerbangError, Message

DONE_STATES = ("imported", "flagged")  # a re-run skips these; rejected rows are tried again
REPORT_COLUMNS = (
    "row_id", "line", "state", "identity_id", "code", "reason_en", "reason_id", "candidates", "details",
)  # fmt: skip
AfterCommit = Callable[[str, CommitResult], None]


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row; a refused or flagged row carries a code and both messages."""

    state: str
    identity_id: str | None = None
    session_id: str | None = None
    code: str | None = None
    message: Message | None = None
    details: dict[str, Any] = field(default_factory=dict)
    recovered: bool = False

    @classmethod
    def refused(cls, state: str, error: GerbangError, session_id: str | None = None) -> RowOutcome:
        """A rejected or flagged row, described by the error that stopped it."""
        return cls(state, None, session_id, error.code, error.message, error.details)


@dataclass
class ImportSummary:
    """Counts of one run; `skipped` rows were finished by an earlier run of the same file."""

    import_id: str
    total: int
    report: Path
    imported: int = 0
    rejected: int = 0
    flagged: int = 0
    skipped: int = 0
    recovered: int = 0
    seconds: float = 0.0
    unresolved: int = 0  # rejected or flagged rows of this file, over every run

    def add(self, outcome: RowOutcome) -> None:
        """Count one processed row."""
        name = "recovered" if outcome.recovered else outcome.state
        setattr(self, name, getattr(self, name) + 1)

    @property
    def persons_per_second(self) -> float:
        """Rows processed by this run per second of it."""
        done = self.imported + self.rejected + self.flagged + self.recovered
        return done / self.seconds if self.seconds > 0 else 0.0


class ImportLedger:
    """The `import_rows` of one import; each mark is its own transaction."""

    def __init__(self, db: Database, import_id: str) -> None:
        self.db = db
        self.import_id = import_id

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every recorded row by row_id."""
        with self.db.reading() as tx:
            found = tx.execute("SELECT * FROM import_rows WHERE import_id = ?", (self.import_id,))
            return {r["row_id"]: dict(r) for r in found}

    def mark(self, row_id: str, outcome: RowOutcome) -> None:
        """Record a row's state (replacing an earlier one)."""
        o, message = outcome, outcome.message
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO import_rows (import_id, row_id, state, identity_id, session_id, code, reason, reason_id, details, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (import_id, row_id) DO UPDATE SET state = excluded.state,"
                " identity_id = excluded.identity_id, session_id = excluded.session_id, code = excluded.code,"
                " reason = excluded.reason, reason_id = excluded.reason_id, details = excluded.details, updated_at = excluded.updated_at",
                (self.import_id, row_id, o.state, o.identity_id, o.session_id, o.code,
                 message.en if message else None, message.id if message else None,
                 json.dumps(o.details, default=str), now_iso()),
            )  # fmt: skip

    def row_of(self, identity_id: str) -> str | None:
        """The row of this import that created an identity, if any."""
        with self.db.reading() as tx:
            found = tx.execute(
                "SELECT row_id FROM import_rows WHERE import_id = ? AND identity_id = ?",
                (self.import_id, identity_id),
            ).fetchone()
        return found[0] if found else None


class ExportImporter:
    """Imports export files into one site, through an enrolment service set up for archives."""

    def __init__(self, service: EnrolmentService, officer: str, progress: bool = True) -> None:
        self.service = service
        self.officer = officer
        self.progress = progress

    def run(
        self,
        csv_path: Path,
        photos_dir: Path,
        report: Path | None = None,
        after_commit: AfterCommit | None = None,
        mapping: ColumnMapping | None = None,
    ) -> ImportSummary:
        """Import (or resume) a file, read through `mapping` if given; write the report.

        `after_commit` runs between a row's commit and its mark: the crash tests raise there.
        """
        if not photos_dir.is_dir():  # an unmounted USB stick: refuse before any row is marked
            raise PhotoFolderMissing(folder=str(photos_dir))
        data = csv_path.read_bytes()
        digest = hashlib.sha256(data)
        if mapping is not None:  # a corrected mapping is a new import: its rows are read again
            digest.update(mapping.model_dump_json().encode())
        import_id = digest.hexdigest()
        rows = read_export(data, import_id, self.officer, mapping)
        ledger = ImportLedger(self.service.db, import_id)
        recorded = ledger.rows()
        for entry in recorded.values():
            if entry["state"] == "pending" and entry["session_id"]:
                self._abandon(entry["session_id"])
        todo = [r for r in rows if recorded.get(r.row_id, {}).get("state") not in DONE_STATES]
        summary = ImportSummary(import_id, len(rows), report or csv_path.with_suffix(".report.csv"))
        summary.skipped = len(rows) - len(todo)
        started = time.perf_counter()
        with tqdm(
            total=len(rows),
            initial=summary.skipped,
            unit="person",
            disable=None if self.progress else True,
        ) as bar:
            for row in todo:
                outcome = self._row(row, photos_dir, ledger, after_commit)
                ledger.mark(row.row_id, outcome)
                summary.add(outcome)
                bar.update()
        summary.seconds = time.perf_counter() - started
        recorded = ledger.rows()
        summary.unresolved = sum(e["state"] in ("rejected", "flagged") for e in recorded.values())
        write_report(summary.report, rows, recorded)
        self._audit(summary, csv_path)
        return summary

    def _row(
        self,
        row: ExportRow,
        photos_dir: Path,
        ledger: ImportLedger,
        after_commit: AfterCommit | None,
    ) -> RowOutcome:
        if row.draft is None:
            return RowOutcome.refused("rejected", row.error)  # type: ignore[arg-type]
        try:
            earlier = self._already_enrolled(row)
            photos = [] if earlier else load_photos(row, photos_dir)
        except GerbangError as exc:
            return RowOutcome.refused("rejected", exc)
        if earlier is not None:
            return earlier
        session_id = self.service.start_session(row.draft.role, self.officer)
        ledger.mark(row.row_id, RowOutcome("pending", session_id=session_id))
        left_out = self._capture(session_id, photos)
        if left_out and len(left_out) == len(photos):  # none accepted: the row waits
            self._abandon(session_id)
            first = left_out[0]["reasons"][0]
            message = Message(first["id"], first["en"])
            details = {"photo": left_out[0]["photo"], "reasons": left_out[0]["reasons"]}
            if len(left_out) > 1:
                details["photos_refused"] = left_out
            return RowOutcome("rejected", None, session_id, first["code"], message, details)
        outcome = self._commit(row, session_id, ledger, after_commit)
        if left_out and outcome.state != "rejected":  # the report names what was left out
            refused = [{"photo": p["photo"], "code": p["reasons"][0]["code"]} for p in left_out]
            outcome = replace(outcome, details={**outcome.details, "photos_left_out": refused})
        return outcome

    def _already_enrolled(self, row: ExportRow) -> RowOutcome | None:
        """This row's identity from a run that crashed before marking it; refuse a number taken by another."""
        numbers = identity_numbers(row.draft)  # type: ignore[arg-type]
        if not numbers:
            return None
        where = " OR ".join(f"{column} = ?" for column in numbers)
        with self.service.db.reading() as tx:
            found = tx.execute(
                f"SELECT id, details FROM identities WHERE {where}", tuple(numbers.values())
            ).fetchone()
        if found is None:
            return None
        if json.loads(found["details"]).get("import", {}).get("row_id") == row.row_id:
            return RowOutcome("imported", identity_id=found["id"], recovered=True)
        taken = IdentityNumberTaken(reason="the number belongs to an identity already enrolled")
        taken.details["identity_id"] = found["id"]
        raise taken

    def _capture(self, session_id: str, photos: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Add each photo as a frame; return those refused, each with its reasons."""
        refused = []
        for name, data in photos:
            feedback = self.service.add_frame(session_id, data)
            if not feedback.accepted:
                refused.append({"photo": name, "reasons": feedback.reasons})
        return refused

    def _commit(
        self,
        row: ExportRow,
        session_id: str,
        ledger: ImportLedger,
        after_commit: AfterCommit | None,
    ) -> RowOutcome:
        try:
            result = self.service.commit(session_id, row.draft, [], self.officer)
        except PossibleDuplicate as exc:
            for candidate in exc.details["candidates"]:
                candidate["row_id"] = ledger.row_of(candidate["identity_id"])
            exc.details["session_id"] = session_id  # left open: the desk decides, then commits
            exc.details["draft"] = draft_fields(row.draft)  # what the desk's form is filled with
            return RowOutcome.refused("flagged", exc, session_id)
        except GerbangError as exc:
            self._abandon(session_id)
            return RowOutcome.refused("rejected", exc, session_id)
        if after_commit is not None:
            after_commit(row.row_id, result)
        return RowOutcome("imported", identity_id=result.identity_id, session_id=session_id)

    def _abandon(self, session_id: str) -> None:
        with unit_of_work(self.service.db, self.service.vault) as uow:
            if uow.captures.session(session_id, must_be_open=False)["state"] == "open":
                uow.captures.close(session_id, "abandoned")

    def _audit(self, summary: ImportSummary, csv_path: Path) -> None:
        counts = {
            k: getattr(summary, k)
            for k in ("total", "imported", "rejected", "flagged", "skipped", "recovered")
        }
        with unit_of_work(self.service.db, self.service.vault) as uow:
            uow.audit(
                self.officer, "import.run", summary.import_id, {"file": csv_path.name, **counts}
            )


def write_report(path: Path, rows: list[ExportRow], recorded: dict[str, dict[str, Any]]) -> None:
    """Every row of the file in file order, with its state and, when refused, why (both languages)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, REPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            entry = recorded.get(row.row_id, {"state": "not_processed", "details": "{}"})
            details = json.loads(entry["details"])
            writer.writerow({
                "row_id": row.row_id, "line": row.line, "state": entry["state"],
                "identity_id": entry.get("identity_id") or "", "code": entry.get("code") or "",
                "reason_en": entry.get("reason") or "", "reason_id": entry.get("reason_id") or "",
                "candidates": _candidates_text(details.get("candidates", [])),
                "details": json.dumps(details, ensure_ascii=False, sort_keys=True) if details else "",
            })  # fmt: skip
    partial.replace(path)


def _candidates_text(candidates: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{c['identity_id']} score {c['score']:.3f}"
        + (f" row {c['row_id']}" if c.get("row_id") else "")
        for c in candidates
    )


def archive_policy(policy: CapturePolicy) -> CapturePolicy:
    """The desk's capture rules for archive photos: scans cannot pass liveness, one photo is enough."""
    return replace(policy, require_liveness=False, min_captures=1)
