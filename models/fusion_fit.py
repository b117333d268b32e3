"""Fitting a FusionModel on dev comparisons that each matcher has scored.

Each matcher's LLR map is fitted on the comparisons it scored (models/likelihood_ratio.py);
the fused threshold for a target FMR is then set on the fused impostor scores of comparisons
with both scores (error_rates.threshold_at_fmr), not read off the LLR scale: the calibration
is approximate and the FMR is what a site promises. A matcher's thresholds for deciding alone
come from its own calibration file when one is given, set on far more impostor pairs than a
chimeric dev set has; otherwise they are fitted here on the same scores.
Used by bench/fusion_dev.py, which writes the fusion files in models/calibrations/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from models import calibration as cal
from models.calibration import measure_operating_points
from models.error_rates import Scores
from models.fusion import MODALITIES, FusionModel, ScoreModel
from models.likelihood_ratio import fit_llr, llr_bounds


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
            measure_operating_points(genuine, impostor, targets),
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
        operating_points=measure_operating_points(genuine, impostor, targets),
    )  # fmt: skip
