"""An officer's decision about a held import: a new person, or the same person as one candidate.

The decision goes through the desk's own commit (`EnrolmentService.commit`): every candidate must
be answered, 'different person' needs a reason, the registration data is validated, and the
identity, images, templates, outbox row and audit event land in one transaction. The received
fingerprints are then enrolled through the fingerprint service's quality check, each impression
on its own (a refused one is reported, not fatal), and the import is marked decided.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from PIL import Image

from enrollment.audit import now_iso
from enrollment.duplicates import OfficerDecision
from enrollment.exchange.transaction import FingerImage, parse
from enrollment.fingers import FingerService
from enrollment.records import IdentityDraft
from enrollment.service import DeskSignOff, EnrolmentService
from enrollment.unit_of_work import reading, unit_of_work
from enrollment.vault import aad_for
from kernel.errors import Conflict, Message, NotFound


class ImportNotFound(NotFound):
    code = "exchange_import_not_found"
    message = Message("Impor pertukaran data ini tidak ada.", "No such exchange import.")


class ImportDecided(Conflict):
    code = "exchange_import_decided"
    message = Message(
        "Impor ini sudah diputuskan; tidak bisa diputuskan dua kali.",
        "This import was already decided; it cannot be decided twice.",
    )


@dataclass(frozen=True)
class DecisionOutcome:
    """The identity the held person became (or joined), and what became of the fingerprints."""

    import_id: str
    identity_id: str
    created: bool
    fingers_enrolled: int
    fingers_refused: list[dict[str, Any]] = field(default_factory=list)


def _draft(body: dict[str, Any]) -> IdentityDraft:
    born = body.get("birth_date")
    return IdentityDraft(
        role=body["role"], full_name=body["full_name"],
        birth_date=date.fromisoformat(born) if born else None, sex=body.get("sex"),
        aliases=tuple(body.get("aliases") or ()), nik=body.get("nik"), nip=body.get("nip"),
        registration_number=body.get("registration_number"), details=body.get("details") or {},
    )  # fmt: skip


def _pixels(finger: FingerImage) -> np.ndarray:
    if finger.compression == "NONE":
        return np.frombuffer(finger.data, np.uint8).reshape(finger.height, finger.width)
    with Image.open(io.BytesIO(finger.data)) as image:
        return np.asarray(image.convert("L"))


class ImportDecider:
    """Turns a held import into an enrolment once an officer has answered every candidate."""

    def __init__(self, service: EnrolmentService, fingers: FingerService | None) -> None:
        self.service, self.fingers = service, fingers

    def decide(
        self, import_id: str, same_as: str | None, reason: str, actor: str,
        supervisor: str | None = None,
    ) -> DecisionOutcome:  # fmt: skip
        """Commit the held session: a new person (every candidate 'different'), or `same_as`.

        An inmate look-alike or a cross-role join needs `supervisor` (enrollment.desk_guard)."""
        with reading(self.service.db) as uow:
            row = uow.connection.execute(
                "SELECT * FROM exchange_imports WHERE id = ?", (import_id,)
            ).fetchone()
        if row is None:
            raise ImportNotFound(import_id=import_id)
        if row["identity_id"] is not None:
            raise ImportDecided(import_id=import_id, identity_id=row["identity_id"])
        check, _ = self.service.check_duplicates(row["session_id"])
        candidates = [c.identity_id for c in check.local] + [c.identity_id for c in check.national]
        decisions = [
            OfficerDecision(c, "same_person" if c == same_as else "different_person", reason)
            for c in candidates
        ]
        if same_as is not None and same_as not in candidates:
            decisions.append(OfficerDecision(same_as, "same_person", reason))  # refused by resolve
        result = self.service.commit(
            row["session_id"], _draft(json.loads(row["draft"])), decisions, actor,
            guard=DeskSignOff(supervisor),
        )  # fmt: skip
        enrolled, refused = self._fingers(row, result.identity_id, actor)
        with unit_of_work(self.service.db, self.service.vault) as uow:
            uow.connection.execute(
                "UPDATE exchange_imports SET identity_id = ?, state = 'decided', decided_by = ?,"
                " decided_at = ? WHERE id = ?",
                (result.identity_id, actor, now_iso(), import_id),
            )
            uow.audit(actor, "exchange.decided", import_id, {
                "identity_id": result.identity_id, "created": result.created, "same_as": same_as,
                "reason": reason, "fingers_enrolled": enrolled, "fingers_refused": len(refused),
            })  # fmt: skip
        return DecisionOutcome(import_id, result.identity_id, result.created, enrolled, refused)

    def _fingers(self, row: Any, identity_id: str, actor: str) -> tuple[int, list[dict[str, Any]]]:
        if self.fingers is None:
            return 0, []
        aad = aad_for("exchange_imports", "transaction_data", row["id"])
        received = parse(self.service.vault.open(row["transaction_data"], aad)).fingers
        enrolled, refused = 0, []
        for number, finger in enumerate(received, start=1):
            feedback = self.fingers.enrol(
                identity_id, finger.position, _pixels(finger), finger.ppi, actor
            )
            if feedback.accepted:
                enrolled += 1
            else:
                refused.append({"impression": number, "position": finger.position,
                                "reasons": feedback.quality.reasons})  # fmt: skip
        return enrolled, refused
