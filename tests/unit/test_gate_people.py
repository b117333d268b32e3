"""The gate with more than one person in the frame, on fake analyses at the engine seam and a real
SQLite site and FAISS gallery: an inmate on ANY face is an alarm (at exit and entry, with every
face's candidates in the evidence), otherwise a passage with two people is denied "one person at
a time"; an escorted inmate movement is not. Each frame is analysed once per passage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from edge.gate.records import Gate, GateStore
from edge.gate.service import GatePolicy, GateService
from enrollment.db import Database
from enrollment.matching import Matcher
from enrollment.records import Consent, IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.service import MatchThresholds
from enrollment.vault import PlainVault
from gallery_sync.gallery import GalleryEntry, GalleryIndex
from gallery_sync.openset import OpenSetThresholds
from models.engine import FaceAnalysis
from models.openset import OpenSetCalibration, PointsTail
from models.quality import QualityMeasures, QualityReport
from tests.factories import face_at

DIM = 32
THRESHOLDS = MatchThresholds(identify=0.8, identify_fmr=1e-4, verify=0.8, verify_fmr=1e-3)
GOOD = QualityReport(QualityMeasures(0.9, 60, 200, 120, 50, 0, 0, 0, 1), accepted=True, score=0.9)


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclass
class FakeEngine:
    """The engine seam: a frame's bytes name the people in it ("visitor+inmate"); each person
    is a face whose template is near their enrolled vector. Counts the analyses asked for."""

    vectors: dict[str, np.ndarray]
    pack_id: str = "fake-pack"
    calls: list[bytes] = field(default_factory=list)

    def analyse_people_bytes(self, data: bytes) -> list[FaceAnalysis]:
        self.calls.append(data)
        rng = np.random.default_rng(len(self.calls))
        people = data.decode().split("+")
        return [
            FaceAnalysis(face_at(40 + 200 * i, 60, 150 - 20 * i), len(people), GOOD,
                         unit(self.vectors[who] + rng.normal(0, 0.05, DIM)), 0.95, {})
            for i, who in enumerate(people)
        ]  # fmt: skip


@dataclass
class GateSite:
    gate: GateService
    db: Database
    engine: FakeEngine
    ids: dict[str, str]
    gallery: GalleryIndex
    vault: PlainVault


@pytest.fixture
def site(tmp_path: Path) -> Iterator[GateSite]:
    """Gate 'main'; an inmate, two visitors (Sari inside on an open visit), a banned visitor,
    two staff members and a stranger (enrolled nowhere: his face matches nobody)."""
    db, vault = Database(tmp_path / "site.db"), PlainVault()
    gallery = GalleryIndex(DIM)
    rng = np.random.default_rng(7)
    consent = Consent("kunjungan", "desk", "2026-01-05T08:00:00+00:00")
    drafts = {
        "inmate": IdentityDraft("inmate", "Andi", registration_number="B.I-1/2024"),
        "escorted": IdentityDraft("inmate", "Rudi", registration_number="B.I-2/2024"),
        "sari": IdentityDraft("visitor", "Sari", nik="3201014703850001", consent=consent),
        "gito": IdentityDraft("visitor", "Gito", nik="3201010112900003", consent=consent),
        "banned": IdentityDraft("visitor", "Bambang", nik="3201010112900002", consent=consent),
        "wawan": IdentityDraft("staff", "Pak Wawan", date(1980, 5, 15), nip="198005152005031001"),
        "tono": IdentityDraft("staff", "Pak Tono", date(1981, 6, 1), nip="198106012005031002"),
    }
    vectors = {who: unit(rng.normal(size=DIM)) for who in [*drafts, "stranger"]}
    ids: dict[str, str] = {}
    with db.transaction() as tx:
        repo = IdentityRepository(tx, vault)
        GateStore(tx).add_gate(Gate("main", "Pintu utama", ("in", "out"), ("visitor", "staff", "inmate")))  # fmt: skip
        for template_id, (who, draft) in enumerate(drafts.items(), start=1):
            ids[who] = repo.insert(draft, "UPT-T")
            status = "banned" if who == "banned" else "active"
            repo.set_status(ids[who], status)
            gallery.add([GalleryEntry(template_id, ids[who], draft.role, status, vectors[who])])
    engine = FakeEngine(vectors)
    matcher = Matcher(db, vault, lambda: engine, lambda: gallery, lambda: THRESHOLDS)  # type: ignore[arg-type,return-value]
    gate = GateService(db, vault, lambda: engine, matcher, lambda: THRESHOLDS, GatePolicy())
    entry = gate.visitor_entry("main", b"sari", "kiosk", nik="3201014703850001", inmate_id=ids["inmate"])  # fmt: skip
    assert entry.event.result == "admit", entry.event
    engine.calls.clear()
    yield GateSite(gate, db, engine, ids, gallery, vault)
    db.close()


def open_visit(site: GateSite, who: str) -> bool:
    with site.db.reading() as tx:
        return GateStore(tx).open_visit_of(site.ids[who]) is not None


def test_exit_alarms_when_the_face_behind_the_visitor_is_an_inmate(site: GateSite) -> None:
    decision = site.gate.visitor_exit("main", b"sari+inmate", "camera:main")
    event = decision.event
    assert (event.result, event.reason) == ("alarm", "inmate_leaving")
    assert event.matched_identity_id == site.ids["inmate"] and decision.identity
    assert decision.identity.full_name == "Andi"
    search = event.evidence["search:inmate/active"]
    assert search["faces_searched"] == 2
    assert [(c["identity_id"], c["face"]) for c in search["candidates"]] == [
        (site.ids["inmate"], 1)
    ]
    assert len(event.evidence["people"]) == 2
    assert open_visit(site, "sari")  # nobody was let out
    assert site.engine.calls == [b"sari+inmate"]  # one analysis fed every search


def test_an_inmate_in_front_of_a_visitor_alarms_too(site: GateSite) -> None:
    decision = site.gate.visitor_exit("main", b"inmate+sari", "camera:main")
    assert (decision.event.result, decision.event.matched_identity_id) == (
        "alarm",
        site.ids["inmate"],
    )


def test_entry_alarms_when_an_inmate_stands_behind_the_claimed_visitor(site: GateSite) -> None:
    decision = site.gate.visitor_entry("main", b"gito+inmate", "kiosk", nik="3201010112900003")
    assert (decision.event.result, decision.event.reason) == ("alarm", "inmate_match_at_entry")
    assert decision.event.matched_identity_id == site.ids["inmate"]
    assert not open_visit(site, "gito")


def test_two_visitors_leaving_together_are_denied_one_person_at_a_time(site: GateSite) -> None:
    decision = site.gate.visitor_exit("main", b"sari+gito", "camera:main")
    event = decision.event
    assert (event.result, event.reason) == ("deny", "more_than_one_person")
    assert decision.message.id == "Satu orang setiap kali. Panggil petugas."
    assert decision.message.en == "One person at a time. Call an officer."
    assert event.matched_identity_id == site.ids["sari"]  # the subject, named for the officer
    assert event.evidence["people_at_gate"] == 2
    assert event.evidence["search:inmate/active"]["faces_searched"] == 2
    assert open_visit(site, "sari")
    # The officer sees them through one at a time: an override does what the exit would have.
    override = site.gate.override(event.id, "supervisor", "second person waited behind the line")
    assert override.event.result == "admit" and not open_visit(site, "sari")


def test_entry_with_a_second_person_is_denied_and_not_counted_against_the_visitor(
    site: GateSite,
) -> None:
    decision = site.gate.visitor_entry("main", b"gito+stranger", "kiosk", nik="3201010112900003")
    assert (decision.event.result, decision.event.reason) == ("deny", "more_than_one_person")
    assert decision.event.claimed_identity_id == site.ids["gito"]
    with site.db.reading() as tx:
        assert GateStore(tx).failures(site.ids["gito"], "main") == (0, None)
    override = site.gate.override(decision.event.id, "supervisor", "the other one is a child")
    assert override.event.result == "admit" and open_visit(site, "gito")


def test_a_banned_face_beside_the_claimed_visitor_is_named_and_cannot_be_overridden(
    site: GateSite,
) -> None:
    decision = site.gate.visitor_entry("main", b"gito+banned", "kiosk", nik="3201010112900003")
    assert (decision.event.result, decision.event.reason) == ("deny", "watchlist_match")
    assert decision.event.matched_identity_id == site.ids["banned"]


def test_staff_exit_alarms_on_an_inmate_behind_and_two_staff_pass_one_at_a_time(
    site: GateSite,
) -> None:
    escape = site.gate.staff_passage("main", b"wawan+inmate", "camera:main", "out")
    assert (escape.event.result, escape.event.matched_identity_id) == ("alarm", site.ids["inmate"])
    pair = site.gate.staff_passage("main", b"wawan+tono", "camera:main", "in")
    assert (pair.event.result, pair.event.reason) == ("deny", "more_than_one_person")
    assert pair.event.matched_identity_id == site.ids["wawan"]
    alone = site.gate.staff_passage("main", b"tono", "camera:main", "in")
    assert (alone.event.result, alone.event.reason) == ("admit", "staff_verified")


def test_an_escorted_inmate_movement_is_verified_on_the_subject(site: GateSite) -> None:
    decision = site.gate.inmate_movement(
        "main", b"escorted+wawan", "officer", site.ids["escorted"], "court_out", "PN-3/2026"
    )
    assert (decision.event.result, decision.event.reason) == ("admit", "movement_verified")


def test_one_person_alone_passes_as_before(site: GateSite) -> None:
    decision = site.gate.visitor_exit("main", b"sari", "camera:main")
    assert (decision.event.result, decision.event.reason) == ("admit", "visitor_exit_matched")
    search = dict(decision.event.evidence["search:inmate/active"])
    top_scores = search.pop("top_scores")
    assert search == {
        "candidates": [], "faces_searched": 1, "threshold": 0.8, "target_fmr_per_comparison": 1e-4,
    }  # fmt: skip
    # the best inmates' scores are kept though none reached the threshold
    assert len(top_scores[0]) == 2 and all(s["score"] < 0.8 for s in top_scores[0])


def test_gate_searches_decide_by_target_fpir_over_the_people_searched(site: GateSite) -> None:
    points = PointsTail(((1e-2, 0.5), (1e-3, 0.6), (1e-4, 0.7)))
    open_set = OpenSetThresholds(OpenSetCalibration(points, (), "fmr-points", "test", 0))
    thresholds = replace(THRESHOLDS, open_set=open_set)
    matcher = Matcher(site.db, site.vault, lambda: site.engine, lambda: site.gallery, lambda: thresholds)  # type: ignore[arg-type,return-value]  # fmt: skip
    gate = GateService(site.db, site.vault, lambda: site.engine, matcher, lambda: thresholds, GatePolicy())  # type: ignore[arg-type]  # fmt: skip
    event = gate.visitor_exit("main", b"sari", "camera:main").event
    assert (event.result, event.reason) == ("admit", "visitor_exit_matched")
    inmate = event.evidence["search:inmate/active"]
    # two inmates: FPIR 1% -> FMR 1 - 0.99^(1/2) = 0.005 per comparison, between the points
    assert inmate["kind"] == "gate_inmate" and inmate["gallery_people"] == 2
    assert inmate["target_fpir"] == 0.01 and inmate["calibration"] == "fmr-points"
    assert inmate["threshold"] == pytest.approx(points.threshold_at_fmr(1 - 0.99**0.5), abs=1e-6)
    visitors = event.evidence["search:visitor/any/inside"]
    assert visitors["kind"] == "visitor_exit" and visitors["gallery_people"] == 1
    assert visitors["threshold"] == pytest.approx(0.5)  # one person: FMR = FPIR = 1%


def _add_twin_inmate(site: GateSite, cos: float = 0.88) -> None:
    """An inmate who looks like Sari (the visitor inside): their templates' cosine is `cos`."""
    sari = site.engine.vectors["sari"]
    other = unit(np.random.default_rng(9).normal(size=DIM))
    other = unit(other - (other @ sari) * sari)
    twin = unit(cos * sari + np.sqrt(1 - cos**2) * other)
    with site.db.transaction() as tx:
        draft = IdentityDraft("inmate", "Kembar", registration_number="B.I-9/2024")
        site.ids["twin"] = IdentityRepository(tx, site.vault).insert(draft, "UPT-T")
    site.gallery.add([GalleryEntry(99, site.ids["twin"], "inmate", "active", twin)])
    site.engine.vectors["twin"] = twin


def test_a_visitor_inside_who_looks_like_an_inmate_is_not_an_escape(site: GateSite) -> None:
    _add_twin_inmate(site)
    decision = site.gate.visitor_exit("main", b"sari", "camera:main")
    event = decision.event
    assert (event.result, event.reason) == ("admit", "visitor_exit_matched"), event.evidence
    lookalike = event.evidence["lookalike"]
    assert lookalike["alarm_withheld"] is True
    assert (
        lookalike["inmate_id"] == site.ids["twin"] and lookalike["visitor_id"] == site.ids["sari"]
    )
    assert lookalike["visitor_score"] >= lookalike["inmate_score"] + lookalike["margin"]
    assert (
        event.evidence["search:inmate/active"]["candidates"][0]["identity_id"] == site.ids["twin"]
    )


def test_the_inmate_who_looks_like_a_visitor_inside_still_raises_the_alarm(site: GateSite) -> None:
    _add_twin_inmate(site)
    decision = site.gate.visitor_exit("main", b"twin", "camera:main")
    event = decision.event
    assert (event.result, event.reason) == ("alarm", "inmate_leaving")
    assert event.matched_identity_id == site.ids["twin"]
    assert event.evidence["lookalike"]["alarm_withheld"] is False


def test_a_close_call_between_inmate_and_visitor_raises_the_alarm(site: GateSite) -> None:
    # Almost the same face: the visitor match does not beat the inmate by the margin
    _add_twin_inmate(site, cos=0.995)
    decision = site.gate.visitor_exit("main", b"sari", "camera:main")
    assert (decision.event.result, decision.event.reason) == ("alarm", "inmate_leaving")
    assert decision.event.evidence["lookalike"]["alarm_withheld"] is False


def test_on_snorm_scores_the_lookalike_rule_never_withholds_the_alarm(site: GateSite) -> None:
    # the look-alike margins are cosines; S-norm scores are on another scale, where the same
    # margins would withhold far more: under S-norm the alarm stands (visitors.py)
    from models.cohort import CohortNorm

    _add_twin_inmate(site)
    people = sorted(site.ids.values())
    vectors = np.stack([site.gallery.identity_vector(p) for p in people]).astype(np.float32)
    cohort = CohortNorm(vectors, tuple(people), k=1)
    points = PointsTail(((1e-2, -5.0), (1e-3, -4.9), (1e-4, -4.8)))  # every candidate is above
    open_set = OpenSetThresholds(OpenSetCalibration(points, (), "site", "test", 3, cohort))
    thresholds = replace(THRESHOLDS, open_set=open_set)
    matcher = Matcher(site.db, site.vault, lambda: site.engine, lambda: site.gallery, lambda: thresholds)  # type: ignore[arg-type,return-value]  # fmt: skip
    gate = GateService(site.db, site.vault, lambda: site.engine, matcher, lambda: thresholds, GatePolicy())  # type: ignore[arg-type]  # fmt: skip
    event = gate.visitor_exit("main", b"sari", "camera:main").event
    assert (event.result, event.reason) == ("alarm", "inmate_leaving"), event.evidence
    assert event.evidence["search:inmate/active"]["scale"].startswith("s-norm")
    assert "lookalike" not in event.evidence  # the rule was not applied
