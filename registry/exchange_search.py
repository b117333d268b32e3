"""The national search of a received transaction (`registry exchange import`): its faces against
the national gallery, its Type-9 minutiae against the national finger index, and one candidate
per national identity saying which modality found them, with each one's score and threshold.

Fingers are searched as the registry's duplicate search by fingers searches a record
(registry/national_fingers.py): every finger of every person, whatever position it was given,
at the finger calibration's threshold for the national target FPIR over the templates searched.
A file is searched when it has a usable face or a usable print (a view with at least one valid
MCC cylinder); with neither it is refused whole (NoUsableFace), before the gallery is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from enrollment.exchange.imports import NoUsableFace
from enrollment.exchange.transaction import Transaction
from enrollment.exchange.type9 import MinutiaeView
from models.fingerprint import mcc
from models.fingerprint.mcc_template import MccTemplate
from registry import exchange
from registry.errors import NationalSearchUnavailable
from registry.journal import audit
from registry.national_fingers import FingerMatch, NationalFingers
from registry.search import Hit, national_candidates

if TYPE_CHECKING:
    from models.engine import FaceEngine
    from registry.service import RegistryService

EVIDENCE = ("score", "threshold", "position", "view_position")  # a modality's, in a candidate


@dataclass(frozen=True)
class ReceivedProbes:
    """What of a received transaction can be searched: unit face templates and MCC prints."""

    faces: np.ndarray  # (faces, dimension) unit rows of the registry's pack; may have none
    prints: list[tuple[int, MccTemplate]]  # (finger position, cylinders) of usable views
    refused: list[dict[str, Any]] = field(default_factory=list)  # faces the engine refused


@dataclass(frozen=True)
class ReceivedSearch:
    """Whom a received transaction resembles, and what each modality searched and decided at."""

    candidates: list[dict[str, Any]]
    face: dict[str, Any] | None = None  # the face search's answer (threshold, open set)
    finger: dict[str, Any] | None = None  # the finger search's setting (threshold, views)

    @property
    def finger_views(self) -> int:
        """Received prints searched against the national fingers."""
        return int(self.finger["views_searched"]) if self.finger else 0


def finger_probes(views: list[MinutiaeView]) -> list[tuple[int, MccTemplate]]:
    """(finger position, MCC cylinders) of the received views that have any valid cylinder."""
    probes = []
    for view in views:
        cylinders = mcc.with_cylinders(view.template).cylinders
        if cylinders.count:
            probes.append((view.position, cylinders))
    return probes


def received_probes(t: Transaction, engine: Callable[[], FaceEngine],
                    fingers_searched: bool) -> ReceivedProbes:  # fmt: skip
    """A checked transaction's usable faces and prints (the face models are loaded only when it
    has faces, prints read only when the registry searches fingers); NoUsableFace when none."""
    faces, refused = exchange.probes(engine(), t.faces) if t.faces else (np.zeros((0, 0)), [])
    prints = finger_probes(t.minutiae) if fingers_searched else []
    if not len(faces) and not prints:
        raise NoUsableFace(refused=refused, finger_views=len(t.minutiae),
                           finger_search=fingers_searched)  # fmt: skip
    return ReceivedProbes(faces, prints, refused)


def search_received(service: RegistryService, probes: ReceivedProbes, officer: str,
                    subject: str) -> ReceivedSearch:  # fmt: skip
    """Search the probes against a started registry's national gallery and finger index, the
    face search audited as `officer`'s about `subject` (the transaction's control number)."""
    if service.follower.stale:
        raise NationalSearchUnavailable(reason="the national gallery is being rebuilt")
    face = None
    if len(probes.faces):
        limit = exchange.NATIONAL_CANDIDATES
        face = service.search_national(probes.faces, None, limit, officer, subject)
    fingers = service.gallery.fingers
    finger = None
    if fingers is not None and probes.prints:
        finger = _by_fingers(service, fingers, probes.prints, officer, subject)
    found = merged(face["candidates"] if face else [], finger[0] if finger else [])
    return ReceivedSearch(found, face, finger[1] if finger else None)


def _by_fingers(service: RegistryService, fingers: NationalFingers, prints: list[tuple[int, MccTemplate]],
                officer: str, subject: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """The finger candidates described as the face ones are (merged people as their survivor),
    and the setting; the search audited as the face search is (`national.searched`)."""
    matches, setting = fingers.search_received(prints)
    hits = [Hit(m.identity_id, m.score) for m in matches]
    evidence = {
        "threshold": setting.threshold, "calibrated_fmr_point": setting.calibrated_fmr_point,
        "strict_enough": setting.strict_enough, "target_fpir": setting.target_fpir,
        "templates_searched": setting.templates_searched, "views_searched": setting.views_searched,
        "finger_calibration": setting.calibration,
    }  # fmt: skip
    with service.db.transaction() as tx:
        found = national_candidates(tx, hits, setting.threshold, exchange.NATIONAL_CANDIDATES)
        audit(tx, officer, "national.searched", subject, {
            "modality": "finger", "matcher": fingers.policy.matcher, **evidence,
            "hits": [{"identity_id": c["identity_id"], "score": c["score"]} for c in found],
        })  # fmt: skip
    by_id = {m.identity_id: m for m in matches}
    for candidate in found:
        candidate.update(_finger_detail(by_id.get(candidate["identity_id"])))
    return found, evidence


def _finger_detail(match: FingerMatch | None) -> dict[str, Any]:
    """Which national finger and which received print matched (unknown for a merged person's
    survivor, whose own record did not match)."""
    if match is None:
        return {"position": None, "view_position": None}
    return {"position": match.position, "view_position": match.view}


def merged(face: list[dict[str, Any]], finger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One candidate per national identity: its description, `found_by` (the modalities that
    found them), each modality's evidence, and `score` (the face's when the face found them,
    else the finger's: what older imports, searched by face only, keep). Found by both first,
    then by face (best first), then by finger only (best first)."""
    people: dict[str, dict[str, Any]] = {}
    for modality, found in zip(exchange.MODALITIES, (face, finger), strict=True):
        for c in found:
            described = {k: v for k, v in c.items() if k not in EVIDENCE}
            person = people.setdefault(
                c["identity_id"], {**described, "score": c["score"], "found_by": []}
            )
            person["found_by"].append(modality)
            person[modality] = {k: c[k] for k in EVIDENCE if k in c}
    return sorted(people.values(), key=lambda p: -len(p["found_by"]))
