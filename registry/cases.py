"""Duplicate cases: the national search opens them, a central officer decides them.

A case shows what site officers said about the pair when a national search showed them the
other person before saving (`site_decisions`): a lead for the adjudicator, never a decision.

"Same" merges: the person enrolled first survives, the other is marked `merged` with
`merged_into` pointing at the survivor (its record, templates and history stay), earlier merges
into the loser are re-pointed at the survivor (merges stay one hop deep), and every site holding
either person gets an `identity.merged` change. "Not same" closes the case; the pair is never
reopened, because a pair has one case whatever happens later.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from registry.db import Connection
from registry.errors import CaseClosed, RegistryInputInvalid, RegistryNotFound
from registry.journal import append_change, audit
from registry.photos import photo_status

Decision = Literal["same", "not_same"]
Modality = Literal["face", "finger"]
CASE_STATES = ("open", "same", "not_same")
MIN_REASON = 3

_CASE_COLUMNS = (
    "c.id, c.identity_a, c.identity_b, c.score, c.threshold, c.pack_id, c.state, c.opened_at,"
    " c.survivor_id, c.decided_by, c.decided_at, c.reason, c.modality, c.target_fpir,"
    " c.templates_searched"
)


@dataclass(frozen=True)
class CaseEvidence:
    """What a national search found for a pair, and the setting it decided in."""

    modality: Modality
    score: float  # cosine for a face, MCC LSS-R for a finger: never compared across modalities
    threshold: float
    pack_id: str  # the face pack, or the finger matcher's calibration id
    target_fpir: float | None = None
    templates_searched: int | None = None  # people (face) or finger records (finger) compared
    details: dict[str, Any] = field(default_factory=dict)  # more for the audit event


def open_case(tx: Connection, one: str, other: str, evidence: CaseEvidence) -> list[int]:
    """Open the pair's case; its id if newly opened. A pair has one case whatever finds it: a
    later, higher score of the same modality raises an open case's score, nothing else does."""
    a, b = sorted((uuid.UUID(one), uuid.UUID(other)))
    e = evidence
    row = tx.execute(  # no row back when the pair already has a case
        "INSERT INTO duplicate_cases (identity_a, identity_b, score, threshold, pack_id, modality,"
        " target_fpir, templates_searched) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (identity_a, identity_b) DO NOTHING RETURNING id",
        (a, b, e.score, e.threshold, e.pack_id, e.modality, e.target_fpir, e.templates_searched),
    ).fetchone()
    if row is None:
        tx.execute(
            "UPDATE duplicate_cases SET score = %s WHERE identity_a = %s AND identity_b = %s"
            " AND state = 'open' AND modality = %s AND score < %s",
            (e.score, a, b, e.modality, e.score),
        )
        return []
    details = {"identity_a": str(a), "identity_b": str(b), **asdict(e)}
    audit(tx, "registry", "case.opened", str(row["id"]), details)
    return [int(row["id"])]


def list_cases(tx: Connection, state: str = "open", limit: int = 100) -> list[dict[str, Any]]:
    """Cases in one state, highest score first, each with a summary of both people."""
    if state not in CASE_STATES:
        raise RegistryInputInvalid(reason=f"unknown case state {state!r}", states=CASE_STATES)
    rows = tx.execute(
        f"SELECT {_CASE_COLUMNS} FROM duplicate_cases c WHERE c.state = %s"
        " ORDER BY c.score DESC, c.id LIMIT %s".encode(),
        (state, limit),
    ).fetchall()
    return [_with_people(tx, row) for row in rows]


def get_case(tx: Connection, case_id: int, lock: bool = False) -> dict[str, Any]:
    """One case, or RegistryNotFound."""
    query = f"SELECT {_CASE_COLUMNS} FROM duplicate_cases c WHERE c.id = %s" + (
        " FOR UPDATE" if lock else ""
    )
    row = tx.execute(query.encode(), (case_id,)).fetchone()
    if row is None:
        raise RegistryNotFound.missing("case", str(case_id))
    return row


def _with_people(tx: Connection, case: dict[str, Any]) -> dict[str, Any]:
    """The case as JSON-ready data, with name, role, status, owning site and photo state of both."""
    people = tx.execute(
        "SELECT id, site_id, role, status, record->>'full_name' AS full_name"
        " FROM national_identities WHERE id IN (%s, %s)",
        (case["identity_a"], case["identity_b"]),
    ).fetchall()
    body = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in case.items()}
    photos = photo_status(tx, [str(p["id"]) for p in people])
    body["people"] = [{**p, "id": str(p["id"]), "photo": photos[str(p["id"])]} for p in people]
    body["site_decisions"] = _site_decisions(tx, case["identity_a"], case["identity_b"])
    return body


def _site_decisions(tx: Connection, one: uuid.UUID, other: uuid.UUID) -> list[dict[str, Any]]:
    """What enrolment officers said about this pair when a national search showed it to them."""
    rows = tx.execute(
        "SELECT identity_id, candidate_id, site_id, decision, reason, officer, score, decided_at"
        " FROM site_duplicate_decisions"
        " WHERE (identity_id = %s AND candidate_id = %s) OR (identity_id = %s AND candidate_id = %s)"
        " ORDER BY recorded_at",
        (one, other, other, one),
    ).fetchall()
    return [
        {**r, "identity_id": str(r["identity_id"]), "candidate_id": str(r["candidate_id"])}
        for r in rows
    ]


def decide(
    tx: Connection, case_id: int, decision: str, officer: str, reason: str
) -> tuple[dict[str, Any], list[str]]:
    """Record an officer's decision; return the case and the people whose gallery rows change."""
    if decision not in ("same", "not_same"):
        raise RegistryInputInvalid.saying(
            "Keputusan harus 'same' atau 'not_same'.", "The decision must be 'same' or 'not_same'."
        )
    if len(reason.strip()) < MIN_REASON:
        raise RegistryInputInvalid.saying("Keputusan perlu alasan.", "A decision needs a reason.")
    case = get_case(tx, case_id, lock=True)
    if case["state"] != "open":
        raise CaseClosed(case_id=case_id, state=case["state"])
    survivor: str | None = None
    touched: list[str] = []
    if decision == "same":
        survivor, touched = _merge(tx, case, officer)
    tx.execute(
        "UPDATE duplicate_cases SET state = %s, survivor_id = %s, decided_by = %s,"
        " decided_at = now(), reason = %s WHERE id = %s",
        (decision, survivor, officer, reason, case_id),
    )
    audit(
        tx, officer, f"case.{decision}", str(case_id), {"reason": reason, "survivor_id": survivor}
    )
    return _with_people(tx, get_case(tx, case_id)), touched


def _merge(tx: Connection, case: dict[str, Any], officer: str) -> tuple[str, list[str]]:
    """Merge the newer person into the older; return (survivor, [merged]) ([] if already one)."""
    people = _current(tx, [case["identity_a"], case["identity_b"]])
    if people[0]["id"] == people[1]["id"]:  # an earlier decision already made them one
        return str(people[0]["id"]), []
    survivor, merged = sorted(people, key=_enrolled_first)
    survivor_id, merged_id = str(survivor["id"]), str(merged["id"])
    tx.execute(
        "UPDATE national_identities SET status = 'merged', merged_into = %s, updated_at = now()"
        " WHERE id = %s",
        (survivor_id, merged_id),
    )
    earlier = tx.execute(
        "UPDATE national_identities SET merged_into = %s WHERE merged_into = %s RETURNING id",
        (survivor_id, merged_id),
    ).fetchall()
    concerned = [survivor_id, merged_id, *(str(r["id"]) for r in earlier)]
    for site in _holders(tx, concerned):
        append_change(tx, site, "identity.merged", {
            "merged_id": merged_id, "survivor_id": survivor_id, "case_id": case["id"],
        })  # fmt: skip
    audit(tx, officer, "identity.merged", merged_id, {"survivor_id": survivor_id})
    return survivor_id, [merged_id]


def _current(tx: Connection, identity_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Both people as they stand now (a merged one replaced by its survivor), locked."""
    people = []
    for identity_id in identity_ids:
        row = tx.execute(
            "SELECT id, merged_into, created_at, record->>'created_at' AS enrolled_at"
            " FROM national_identities WHERE id = %s FOR UPDATE",
            (identity_id,),
        ).fetchone()
        if row is not None and row["merged_into"] is not None:
            row = tx.execute(
                "SELECT id, merged_into, created_at, record->>'created_at' AS enrolled_at"
                " FROM national_identities WHERE id = %s FOR UPDATE",
                (row["merged_into"],),
            ).fetchone()
        if row is None:
            raise RegistryNotFound.missing("identity", str(identity_id))
        people.append(row)
    return people


def _enrolled_first(person: dict[str, Any]) -> tuple[str, str]:
    """Sort key: the site's enrolment time (the registry's arrival time if absent), then id."""
    return (person["enrolled_at"] or person["created_at"].isoformat(), str(person["id"]))


def _holders(tx: Connection, identity_ids: list[str]) -> list[str]:
    """Every site holding any of these people, in a stable order."""
    rows = tx.execute(
        "SELECT DISTINCT site_id FROM identity_holders WHERE identity_id = ANY(%s::uuid[]) ORDER BY site_id",
        (identity_ids,),
    ).fetchall()
    return [r["site_id"] for r in rows]


def undecided_people(tx: Connection) -> set[str]:
    """Everyone in a case no officer has decided yet (either side of it)."""
    rows = tx.execute(
        "SELECT identity_a, identity_b FROM duplicate_cases WHERE state = 'open'"
    ).fetchall()
    return {str(r[side]) for r in rows for side in ("identity_a", "identity_b")}


def survivors_of(tx: Connection, identity_ids: list[str]) -> dict[str, str]:
    """merged identity → the identity it was merged into (merges are kept one hop deep)."""
    rows = tx.execute(
        "SELECT id, merged_into FROM national_identities WHERE id = ANY(%s::uuid[]) AND merged_into IS NOT NULL",
        (identity_ids,),
    ).fetchall()
    return {str(r["id"]): str(r["merged_into"]) for r in rows}
