"""1:1 verification and 1:N identification against the site gallery, with the evidence of each
decision: the pack, the threshold and the target rate it came from, and the scores.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from enrollment.captures import FaceAnalyser
from enrollment.db import Database
from enrollment.records import Identity
from enrollment.service import MatchThresholds
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate, GalleryIndex
from kernel.errors import Message, Unavailable
from models.engine import FaceAnalysis
from models.faces import FloatArray


class NoTemplates(Unavailable):
    code = "identity_has_no_templates"
    status = 409
    message = Message(
        "Identitas ini belum punya foto wajah untuk model yang dipakai. Daftarkan ulang wajahnya.",
        "This identity has no face template for the model in use. Re-enrol the face.",
    )


@dataclass(frozen=True)
class VerifyDecision:
    """A 1:1 answer and why."""

    identity: Identity
    match: bool
    score: float
    threshold: float
    target_fmr: float
    pack_id: str
    probe: FaceAnalysis


@dataclass(frozen=True)
class IdentifyResult:
    """A 1:N answer: candidates at or above the threshold (empty means unknown)."""

    candidates: list[Candidate]
    threshold: float
    target_fmr: float
    pack_id: str
    probe: FaceAnalysis


class Matcher:
    """Verify and identify over one site's gallery."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        engine: Callable[[], FaceAnalyser],
        gallery: Callable[[], GalleryIndex],
        thresholds: Callable[[], MatchThresholds],
    ) -> None:
        self.db = db
        self.vault = vault
        self._engine = engine
        self._gallery = gallery
        self._thresholds = thresholds

    def verify(self, identity_id: str, image: bytes) -> VerifyDecision:
        """Is the person in the image the identity claimed? Best score over their templates."""
        with reading(self.db, self.vault) as uow:
            identity = uow.identities.get(identity_id)
        engine, thresholds = self._engine(), self._thresholds()
        probe = engine.analyse_bytes(image)
        score = self.best_score(probe.template, identity_id)
        if score is None:
            raise NoTemplates(identity_id=identity_id, pack_id=engine.pack_id)
        return VerifyDecision(
            identity,
            score >= thresholds.verify,
            score,
            thresholds.verify,
            thresholds.verify_fmr,
            engine.pack_id,
            probe,
        )

    def gallery_of(self) -> GalleryIndex:
        """The gallery searched (for callers that must keep it in step with a change)."""
        return self._gallery()

    def best_score(self, template: FloatArray, identity_id: str) -> float | None:
        """The best score of a template against one identity's templates; None if they have none."""
        return self._gallery().best_score_for(template, identity_id)

    def identify(
        self,
        image: bytes,
        roles: Collection[str] | None = None,
        statuses: Collection[str] | None = ("active",),
        only_identities: Collection[str] | None = None,
        k: int = 5,
    ) -> IdentifyResult:
        """Who, among the people selected, is this? Only candidates above the threshold."""
        engine, thresholds = self._engine(), self._thresholds()
        probe = engine.analyse_bytes(image)
        return self.identify_template(
            probe, roles, statuses, only_identities, k, engine.pack_id, thresholds
        )

    def identify_template(
        self,
        probe: FaceAnalysis,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        only_identities: Collection[str] | None,
        k: int,
        pack_id: str,
        thresholds: MatchThresholds,
    ) -> IdentifyResult:
        """1:N for a probe already analysed (the gate runs several searches on one frame)."""
        found = self._gallery().search(
            probe.template, k=k, roles=roles, statuses=statuses, only_identities=only_identities
        )[0]
        above = [c for c in found if c.score >= thresholds.identify]
        return IdentifyResult(above, thresholds.identify, thresholds.identify_fmr, pack_id, probe)
