"""Score-level fusion of face and fingerprint: each score becomes a log-likelihood ratio, summed.

Each matcher's score is mapped to a log-likelihood ratio (LLR, in nats) by a line clipped to
the evidence its dev scores hold (models/likelihood_ratio.py explains the map and its bounds).
The fused score is the sum of the LLRs of the modalities present: the LLR of both scores when
face and finger are independent given the truth (different body parts; true by construction
for chimeric subjects). The fused threshold for each target FMR is stored with the model;
models/fusion_fit.py sets it on fused impostor scores, so it keeps the FMR a site promises.

Missing or unusable modality (no face template; a finger too poor to extract): the other one
decides alone at its own threshold for the same target FMR: that matcher's own calibration
when fit_fusion is given one (set on far more impostor pairs), else fitted with the model. A
missing score is never taken as a low one: that would reject every failure to acquire, and a
fused threshold set on pairs with both scores says nothing about a pair with one.

Strong evidence against is not outvoted: a sum lets a genuine finger at its LLR ceiling (+8.2
nats) carry a clearly different face (cosine 0.84: the face's floor, -6.1 nats) over the fused
threshold, which accepted a stranger holding someone's finger. A modality whose LLR is at most
-STRONG_AGAINST_NATS vetoes the match whatever the other says. Only a modality whose dev data
can say that much can veto: the MCC finger's floor is -4.0 nats (one genuine pair in ~20 is two
barely overlapping impressions), so a failed finger never vetoes a confident face.

For 1:N, `threshold_for_fmr` gives the fused threshold at any per-person FMR (a search over N
people needs FMR = 1 - (1 - FPIR)^(1/N)): interpolated in log FMR between the stored points,
extended beyond the strictest with the slope of the last two, and never above -ln(FMR), the
bound every calibrated LLR obeys (P(LLR >= t | impostor) <= e^-t).

1:N does not sum these LLRs, though: the face's LLR map was learnt on the dev faces (mostly
Western), and on East-Asian faces a quarter of strangers score above the 1:1 threshold, where
that map reads strong evidence FOR. Only the impostor tails are known for the population searched
(the site's open-set calibration for the face, the finger calibration for the finger), so 1:N
fuses those: each score becomes its per-person false-match probability p (clipped to
[P_FLOOR, 1]), the evidence is -ln p_face - ln p_finger, and for independent impostor scores
P(-ln p1 - ln p2 >= t) = e^-t (1 + t) (Fisher's product of tail probabilities), so
`tail_threshold(FMR)` holds the FMR whatever the genuine scores look like. Strong evidence against
(the veto above) still applies.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models import calibration as cal

# Calibration's own helpers, so thresholds are checked and read exactly as in calibration
# files (same rule-of-30 flags, same refusal of unknown or mistyped keys).
from models.calibration import check_operating_points, operating_points_from_json
from models.error_rates import Scores
from models.json_files import check_keys, scalar_fields, write_json
from models.likelihood_ratio import TRANSFORMS

FORMAT_VERSION = 1
MODALITIES = ("face", "finger")
STRONG_AGAINST_NATS = 4.6  # odds of 100:1 against: the evidence a modality needs to veto
# No tail probability below this counts: beyond the measured points both tails are extrapolated.
P_FLOOR = 1e-9


@dataclass(frozen=True)
class ScoreModel:
    """One matcher's score-to-LLR map and its own thresholds, used when it decides alone."""

    modality: str  # "face" or "finger"
    matcher: str  # e.g. "open-yunet-dlib", "nbis-bozorth3"
    score_kind: str  # "cosine", "bozorth3"
    transform: str  # "identity" or "log1p", applied before the linear map
    slope: float  # nats per unit of t(score); > 0
    intercept: float
    llr_floor: float  # the LLR is clipped to [llr_floor, llr_ceiling] (nats)
    llr_ceiling: float
    n_genuine: int  # scores the LLR map was fitted on
    n_impostor: int
    # Thresholds (raw score units) for deciding alone: the matcher's own calibration when one was
    # given (set on far more impostor pairs than a chimeric set has), else fitted with the map.
    thresholds_from: str
    threshold_impostors: int  # impostor pairs behind them, for the rule-of-30 flags
    operating_points: tuple[cal.OperatingPoint, ...]

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES or self.transform not in TRANSFORMS:
            raise ValueError(f"unknown modality {self.modality!r} or transform {self.transform!r}")
        if not (math.isfinite(self.slope) and self.slope > 0 and math.isfinite(self.intercept)):
            raise ValueError(f"{self.modality}: the LLR slope must be positive and finite")
        if not self.llr_floor < 0 < self.llr_ceiling < math.inf:
            raise ValueError(f"{self.modality}: need a finite LLR floor < 0 < ceiling")
        check_operating_points(self.operating_points, self.threshold_impostors)

    def llr(self, scores: npt.ArrayLike) -> Scores:
        """Log-likelihood ratios (nats) of raw scores."""
        values = TRANSFORMS[self.transform](np.asarray(scores, dtype=np.float64))
        return np.clip(self.slope * values + self.intercept, self.llr_floor, self.llr_ceiling)

    def threshold_for(self, target_fmr: float) -> float:
        """This matcher's own raw-score threshold for a stored target FMR."""
        return _point_for(self.operating_points, target_fmr, self.modality).threshold

    def threshold_at(self, fmr: float) -> tuple[float, bool]:
        """Raw-score threshold at any FMR (interpolated in log FMR) and whether extrapolated."""
        return _interpolate(self.operating_points, fmr)

    def fmr_at(self, score: float) -> float:
        """Impostor tail probability at a raw score (interpolated in log FMR, in (0, 1])."""
        return _fmr_at(self.operating_points, score)

    def against(self, score: float) -> bool:
        """True when this score is strong evidence of a different person (see the module)."""
        return float(self.llr(score)) <= -STRONG_AGAINST_NATS


@dataclass(frozen=True)
class FusedDecision:
    """A verification decision; scores and threshold are in nats (LLR sums over `used`)."""

    match: bool
    fused_score: float
    threshold: float
    used: tuple[str, ...]  # ("face", "finger"), ("face",) or ("finger",)
    reason: str  # "fused", "finger_missing", "face_missing", "face_against" or "finger_against"


@dataclass(frozen=True)
class FusionModel:
    """Face and finger LLR maps plus the fused threshold (in nats) at each target FMR."""

    model_id: str
    dataset: str
    created: str  # ISO 8601, UTC
    face: ScoreModel
    finger: ScoreModel
    n_genuine: int  # comparisons with both scores the fused thresholds were set on
    n_impostor: int
    operating_points: tuple[cal.OperatingPoint, ...]

    def __post_init__(self) -> None:
        if (self.face.modality, self.finger.modality) != MODALITIES:
            raise ValueError("face and finger models are swapped or mislabelled")
        check_operating_points(self.operating_points, self.n_impostor)

    def fused_scores(self, face: npt.ArrayLike, finger: npt.ArrayLike) -> Scores:
        """Sum of face and finger LLRs, element by element."""
        return self.face.llr(face) + self.finger.llr(finger)

    def threshold_for(self, target_fmr: float) -> float:
        """Fused threshold (nats) for a stored target FMR."""
        return _point_for(self.operating_points, target_fmr, self.model_id).threshold

    def decide(
        self, face_score: float | None, finger_score: float | None, target_fmr: float
    ) -> FusedDecision:
        """Fuse both scores, or let the one present decide at its own threshold for target_fmr.

        None marks a missing or unusable modality; a NaN is refused rather than guessed at.
        """
        for name, score in zip(MODALITIES, (face_score, finger_score), strict=True):
            if score is not None and not math.isfinite(score):
                raise ValueError(f"{name} score {score!r}: pass None for a missing modality")
        if face_score is not None and finger_score is not None:
            fused = float(self.fused_scores(face_score, finger_score))
            threshold = self.threshold_for(target_fmr)
            veto = self.veto(face_score, finger_score)
            match = fused >= threshold and veto is None
            return FusedDecision(match, fused, threshold, MODALITIES, veto or "fused")
        if face_score is not None:
            return _alone(self.face, face_score, target_fmr, "finger_missing")
        if finger_score is not None:
            return _alone(self.finger, finger_score, target_fmr, "face_missing")
        raise ValueError("no face score and no finger score: nothing to decide on")

    def veto(self, face_score: float, finger_score: float) -> str | None:
        """ "face_against" or "finger_against" when that modality vetoes a match, else None."""
        if self.face.against(face_score):
            return "face_against"
        return "finger_against" if self.finger.against(finger_score) else None

    def threshold_for_fmr(self, fmr: float) -> tuple[float, bool]:
        """Fused threshold (nats) at any per-person FMR, and whether it is extrapolated."""
        threshold, extrapolated = _interpolate(self.operating_points, fmr)
        return min(threshold, -math.log(fmr)), extrapolated

    def save(self, path: Path) -> None:
        """Write as JSON (sorted keys, indent 2), atomically like calibration files."""
        write_json(Path(path), {"format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def load(cls, path: Path) -> FusionModel:
        """Read and validate a file written by save; ValueError says what is wrong with it."""
        try:
            return _model_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid fusion model file {path}: {exc}") from exc


def _alone(model: ScoreModel, score: float, target_fmr: float, reason: str) -> FusedDecision:
    """One modality against its own threshold; compared in raw units so no rounding can differ."""
    threshold = model.threshold_for(target_fmr)
    llr, llr_threshold = (float(v) for v in model.llr([score, threshold]))
    return FusedDecision(score >= threshold, llr, llr_threshold, (model.modality,), reason)


def tail_evidence(fmr: float) -> float:
    """-ln of a tail probability clipped to [P_FLOOR, 1]: a modality's 1:N evidence (nats)."""
    return -math.log(min(max(fmr, P_FLOOR), 1.0))


def tail_threshold(fmr: float) -> float:
    """t with e^-t (1 + t) = fmr: the fused 1:N threshold for a per-person FMR (see the module)."""
    if not 0.0 < fmr < 1.0:
        raise ValueError(f"FMR must be in (0, 1), got {fmr}")
    low, high = 0.0, 2.0 * tail_evidence(P_FLOOR) + 50.0
    for _ in range(200):  # bisection: the left side falls monotonically in t
        mid = (low + high) / 2
        low, high = (mid, high) if math.exp(-mid) * (1 + mid) > fmr else (low, mid)
    return high


def _fmr_at(points: Sequence[cal.OperatingPoint], score: float) -> float:
    """The inverse of _interpolate: FMR at a raw score, log-linear through the nearest two
    points (beyond either end with the slope there), at most 1."""
    ordered = sorted(points, key=lambda p: -p.target_fmr)  # thresholds rising
    if len(ordered) == 1:
        return 1.0 if score < ordered[0].threshold else ordered[0].target_fmr
    pairs = list(itertools.pairwise(ordered))
    low, high = next(((a, b) for a, b in pairs if score <= b.threshold), pairs[-1])
    if score < ordered[0].threshold:
        low, high = ordered[0], ordered[1]
    span = high.threshold - low.threshold
    if span <= 0:
        return high.target_fmr
    slope = (math.log(high.target_fmr) - math.log(low.target_fmr)) / span
    return min(1.0, math.exp(math.log(low.target_fmr) + slope * (score - low.threshold)))


def _interpolate(points: Sequence[cal.OperatingPoint], fmr: float) -> tuple[float, bool]:
    """Threshold at an FMR, linear in log FMR between stored points, and beyond the strictest
    with the slope of the last two; the loosest point's threshold for any looser FMR."""
    if not 0.0 < fmr < 1.0:
        raise ValueError(f"FMR must be in (0, 1), got {fmr}")
    ordered = sorted(points, key=lambda p: -p.target_fmr)
    if fmr >= ordered[0].target_fmr or len(ordered) == 1:
        return ordered[0].threshold, fmr < ordered[0].target_fmr
    for low, high in itertools.pairwise(ordered):
        if fmr >= high.target_fmr or high is ordered[-1]:
            span = math.log(high.target_fmr) - math.log(low.target_fmr)
            step = (math.log(fmr) - math.log(low.target_fmr)) / span
            threshold = low.threshold + step * (high.threshold - low.threshold)
            return threshold, fmr < high.target_fmr
    raise AssertionError("unreachable")


def _point_for(
    points: Sequence[cal.OperatingPoint], target_fmr: float, owner: str
) -> cal.OperatingPoint:
    """The stored point for exactly this target; thresholds are never interpolated."""
    for point in points:
        if math.isclose(point.target_fmr, target_fmr, rel_tol=1e-9):
            return point
    stored = ", ".join(f"{p.target_fmr:g}" for p in points)
    raise ValueError(f"{owner}: no threshold for FMR {target_fmr:g} (have {stored}); refit")


def _score_model_from(raw: Any, what: str) -> ScoreModel:
    """One modality's model from parsed JSON."""
    check_keys(raw, {f.name for f in fields(ScoreModel)}, what)
    return ScoreModel(
        **scalar_fields(ScoreModel, raw),
        operating_points=operating_points_from_json(raw["operating_points"]),
    )


def _model_from_dict(data: Any) -> FusionModel:
    """A FusionModel from parsed JSON, refusing missing, unknown or mistyped keys."""
    check_keys(data, {f.name for f in fields(FusionModel)} | {"format_version"}, "fusion model")
    if data["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format_version {data['format_version']!r}, expected {FORMAT_VERSION}")
    return FusionModel(
        **scalar_fields(FusionModel, data),
        face=_score_model_from(data["face"], "face model"),
        finger=_score_model_from(data["finger"], "finger model"),
        operating_points=operating_points_from_json(data["operating_points"]),
    )
