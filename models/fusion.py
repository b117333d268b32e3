"""Score-level fusion of face and fingerprint: each score becomes a log-likelihood ratio, summed.

Per matcher, LLR(s) = log p(s | genuine) / p(s | impostor) = clip(a * t(s) + b, floor, ceiling):
- a, b: linear logistic calibration (Brümmer and du Preez 2006; FoCal, BOSARIS), a logistic
  regression of genuine against impostor on t(s), t = identity for cosines and log(1 + s) for
  BOZORTH3 (genuine scores run to the hundreds, impostors stay below ~30). Both classes weigh
  half, so the log-odds fitted is the LLR itself, not posterior log-odds at the dev set's
  genuine:impostor ratio. Platt's (1999) smoothed targets keep a finite slope when the dev
  scores separate completely, as a strong face matcher's do on a small set.
- floor, ceiling: the most extreme LLR any tail of the dev scores shows with one example of the
  other class added (the end blocks of a PAV fit with pseudo-counts; the idea of Vergeer et al.
  2016's empirical bounds). On the dev set the line puts a BOZORTH3 score of 0 at -10 nats,
  the data at about -3 (one genuine pair in ~20 is two barely overlapping impressions that
  score like an impostor), and that let a failed finger veto a confident face; no score may
  claim more evidence than the data holds.
Why not KDE or plain PAV: FMR 1e-3 lives in the impostor tail, where a density estimate is set
by its bandwidth rather than by the few scores there, and PAV overfits a few hundred genuine
scores as a staircase. Four numbers per matcher serialise plainly; the map never falls.

Fused score = the sum of the LLRs of the modalities present: the LLR of both scores when face
and finger are independent given the truth (different body parts; true by construction for
chimeric subjects). The fused threshold for a target FMR is set on fused impostor scores
(calibration.threshold_at_fmr), not read off the LLR scale: the calibration is approximate and
the FMR is what a site promises.

Missing or unusable modality (no face template; a finger too poor to extract): the other one
decides alone at its own threshold for the same target FMR: that matcher's own calibration
when fit_fusion is given one (set on far more impostor pairs), else fitted here. A missing
score is never taken as a low one: that would reject every failure to acquire, and a fused
threshold set on pairs with both scores says nothing about a pair with one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models import calibration as cal

# Calibration's own helpers, so thresholds are set, checked and read exactly as in
# calibration files (same rule-of-30 flags, same refusal of unknown or mistyped keys).
from models.calibration import check_operating_points, measure_operating_points
from models.json_files import check_keys, scalar_fields

FORMAT_VERSION = 1
MODALITIES = ("face", "finger")
_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-12

Scores = npt.NDArray[np.float64]
_TRANSFORMS: dict[str, Callable[[Scores], Scores]] = {
    "identity": lambda s: s,
    # BOZORTH3 scores are >= 0; the clamp only keeps a corrupt negative from making a NaN.
    "log1p": lambda s: np.log1p(np.maximum(s, 0.0)),
}


def fit_llr(genuine: npt.ArrayLike, impostor: npt.ArrayLike, transform: str) -> tuple[float, float]:
    """Slope and intercept of LLR = slope * t(s) + intercept (prior-1/2 logistic regression)."""
    gen = _TRANSFORMS[transform](_finite(genuine, "genuine"))
    imp = _TRANSFORMS[transform](_finite(impostor, "impostor"))
    x = np.concatenate([gen, imp])
    # Platt's targets, and weights that give each class half the total.
    target = np.concatenate([np.full(gen.size, (gen.size + 1) / (gen.size + 2)),
                             np.full(imp.size, 1 / (imp.size + 2))])  # fmt: skip
    weight = np.concatenate([np.full(gen.size, 0.5 / gen.size), np.full(imp.size, 0.5 / imp.size)])
    centre, spread = float(x.mean()), float(x.std()) or 1.0  # standardised: Newton stays stable
    slope, intercept = _newton(
        np.column_stack([(x - centre) / spread, np.ones_like(x)]), target, weight
    )
    if not slope > 0:
        raise ValueError("genuine scores are not higher than impostor scores: no monotone LLR")
    return slope / spread, intercept - slope * centre / spread


def llr_bounds(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[float, float]:
    """Lowest and highest LLR any tail (s < c, s >= c) shows, one other-class example added."""
    gen, imp = np.sort(_finite(genuine, "genuine")), np.sort(_finite(impostor, "impostor"))
    cuts = np.unique(np.concatenate([gen, imp]))
    gen_above = gen.size - np.searchsorted(gen, cuts)  # scores >= each cut
    imp_above = imp.size - np.searchsorted(imp, cuts)
    share_g, share_i = 1.0 / (gen.size + 1), 1.0 / (imp.size + 1)  # as if one more of each
    with np.errstate(divide="ignore"):  # an empty tail gives -inf / +inf, never the extreme
        ceiling = np.log(gen_above * share_g) - np.log((imp_above + 1) * share_i)
        floor = np.log((gen.size - gen_above + 1) * share_g) - np.log(
            (imp.size - imp_above) * share_i
        )
    low, high = float(floor.min()), float(ceiling.max())
    if not low < 0 < high:
        raise ValueError("genuine and impostor scores do not separate: no evidence either way")
    return low, high


def _newton(design: Scores, target: Scores, weight: Scores) -> tuple[float, float]:
    """Weighted cross-entropy minimum by Newton's method (convex, so it converges in a few steps)."""
    beta = np.zeros(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = np.exp(-np.logaddexp(0.0, -(design @ beta)))  # sigmoid without overflow
        gradient = design.T @ (weight * (p - target))
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError as exc:  # every score the same: nothing to fit
            raise ValueError("scores do not vary: no LLR can be fitted") from exc
        beta -= step
        if np.abs(step).max() < _NEWTON_TOLERANCE:
            break
    return float(beta[0]), float(beta[1])


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
    # given (set on far more impostor pairs than a chimeric set has), else fitted here.
    thresholds_from: str
    threshold_impostors: int  # impostor pairs behind them, for the rule-of-30 flags
    operating_points: tuple[cal.OperatingPoint, ...]

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES or self.transform not in _TRANSFORMS:
            raise ValueError(f"unknown modality {self.modality!r} or transform {self.transform!r}")
        if not (math.isfinite(self.slope) and self.slope > 0 and math.isfinite(self.intercept)):
            raise ValueError(f"{self.modality}: the LLR slope must be positive and finite")
        if not self.llr_floor < 0 < self.llr_ceiling < math.inf:
            raise ValueError(f"{self.modality}: need a finite LLR floor < 0 < ceiling")
        check_operating_points(self.operating_points, self.threshold_impostors)

    def llr(self, scores: npt.ArrayLike) -> Scores:
        """Log-likelihood ratios (nats) of raw scores."""
        values = _TRANSFORMS[self.transform](np.asarray(scores, dtype=np.float64))
        return np.clip(self.slope * values + self.intercept, self.llr_floor, self.llr_ceiling)

    def threshold_for(self, target_fmr: float) -> float:
        """This matcher's own raw-score threshold for a stored target FMR."""
        return _point_for(self.operating_points, target_fmr, self.modality).threshold


@dataclass(frozen=True)
class FusedDecision:
    """A verification decision; scores and threshold are in nats (LLR sums over `used`)."""

    match: bool
    fused_score: float
    threshold: float
    used: tuple[str, ...]  # ("face", "finger"), ("face",) or ("finger",)
    reason: str  # "fused", "finger_missing" or "face_missing"


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
            return FusedDecision(fused >= threshold, fused, threshold, MODALITIES, "fused")
        if face_score is not None:
            return _alone(self.face, face_score, target_fmr, "finger_missing")
        if finger_score is not None:
            return _alone(self.finger, finger_score, target_fmr, "face_missing")
        raise ValueError("no face score and no finger score: nothing to decide on")

    def save(self, path: Path) -> None:
        """Write as JSON (sorted keys, indent 2), atomically like calibration files."""
        text = json.dumps({"format_version": FORMAT_VERSION, **asdict(self)}, sort_keys=True,
                          indent=2, allow_nan=False)  # fmt: skip
        _write_atomically(Path(path), text + "\n")

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


def _finite(values: npt.ArrayLike, name: str) -> Scores:
    """Scores as a non-empty, finite 1-D float64 array, or a ValueError naming them."""
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"{name} must be a non-empty 1-D array of finite scores")
    return scores


def _point_for(
    points: Sequence[cal.OperatingPoint], target_fmr: float, owner: str
) -> cal.OperatingPoint:
    """The stored point for exactly this target; thresholds are never interpolated."""
    for point in points:
        if math.isclose(point.target_fmr, target_fmr, rel_tol=1e-9):
            return point
    stored = ", ".join(f"{p.target_fmr:g}" for p in points)
    raise ValueError(f"{owner}: no threshold for FMR {target_fmr:g} (have {stored}); refit")


def _operating_points(
    genuine: Scores, impostor: Scores, targets: Sequence[float]
) -> tuple[cal.OperatingPoint, ...]:
    """Threshold, FNMR and rule-of-30 verdict at each target, strictest last."""
    return measure_operating_points(genuine, impostor, targets)


@dataclass(frozen=True)
class Comparisons:
    """The same comparisons scored by each matcher (NaN where a template is missing)."""

    face: Scores
    finger: Scores
    genuine: npt.NDArray[np.bool_]  # True where both sides are the same subject

    def __post_init__(self) -> None:
        if not self.face.shape == self.finger.shape == self.genuine.shape:
            raise ValueError("face, finger and genuine must have one entry per comparison")

    def split(self, scores: Scores) -> tuple[Scores, Scores]:
        """(genuine, impostor) scores, leaving out comparisons with no score."""
        ok = np.isfinite(scores)
        return scores[ok & self.genuine], scores[ok & ~self.genuine]


@dataclass(frozen=True)
class MatcherSpec:
    """How one matcher's scores are read: its name, score kind and transform before the line."""

    name: str
    score_kind: str
    transform: str


FACE_DLIB = MatcherSpec("open-yunet-dlib", "cosine", "identity")
FINGER_BOZORTH3 = MatcherSpec("nbis-bozorth3", "bozorth3", "log1p")


def fit_score_model(
    modality: str, spec: MatcherSpec, genuine: Scores, impostor: Scores,
    targets: Sequence[float], own: cal.Calibration | None = None,
) -> ScoreModel:  # fmt: skip
    """LLR map of one matcher; thresholds from its own calibration if given, else from the scores."""
    slope, intercept = fit_llr(genuine, impostor, spec.transform)
    floor, ceiling = llr_bounds(genuine, impostor)
    source, n_points, points = _own_thresholds(modality, spec, genuine, impostor, targets, own)
    return ScoreModel(
        modality, spec.name, spec.score_kind, spec.transform, slope, intercept, floor, ceiling,
        int(genuine.size), int(impostor.size), source, n_points, points,
    )  # fmt: skip


def _own_thresholds(
    modality: str, spec: MatcherSpec, genuine: Scores, impostor: Scores,
    targets: Sequence[float], own: cal.Calibration | None,
) -> tuple[str, int, tuple[cal.OperatingPoint, ...]]:  # fmt: skip
    """(where from, impostor pairs behind them, points) of the thresholds for deciding alone."""
    if own is None:
        return (
            "fitted with the LLR map",
            int(impostor.size),
            _operating_points(genuine, impostor, targets),
        )
    if own.score_kind != spec.score_kind:
        raise ValueError(
            f"{modality}: calibration scores are {own.score_kind!r}, not {spec.score_kind!r}"
        )
    points = tuple(own.point_for(t) for t in sorted(set(targets), reverse=True))
    return f"calibration {own.recogniser_id}: {own.dataset}", own.n_impostor, points


def fit_fusion(
    data: Comparisons, model_id: str, dataset: str,
    matchers: tuple[MatcherSpec, MatcherSpec] = (FACE_DLIB, FINGER_BOZORTH3),
    targets: Sequence[float] = cal.DEFAULT_TARGET_FMRS,
    own: Mapping[str, cal.Calibration] | None = None,
) -> FusionModel:  # fmt: skip
    """Fit each LLR map on its own scores, then the fused thresholds on pairs with both scores.

    `own` maps "face"/"finger" to that matcher's calibration, whose thresholds it then keeps for
    deciding alone.
    """
    own = own or {}
    face, finger = (
        fit_score_model(name, spec, *data.split(scores), targets, own.get(name))
        for name, spec, scores in zip(MODALITIES, matchers, (data.face, data.finger), strict=True)
    )
    both = np.isfinite(data.face) & np.isfinite(data.finger)
    fused = Comparisons(data.face[both], data.finger[both], data.genuine[both])
    genuine, impostor = fused.split(face.llr(fused.face) + finger.llr(fused.finger))
    return FusionModel(
        model_id=model_id, dataset=dataset,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        face=face, finger=finger, n_genuine=int(genuine.size), n_impostor=int(impostor.size),
        operating_points=_operating_points(genuine, impostor, targets),
    )  # fmt: skip


def _write_atomically(path: Path, text: str) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new one."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # mkstemp makes 0600; shipped package data must stay readable
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _points_from(raw: Any) -> tuple[cal.OperatingPoint, ...]:
    """Operating points from a JSON list, each with exactly the expected keys and types."""
    if not isinstance(raw, list):
        raise TypeError("'operating_points' must be a JSON list")
    keys = {f.name for f in fields(cal.OperatingPoint)}
    points = []
    for item in raw:
        check_keys(item, keys, "operating point")
        points.append(cal.OperatingPoint(**scalar_fields(cal.OperatingPoint, item)))
    return tuple(points)


def _score_model_from(raw: Any, what: str) -> ScoreModel:
    """One modality's model from parsed JSON."""
    check_keys(raw, {f.name for f in fields(ScoreModel)}, what)
    return ScoreModel(
        **scalar_fields(ScoreModel, raw), operating_points=_points_from(raw["operating_points"])
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
        operating_points=_points_from(data["operating_points"]),
    )
