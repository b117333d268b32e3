"""The desk's duplicate check by fingers (issue 12): each impression enrolled to a person is
searched against every other searchable person's enrolled fingers at the site.

The face check before a commit misses someone enrolled again under another name with a photo
that does not look like them; their fingers do not change. Fingers are enrolled after the
identity is saved, so the check runs on each kept impression, before it is stored: the people
found come back with the enrolment's answer and go into its audit event, so a finding is never
lost. It is the desk's duplicate check (kind `desk_duplicate`, investigation mode: an officer
reviews), so it decides at that kind's target FPIR, taken over the templates searched as the
gate's finger searches take theirs (FingerService.fpir_threshold). Every finger of every other
person is compared, not only the same position: a finger given as another at a second enrolment
must still be found. A visitor or staff member whose fingers are an active inmate's is flagged
`inmate_lookalike`, as the face check flags a face (enrollment/desk_guard.py).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from enrollment.db import Database
from enrollment.desk_guard import is_inmate_lookalike
from enrollment.duplicates import SEARCHABLE_STATUSES
from enrollment.fingers import FingerFeedback, FingerService
from enrollment.records import Identity
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from models.fingerprint import mcc
from models.fingerprint.identify import Candidate
from models.fingerprint.minutiae import MinutiaeTemplate


@dataclass(frozen=True)
class FingerDuplicate:
    """Another person whose enrolled finger matches the impression."""

    identity_id: str
    full_name: str
    role: str
    status: str
    registration_number: str | None
    position: int | None  # their finger (ISO position) that matched
    score: float
    threshold: float
    inmate_lookalike: bool

    def body(self) -> dict[str, Any]:
        """As the desk shows it."""
        return {
            **asdict(self),
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
        }

    def audit(self) -> dict[str, Any]:
        """As the audit event keeps it: who and how alike (the name stays in the record)."""
        body = self.body()
        return {k: body[k] for k in ("identity_id", "role", "status", "position", "score",
                                     "inmate_lookalike")}  # fmt: skip


@dataclass(frozen=True)
class FingerDuplicateCheck:
    """What one impression's search found, and the setting it was decided in."""

    duplicates: list[FingerDuplicate]  # best first
    threshold: float
    target_fpir: float
    calibrated_fmr_point: float
    strict_enough: bool  # the calibration reaches the per-comparison FMR the target needs
    templates_searched: int
    fingers_searched: int  # distinct (person, finger) pairs
    people_searched: int

    def audit(self) -> dict[str, Any]:
        """The audit event's `duplicate_check`."""
        return {
            "kind": "desk_duplicate", "candidates": [d.audit() for d in self.duplicates],
            "threshold": round(self.threshold, 6), "target_fpir": self.target_fpir,
            "calibrated_fmr_point": self.calibrated_fmr_point, "strict_enough": self.strict_enough,
            "templates_searched": self.templates_searched, "fingers_searched": self.fingers_searched,
            "people_searched": self.people_searched,
        }  # fmt: skip


def duplicates_of(
    found: list[Candidate],
    threshold: float,
    people: dict[str, Identity],
    enrolling_role: str,
) -> list[FingerDuplicate]:
    """The people at or above the threshold as the desk shows them, best first."""
    out = []
    for candidate in sorted(found, key=lambda c: -c.score):
        person = people.get(str(candidate.person))
        if candidate.score < threshold or person is None:
            continue
        lookalike = is_inmate_lookalike(enrolling_role, person.role, person.status)
        out.append(FingerDuplicate(person.id, person.full_name, person.role, person.status,
                                   person.registration_number, candidate.position,
                                   candidate.score, threshold, lookalike))  # fmt: skip
    return out


class DeskFingerEnrolment:
    """Finger enrolment at the desk, with the duplicate check on each kept impression."""

    def __init__(
        self, db: Database, vault: Vault, fingers: FingerService, target_fpir: float
    ) -> None:
        self.db, self.vault, self.fingers, self._target_fpir = db, vault, fingers, target_fpir
        # Search and store as one step: two desks enrolling the same finger to two people at
        # once would otherwise each search before the other's impression is stored.
        self._lock = threading.Lock()

    def enrol(
        self, identity_id: str, position: int, image: npt.NDArray[np.uint8], ppi: int, actor: str
    ) -> tuple[FingerFeedback, FingerDuplicateCheck | None]:
        """FingerService.enrol, and the check of the impression if it was kept."""
        checks: list[FingerDuplicateCheck] = []

        def screen(template: MinutiaeTemplate) -> dict[str, Any]:
            checks.append(self.check(identity_id, template))
            return {"duplicate_check": checks[-1].audit()}

        with self._lock:
            feedback = self.fingers.enrol(identity_id, position, image, ppi, actor, screen)
        return feedback, checks[0] if checks else None

    def check(self, identity_id: str, template: MinutiaeTemplate) -> FingerDuplicateCheck:
        """Everyone else searchable whose fingers match this impression."""
        with reading(self.db, self.vault) as uow:
            role = uow.identities.get(identity_id).role  # IdentityNotFound before any search
            searchable = self._searchable(uow.connection, identity_id)
        found, searched = self.fingers.search_among(
            mcc.with_cylinders(template), searchable.__contains__
        )
        target = self._target_fpir
        threshold, point, strict = self.fingers.fpir_threshold(target, len(searched))
        matching = {str(c.person) for c in found if c.score >= threshold}
        with reading(self.db, self.vault) as uow:
            people = {i: uow.identities.get(i) for i in matching}
        return FingerDuplicateCheck(
            duplicates_of(found, threshold, people, role), threshold, target, point, strict,
            len(searched), len(set(searched.values())), len({p for p, _ in searched.values()}),
        )  # fmt: skip

    @staticmethod
    def _searchable(tx: sqlite3.Connection, identity_id: str) -> frozenset[str]:
        """People with fingers whose status the desk's duplicate check searches, but this one."""
        marks = ", ".join("?" * len(SEARCHABLE_STATUSES))
        rows = tx.execute(
            "SELECT DISTINCT f.identity_id FROM finger_templates f JOIN identities i"
            f" ON i.id = f.identity_id WHERE i.status IN ({marks}) AND i.id != ?",
            (*SEARCHABLE_STATUSES, identity_id),
        ).fetchall()
        return frozenset(str(r[0]) for r in rows)
