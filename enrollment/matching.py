"""1:1 verification and 1:N identification against the site gallery, with the evidence of each
decision: the pack, the threshold and the target rate it came from, and the scores.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from enrollment.captures import FaceAnalyser
from enrollment.db import Database
from enrollment.gallery_projection import reproject
from enrollment.records import Identity
from enrollment.service import MatchThresholds
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate, GalleryIndex
from gallery_sync.openset import OpenSetThreshold, search_threshold
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
    """A 1:N answer: candidates at or above the threshold (empty means unknown), the best
    `ranked` people whatever their score, and the open-set setting the threshold came from."""

    candidates: list[Candidate]
    threshold: float
    target_fmr: float
    pack_id: str
    probe: FaceAnalysis
    ranked: list[Candidate] = field(default_factory=list)
    open_set: OpenSetThreshold | None = None

    def setting(self) -> dict[str, Any]:
        """Where the threshold came from: the kind's target FPIR, the people searched, the
        calibration, the threshold; or the per-comparison FMR without an open-set calibration."""
        if self.open_set is not None:
            return self.open_set.evidence()
        return {"threshold": self.threshold, "target_fmr_per_comparison": self.target_fmr}

    def evidence(self) -> dict[str, Any]:
        """The threshold's origin and the best people's scores, as stored with a decision."""
        return {
            **self.setting(),
            "scores": [
                {"identity_id": c.identity_id, "score": round(c.score, 4),
                 "capture_score": None if c.capture_score is None else round(c.capture_score, 4),
                 "identity_cosine": None if c.raw_score is None else round(c.raw_score, 4)}
                for c in self.ranked
            ],
        }  # fmt: skip


# The kinds of 1:N search, with the people each one scores at a site (the gate's own choices:
# edge/gate/steps.py search_kind). The batch command enrols and searches its gallery this way.
SEARCH_KINDS: dict[str, tuple[str, str]] = {  # kind -> (role, status) the gallery is enrolled as
    "gate_inmate": ("inmate", "active"),
    "banned_visitor": ("visitor", "banned"),
    "visitor_exit": ("visitor", "active"),
    "staff": ("staff", "active"),
    "identify": ("inmate", "active"),
    "desk_duplicate": ("inmate", "active"),
}


def decide_search(
    gallery: GalleryIndex,
    template: FloatArray,
    roles: Collection[str] | None,
    statuses: Collection[str] | None,
    only_identities: Collection[str] | None,
    k: int,
    thresholds: MatchThresholds,
    kind: str,
) -> tuple[list[Candidate], float, OpenSetThreshold | None]:
    """One 1:N search as the service decides it: the k best people by identity score, and the
    threshold for the kind's target FPIR over the people searched (a candidate is returned when
    its score is at or above it). Score and threshold come from one calibration snapshot: when
    it carries a cohort, people are scored by S-norm against it (models/cohort.py), the scale
    its thresholds were computed on. The service and `gerbang search-batch` both come through
    here."""
    threshold, setting = search_threshold(
        gallery, thresholds.open_set, thresholds.identify, kind, roles, statuses, only_identities
    )
    cohort = setting.cohort if setting is not None else None
    found = gallery.search(
        template, k=k, roles=roles, statuses=statuses, only_identities=only_identities,
        cohort=cohort,
    )[0]  # fmt: skip
    return found, threshold, setting


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

    def reproject(self, identity_id: str) -> None:
        """Bring the gallery searched in line with the database for one person after a change
        committed elsewhere in this process (a gate release): enrollment/gallery_projection.py."""
        reproject(self.db, self.vault, self._gallery(), self._engine().pack_id, [identity_id])

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
        kind: str = "identify",
    ) -> IdentifyResult:
        """Who, among the people selected, is this? Only candidates above the threshold."""
        engine, thresholds = self._engine(), self._thresholds()
        probe = engine.analyse_bytes(image)
        return self.identify_template(
            probe, roles, statuses, only_identities, k, engine.pack_id, thresholds, kind
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
        kind: str = "identify",
    ) -> IdentifyResult:
        """1:N for a probe already analysed (the gate runs several searches on one frame), at
        the threshold for the decision kind's target FPIR over the people searched."""
        found, threshold, setting = decide_search(
            self._gallery(), probe.template, roles, statuses, only_identities, k, thresholds, kind
        )
        above = [c for c in found if c.score >= threshold]
        return IdentifyResult(
            above, threshold, thresholds.identify_fmr, pack_id, probe, found, setting
        )
