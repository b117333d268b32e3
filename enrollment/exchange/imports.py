"""Import a received ANSI/NIST-ITL transaction: the person goes through the enrolment desk's own
duplicate check, and is never created or merged here.

The whole file is decoded and checked before anything is written (a damaged or truncated file is
refused whole). Its face images become frames of a capture session, judged like desk frames
(without liveness: they are photos of photos); the session stays open, with the received
registration data as its draft, until an officer at the desk commits it with a decision about
every candidate (`POST /v1/captures/{id}/commit`). The import row (sender, case reference,
candidates, the file sealed as received) and its audit event are written in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from enrollment.audit import now_iso
from enrollment.db import Database
from enrollment.exchange.transaction import PersonText, Transaction, parse
from enrollment.records import ROLES
from enrollment.service import EnrolmentService
from enrollment.unit_of_work import reading, unit_of_work
from enrollment.vault import aad_for
from kernel.errors import Conflict, InputError, Message


class AlreadyReceived(Conflict):
    code = "exchange_already_received"
    message = Message(
        "Transaksi ini (pengirim dan nomor kontrol yang sama) sudah pernah diimpor.",
        "This transaction (same sender and control number) was already imported.",
    )


class NoUsableFace(InputError):
    code = "exchange_no_usable_face"
    message = Message(
        "Tidak ada foto wajah dalam transaksi yang lolos pemeriksaan mutu; tidak ada yang diimpor. Minta foto yang lebih baik dari pengirim.",
        "No face image in the transaction passed the quality check; nothing was imported. Ask the sender for better photos.",
    )


class UnknownRole(InputError):
    code = "exchange_role_unknown"
    message = Message(
        "Peran dalam transaksi (2.900) tidak dikenal: harus inmate, staff atau visitor.",
        "The transaction's role (2.900) is unknown: it must be inmate, staff or visitor.",
    )


@dataclass(frozen=True)
class ImportOutcome:
    """A received transaction held for the desk: its session and whom it resembles."""

    import_id: str
    session_id: str
    sender: str
    tcn: str
    case_ref: str | None
    candidates: list[dict[str, Any]]
    national_candidates: list[dict[str, Any]]
    faces: int
    fingers: int


def draft_body(person: PersonText, t: Transaction, case_ref: str | None) -> dict[str, Any]:
    """The registration data as the desk's commit takes it, with where it came from."""
    body = {
        k: v for k, v in asdict(person).items() if k not in ("identity_id", "status", "case_ref")
    }
    body["aliases"] = list(person.aliases)
    body["details"] = {"exchange": {"sender": t.sender, "tcn": t.tcn, "case_ref": case_ref,
                                    "sender_identity_id": person.identity_id}}  # fmt: skip
    return body


class ExchangeImporter:
    """Holds received transactions for the desk, over an enrolment service with archive rules."""

    def __init__(self, service: EnrolmentService) -> None:
        self.service = service

    def run(self, data: bytes, actor: str, case_ref: str | None = None) -> ImportOutcome:
        """Check the whole file, judge its faces, search for duplicates, record; create nobody."""
        t = parse(data)
        if t.person.role not in ROLES:
            raise UnknownRole(role=t.person.role)
        case_ref = case_ref or t.person.case_ref
        with reading(self.service.db) as uow:
            if uow.connection.execute("SELECT 1 FROM exchange_imports WHERE sender = ? AND tcn = ?",
                                      (t.sender, t.tcn)).fetchone():  # fmt: skip
                raise AlreadyReceived(sender=t.sender, tcn=t.tcn)
        session_id = self.service.start_session(t.person.role, actor)
        try:
            refused = self._frames(session_id, t)
            check, local = self.service.check_duplicates(session_id)
            return self._record(data, t, session_id, actor, case_ref, local,
                                [c.body() for c in check.national], refused)  # fmt: skip
        except BaseException:
            self._abandon(session_id)
            raise

    def _frames(self, session_id: str, t: Transaction) -> list[dict[str, Any]]:
        refused = []
        for number, face in enumerate(t.faces, start=1):
            feedback = self.service.add_frame(session_id, face.data)
            if not feedback.accepted:
                refused.append({"face": number, "reasons": feedback.reasons})
        if len(refused) == len(t.faces):
            raise NoUsableFace(refused=refused)
        return refused

    def _record(self, data: bytes, t: Transaction, session_id: str, actor: str, case_ref: str | None,
                local: list[dict[str, Any]], national: list[dict[str, Any]],
                refused: list[dict[str, Any]]) -> ImportOutcome:  # fmt: skip
        import_id, digest = str(uuid.uuid4()), hashlib.sha256(data).hexdigest()
        candidates = [{"identity_id": c["identity_id"], "score": c["score"]} for c in local]
        with unit_of_work(self.service.db, self.service.vault) as uow:
            uow.connection.execute(
                "INSERT INTO exchange_imports (id, tcn, sender, case_ref, file_sha256, transaction_data,"
                " draft, session_id, candidates, imported_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (import_id, t.tcn, t.sender, case_ref, digest, self.service.vault.seal(data, aad_for("exchange_imports", "transaction_data", import_id)),
                 json.dumps(draft_body(t.person, t, case_ref)), session_id,
                 json.dumps(candidates + national, default=str), actor, now_iso()),
            )  # fmt: skip
            uow.audit(actor, "exchange.imported", import_id, {
                "sender": t.sender, "tcn": t.tcn, "case_ref": case_ref, "sha256": digest,
                "session_id": session_id, "candidates": candidates,
                "national_candidates": [c["identity_id"] for c in national],
                "faces": len(t.faces), "faces_refused": len(refused), "fingers": len(t.fingers),
            })  # fmt: skip
        return ImportOutcome(import_id, session_id, t.sender, t.tcn, case_ref, local, national,
                             len(t.faces), len(t.fingers))  # fmt: skip

    def _abandon(self, session_id: str) -> None:
        with unit_of_work(self.service.db, self.service.vault) as uow:
            if uow.captures.session(session_id, must_be_open=False)["state"] == "open":
                uow.captures.close(session_id, "abandoned")


def held_imports(db: Database) -> list[sqlite3.Row]:
    """The imports waiting for a decision, oldest first."""
    with reading(db) as uow:
        return uow.connection.execute(
            "SELECT id, sender, tcn, case_ref, candidates, received_at FROM exchange_imports"
            " WHERE identity_id IS NULL ORDER BY received_at"
        ).fetchall()
