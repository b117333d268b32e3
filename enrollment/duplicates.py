"""The duplicate check before an enrolment is saved: who the captures resemble at this site (its
gallery) and across the estate (the national registry, when reachable), and whether the officer
has answered for every one of them.

The local search always runs and is the truth for this site's people; the registry's answer only
adds people held elsewhere, and when it cannot be had (offline, timeout, error) that is recorded
with the reason, never mistaken for "nobody". A national candidate has no photo here (photos
never leave their site): the officer sees who, where, and how alike. 'Same person' about a
national candidate still enrols the person here; the national id goes into the site's
`national_decisions`, the audit event and the outbox row, so the registry's duplicate case for
the pair shows the officer's answer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from enrollment.audit import now_iso
from enrollment.repository import IdentityRepository
from gallery_sync.gallery import Candidate, GalleryIndex
from kernel.errors import Conflict, InputError, Message

SEARCHABLE_STATUSES = ("active", "released", "transferred_out", "banned")


class PossibleDuplicate(Conflict):
    code = "possible_duplicate"
    message = Message(
        "Orang ini mirip dengan identitas yang sudah terdaftar. Periksa dan putuskan sebelum menyimpan.",
        "This person resembles an enrolled identity. Check and decide before saving.",
    )

    @classmethod
    def found(
        cls,
        candidates: list[dict[str, Any]],
        national: list[dict[str, Any]] | None = None,
        national_search: dict[str, Any] | None = None,
    ) -> PossibleDuplicate:
        return cls(
            candidates=candidates,
            national_candidates=national or [],
            national_search=national_search or NOT_CONFIGURED.summary(),
        )


class InvalidDecision(InputError):
    code = "decision_invalid"
    message = Message(
        "Keputusan petugas tidak lengkap atau tidak sah.",
        "The officer's decision is incomplete or invalid.",
    )

    @classmethod
    def because(cls, reason: str, candidate: str | None = None) -> InvalidDecision:
        return cls(reason=reason, candidate_identity_id=candidate)


@dataclass(frozen=True)
class OfficerDecision:
    """An officer's answer to one duplicate candidate (local or national)."""

    candidate_identity_id: str
    decision: Literal["same_person", "different_person"]
    reason: str


@dataclass(frozen=True)
class NationalCandidate:
    """A person the registry holds who scores at or above its threshold with the captures."""

    identity_id: str
    role: str
    status: str
    site_id: str | None
    site_name: str | None
    full_name: str | None
    score: float
    threshold: float
    registration_number: str | None = None
    nik: str | None = None
    nip: str | None = None

    def body(self) -> dict[str, Any]:
        """As the desk shows it: no photo here, the owning site has it."""
        return {**asdict(self), "score": round(self.score, 4), "photo_url": None}


@dataclass(frozen=True)
class NationalAnswer:
    """The registry's answer, or why there is none."""

    status: Literal["searched", "unavailable", "not_configured"]
    candidates: tuple[NationalCandidate, ...] = ()
    reason: str | None = None

    def summary(self) -> dict[str, Any]:
        """For the commit result, the 409 body and the audit event."""
        return {"status": self.status, "reason": self.reason}


NOT_CONFIGURED = NationalAnswer("not_configured", reason="no national registry configured")


class NationalMemory:
    """Each open session's last answered national search, so that a registry heard at the
    duplicate check and not at the commit cannot let the commit forget who it named.

    The officer was shown those people; an answer that did not come this time does not make them
    different people. Held in memory for at most `size` sessions: a restart between the check and
    the commit forgets it, and the commit then saves on the local check alone, as it says.
    """

    def __init__(self, size: int = 512) -> None:
        self._answers: OrderedDict[str, NationalAnswer] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def settle(self, session_id: str, answer: NationalAnswer) -> NationalAnswer:
        """The answer to use: this one, or, when the registry did not answer, this one carrying
        the candidates the session's last answered search found."""
        with self._lock:
            if answer.status == "searched":
                self._answers[session_id] = answer
                self._answers.move_to_end(session_id)
                while len(self._answers) > self._size:
                    self._answers.popitem(last=False)
                return answer
            earlier = self._answers.get(session_id)
        if answer.status != "unavailable" or earlier is None or not earlier.candidates:
            return answer
        kept = f"{answer.reason}; the {len(earlier.candidates)} national candidate(s) found earlier for this session stand"  # fmt: skip
        return replace(answer, candidates=earlier.candidates, reason=kept[:300])

    def forget(self, session_id: str) -> None:
        """The session is committed or abandoned."""
        with self._lock:
            self._answers.pop(session_id, None)


class NationalSearcher(Protocol):
    """Asks the registry about the captures; never raises, answers 'unavailable' instead."""

    def search(self, probes: np.ndarray, pack_id: str) -> NationalAnswer: ...


@dataclass(frozen=True)
class DuplicateCheck:
    """Everyone the officer must answer for before a commit."""

    local: list[Candidate]
    national: list[NationalCandidate] = field(default_factory=list)
    national_search: NationalAnswer = NOT_CONFIGURED

    def local_scores(self) -> dict[str, float]:
        """identity id -> score, for the audit event and the decision rows."""
        return {c.identity_id: c.score for c in self.local}


@dataclass(frozen=True)
class Resolution:
    """What the decisions mean: the identity to add the captures to (None: a new one), and the
    answers given about national candidates."""

    target: str | None
    national: list[tuple[OfficerDecision, NationalCandidate]]


def local_candidates(
    gallery: GalleryIndex, threshold: float, vectors: Sequence[np.ndarray], exclude: str | None
) -> list[Candidate]:
    """People in the site gallery the captures resemble at or above the threshold, best first."""
    if not vectors:
        return []
    results = gallery.search(np.stack(vectors), k=5, statuses=SEARCHABLE_STATUSES)
    best: dict[str, Candidate] = {}
    for candidate in (c for per_query in results for c in per_query):
        if (
            candidate.score >= threshold
            and candidate.identity_id != exclude
            and (
                candidate.identity_id not in best
                or candidate.score > best[candidate.identity_id].score
            )
        ):
            best[candidate.identity_id] = candidate
    return sorted(best.values(), key=lambda c: -c.score)


def held_elsewhere(tx: sqlite3.Connection, answer: NationalAnswer) -> list[NationalCandidate]:
    """The registry's candidates this site does not hold: a local person is the local check's."""
    ids = [c.identity_id for c in answer.candidates]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    here = {
        row[0]
        for row in tx.execute(f"SELECT id FROM identities WHERE id IN ({marks})", ids).fetchall()
    }
    return [c for c in answer.candidates if c.identity_id not in here]


def local_body(repo: IdentityRepository, candidate: Candidate) -> dict[str, Any]:
    """What the officer needs to judge a local candidate: who, how alike, and their photo."""
    identity = repo.get(candidate.identity_id)
    return {
        "identity_id": candidate.identity_id,
        "score": round(candidate.score, 4),
        "role": candidate.role,
        "status": candidate.status,
        "full_name": identity.full_name,
        "photo_url": f"/v1/identities/{identity.id}/photo" if identity.photo_image_id else None,
        # The stored fields, shown against what was typed when the officer says "same person".
        "stored": {
            "birth_date": identity.birth_date,
            "sex": identity.sex,
            "aliases": list(identity.aliases),
            "nik": identity.nik,
            "nip": identity.nip,
            "registration_number": identity.registration_number,
        },
    }


def resolve(
    check: DuplicateCheck,
    decisions: list[OfficerDecision],
    session_target: str | None,
    describe: Callable[[Candidate], dict[str, Any]],
) -> Resolution:
    """PossibleDuplicate until every candidate is answered; InvalidDecision for a bad answer."""
    by_candidate = {d.candidate_identity_id: d for d in decisions}
    missing = [c for c in check.local if c.identity_id not in by_candidate]
    missing_national = [c for c in check.national if c.identity_id not in by_candidate]
    if missing or missing_national:
        raise PossibleDuplicate.found(
            [describe(c) for c in missing],
            [c.body() for c in missing_national],
            check.national_search.summary(),
        )
    national = {c.identity_id: c for c in check.national}
    unknown = set(by_candidate) - {c.identity_id for c in check.local} - set(national)
    if unknown:
        # A 'same person' about someone who is not a candidate would add these captures to a
        # stranger's record; a decision must answer a candidate the search actually found.
        reason = "a decision names someone who is not a candidate"
        if check.national_search.status == "unavailable":
            reason += " (the national registry did not answer this time: check duplicates again)"
        raise InvalidDecision.because(reason, sorted(unknown)[0])
    for decision in decisions:
        if decision.decision == "different_person" and not decision.reason.strip():
            raise InvalidDecision.because(
                "'different person' needs a reason", decision.candidate_identity_id
            )
    same = [d.candidate_identity_id for d in decisions if d.decision == "same_person"]
    same_here = [s for s in same if s not in national]
    if len(same_here) > 1 or len(same) - len(same_here) > 1:
        raise InvalidDecision.because("only one identity can be the same person")
    if same_here and session_target and same_here[0] != session_target:
        raise InvalidDecision.because("re-enrolment already names the identity")
    answered = [(d, national[d.candidate_identity_id]) for d in decisions if d.candidate_identity_id in national]  # fmt: skip
    return Resolution(same_here[0] if same_here else session_target, answered)


def record_decisions(
    tx: sqlite3.Connection,
    session_id: str,
    identity_id: str,
    check: DuplicateCheck,
    decisions: list[OfficerDecision],
    resolution: Resolution,
    officer: str,
    threshold: float,
) -> list[dict[str, Any]]:
    """Store every answer (local and national) in this transaction; return the national ones as
    they travel to the registry and into the audit event."""
    scores, national_ids = check.local_scores(), {c.identity_id for _, c in resolution.national}
    now = now_iso()
    for d in (d for d in decisions if d.candidate_identity_id not in national_ids):
        tx.execute(
            "INSERT INTO duplicate_decisions (session_id, candidate_identity_id, score, threshold, decision,"
            " reason, officer, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, d.candidate_identity_id, scores.get(d.candidate_identity_id, 0.0), threshold,
             d.decision, d.reason, officer, now),
        )  # fmt: skip
    travelling = []
    for d, c in resolution.national:
        tx.execute(
            "INSERT INTO national_decisions (session_id, identity_id, national_identity_id, owning_site,"
            " score, threshold, decision, reason, officer, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, identity_id, c.identity_id, c.site_id, c.score, c.threshold, d.decision,
             d.reason, officer, now),
        )  # fmt: skip
        travelling.append({"national_identity_id": c.identity_id, "decision": d.decision,
                           "reason": d.reason, "officer": officer, "score": round(c.score, 4),
                           "threshold": c.threshold, "owning_site": c.site_id, "decided_at": now})  # fmt: skip
    return travelling
