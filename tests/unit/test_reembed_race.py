"""Re-embedding while the desk keeps enrolling with the old pack, on a real SQLite site with the
real enrolment service and fake engines at the engine seam: an enrolment committed between the
re-embed's last batch and its switch is re-embedded before the switch, and after the switch a
service still holding the old pack is refused (restart) instead of enrolling someone the new
gallery would not know."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enrollment.captures import CapturePolicy
from enrollment.db import Database
from enrollment.packs import PackChanged, active_pack
from enrollment.records import IdentityDraft
from enrollment.reembed import MAX_ROUNDS, reembed
from enrollment.service import EnrolmentService, MatchThresholds
from enrollment.vault import PlainVault
from gallery_sync.gallery import GalleryIndex
from models.engine import FaceAnalysis
from models.quality import QualityMeasures, QualityReport
from tests.factories import face_at

DIM = 16
THRESHOLDS = MatchThresholds(identify=0.95, identify_fmr=1e-4, verify=0.9, verify_fmr=1e-3)
GOOD = QualityReport(QualityMeasures(0.9, 60, 200, 120, 50, 0, 0, 0, 1), accepted=True, score=0.9)
OLD, NEW = "old-pack", "new-pack"


@dataclass
class FakeEngine:
    """A pack: each image's bytes give a fixed unit vector of that pack. After `then_after`
    analyses it calls `then` once (the moment a test wants something to happen)."""

    pack_id: str
    then: Callable[[], None] | None = None
    then_after: int = 0
    analysed: int = 0

    def analyse_bytes(self, data: bytes) -> FaceAnalysis:
        self.analysed += 1
        if self.then is not None and self.analysed == self.then_after:
            self.then()
        seed = int.from_bytes(hashlib.sha256(self.pack_id.encode() + data).digest()[:8], "big")
        vector = np.random.default_rng(seed).normal(size=DIM)
        return FaceAnalysis(face_at(50, 50, 120), 1, GOOD,
                            (vector / np.linalg.norm(vector)).astype(np.float32), 0.95, {})  # fmt: skip


def frame(label: str) -> bytes:
    """A small real JPEG of its own colour per label: the desk keeps only re-encoded images."""
    shade = hashlib.sha256(label.encode()).digest()[:3]
    out = io.BytesIO()
    Image.new("RGB", (64, 64), tuple(shade)).save(out, "JPEG")  # type: ignore[arg-type]
    return out.getvalue()


class RacingDatabase(Database):
    """The real site database; a test may have something committed just before a chosen write
    transaction begins (another process's commit landing at the worst moment)."""

    _hook: tuple[int, Callable[[], None]] | None = None

    def before_write(self, skip: int, action: Callable[[], None]) -> None:
        """Run `action` just before the write transaction after the next `skip` ones."""
        self._hook = (skip, action)

    @contextmanager
    def transaction(self) -> Iterator[object]:  # type: ignore[override]
        if self._hook is not None:
            skip, action = self._hook
            self._hook = (skip - 1, action) if skip else None
            if not skip:
                action()
        with super().transaction() as tx:
            yield tx


@dataclass
class Desk:
    """The site service as it was started: enrolling with the old pack."""

    db: RacingDatabase
    service: EnrolmentService
    enrolled: list[str] = field(default_factory=list)

    def enrol(self, name: str, service: EnrolmentService | None = None) -> str:
        service = service or self.service
        session = service.start_session("inmate", "desk")
        service.add_frame(session, frame(f"{name} photo"))
        number = f"B.I-{len(self.enrolled) + 1}/2026"
        draft = IdentityDraft("inmate", name, date(1990, 1, 1), "M", registration_number=number)
        self.enrolled.append(service.commit(session, draft, [], "desk").identity_id)
        return self.enrolled[-1]


def enrolment_service(db: Database, engine: FakeEngine) -> EnrolmentService:
    gallery = GalleryIndex(DIM)
    policy = CapturePolicy(keep_best=2, min_captures=1, require_liveness=False)
    return EnrolmentService(db, PlainVault(), lambda: engine, lambda: gallery,  # type: ignore[arg-type,return-value]
                            lambda: THRESHOLDS, "UPT-T", policy)  # fmt: skip


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    db = RacingDatabase(tmp_path / "site.db")
    desk = Desk(db, enrolment_service(db, FakeEngine(OLD)))
    for name in ("Andi", "Budi", "Cahya"):
        desk.enrol(name)
    yield desk
    db.close()


def without_new_template(db: Database) -> list[str]:
    """People the new pack's gallery would not know."""
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT id FROM identities i WHERE NOT EXISTS"
            " (SELECT 1 FROM templates t WHERE t.identity_id = i.id AND t.pack_id = ?)",
            (NEW,),
        )
        return [r[0] for r in rows]


def test_an_enrolment_committed_between_the_last_batch_and_the_switch_is_re_embedded(
    desk: Desk,
) -> None:
    # Once the new pack has analysed the last image, the next write is that batch's templates;
    # the late enrolment lands right after it, just before the switch would begin.
    late = FakeEngine(NEW, then_after=3)
    late.then = lambda: desk.db.before_write(1, lambda: desk.enrol("Dewi"))
    report = reembed(desk.db, PlainVault(), late, actor="admin", progress=False)
    assert len(desk.enrolled) == 4, "the late enrolment did not happen"
    assert report.switched and report.remaining == 0 and report.uncovered == []
    assert without_new_template(desk.db) == []  # Dewi included
    assert report.embedded == 4 and active_pack(desk.db, OLD) == NEW


def test_after_the_switch_the_service_still_on_the_old_pack_is_refused_until_restarted(
    desk: Desk,
) -> None:
    session = desk.service.start_session("inmate", "desk")
    desk.service.add_frame(session, frame("Eko photo"))  # captured before the switch
    assert reembed(desk.db, PlainVault(), FakeEngine(NEW), actor="admin", progress=False).switched

    with pytest.raises(PackChanged) as refused:
        desk.service.add_frame(session, frame("Eko again"))
    assert refused.value.details["active_pack"] == NEW and refused.value.status == 503
    draft = IdentityDraft("inmate", "Eko", date(1990, 1, 1), "M", registration_number="B.I-9/2026")
    with pytest.raises(PackChanged):
        desk.service.commit(session, draft, [], "desk")
    with desk.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 3  # nothing stored

    restarted = enrolment_service(desk.db, FakeEngine(NEW))
    desk.enrol("Eko", restarted)
    assert without_new_template(desk.db) == []


def test_a_desk_enrolling_every_round_leaves_the_switch_to_the_next_run(desk: Desk) -> None:
    def keep_enrolling() -> None:
        desk.enrol(f"Orang {len(desk.enrolled)}")
        desk.db.before_write(1, keep_enrolling)  # and again after the next round's batch

    busy = FakeEngine(NEW, then_after=3)
    busy.then = lambda: desk.db.before_write(1, keep_enrolling)
    report = reembed(desk.db, PlainVault(), busy, actor="admin", progress=False)
    assert not report.switched and report.remaining == 1
    assert active_pack(desk.db, OLD) == OLD  # the gate is never given a half-built gallery
    desk.db.before_write(0, lambda: None)  # the desk stops
    again = reembed(desk.db, PlainVault(), FakeEngine(NEW), actor="admin", progress=False)
    assert again.switched and without_new_template(desk.db) == []
    assert len(desk.enrolled) == 3 + MAX_ROUNDS
