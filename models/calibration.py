"""Score calibration: the thresholds for target false-match rates, and the evidence behind them.

A Calibration is what `gerbang calibrate` measures once on a labelled set and what the service
reads at start: the EER and, per target FMR, the threshold, its FNMR and whether the set was
large enough to trust it (the rule of 30). The measurements themselves are in
models/error_rates.py; the terminal report and DET plot in models/calibration_report.py.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy.typing as npt

from models.calibration_report import format_report, plot_det
from models.error_rates import (
    Scores,
    as_scores,
    check_target_fmr,
    eer,
    fmr_supported,
    fnmr_at,
    pair_scores,
    threshold_at_fmr,
)
from models.json_files import check_keys, scalar_fields, write_json

# format_report, pair_scores and plot_det are re-exported only because edge/commands.py and
# edge/finger_commands.py import them from here; new code imports them from their own modules.
__all__ = [
    "DEFAULT_TARGET_FMRS",
    "FORMAT_VERSION",
    "Calibration",
    "OperatingPoint",
    "build_calibration",
    "check_operating_points",
    "format_report",
    "measure_operating_points",
    "operating_points_from_json",
    "pair_scores",
    "plot_det",
]

DEFAULT_TARGET_FMRS = (1e-2, 1e-3, 1e-4)
FORMAT_VERSION = 1
# The calibrations shipped with the package, one file per pack.
SHIPPED_CALIBRATIONS = Path(__file__).resolve().parent / "calibrations"


@dataclass(frozen=True)
class OperatingPoint:
    """Threshold for one target FMR, its FNMR on the calibration set, and the rule-of-30 verdict."""

    target_fmr: float
    threshold: float
    fnmr: float
    supported: bool


@dataclass(frozen=True)
class Calibration:
    """Thresholds for one recogniser, with the dataset and counts they were measured on."""

    recogniser_id: str
    dataset: str
    created: str  # ISO 8601, UTC
    score_kind: str  # "cosine" for face embeddings
    n_genuine: int
    n_impostor: int
    n_identities: int
    n_images: int
    failure_to_acquire: int
    eer: float
    eer_threshold: float
    operating_points: tuple[OperatingPoint, ...]

    def __post_init__(self) -> None:
        if not (0.0 <= self.eer <= 1.0 and math.isfinite(self.eer_threshold)):
            raise ValueError(f"bad EER {self.eer} at threshold {self.eer_threshold}")
        check_operating_points(self.operating_points, self.n_impostor)

    def point_for(self, target_fmr: float) -> OperatingPoint:
        """The stored point for exactly this target (to 1e-9 relative); ValueError otherwise."""
        for point in self.operating_points:
            if math.isclose(point.target_fmr, target_fmr, rel_tol=1e-9):
                return point
        stored = ", ".join(f"{p.target_fmr:g}" for p in self.operating_points)
        raise ValueError(
            f"{self.recogniser_id}: no calibrated point for FMR {target_fmr:g} (have {stored});"
            " thresholds are never interpolated, recalibrate with this target"
        )

    def threshold_for(self, target_fmr: float) -> float:
        """Threshold for a stored target FMR, supported or not (check point_for(...).supported)."""
        return self.point_for(target_fmr).threshold

    def save(self, path: Path) -> None:
        """Write as JSON (sorted keys, indent 2) via a temp file and an atomic rename."""
        write_json(Path(path), {"format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read and validate a file written by save; ValueError says what is wrong with it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return _calibration_from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid calibration file {path}: {exc}") from exc


def operating_points_from_json(raw: Any) -> tuple[OperatingPoint, ...]:
    """Operating points from a JSON list, each with exactly the expected keys and types."""
    if not isinstance(raw, list):
        raise TypeError("'operating_points' must be a JSON list")
    keys = {f.name for f in fields(OperatingPoint)}
    points = []
    for item in raw:
        check_keys(item, keys, "operating point")
        points.append(OperatingPoint(**scalar_fields(OperatingPoint, item)))
    return tuple(points)


def _calibration_from_dict(data: Any) -> Calibration:
    """Build a Calibration from parsed JSON, refusing missing, unknown or mistyped keys."""
    check_keys(data, {f.name for f in fields(Calibration)} | {"format_version"}, "calibration")
    if data["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format_version {data['format_version']!r}, expected {FORMAT_VERSION}")
    points = operating_points_from_json(data["operating_points"])
    return Calibration(**scalar_fields(Calibration, data), operating_points=points)


def check_operating_points(points: tuple[OperatingPoint, ...], n_impostor: int) -> None:
    """Targets strictly falling, thresholds never falling, flags consistent with the rule of 30."""
    for point in points:
        check_target_fmr(point.target_fmr)
        if not (math.isfinite(point.threshold) and 0.0 <= point.fnmr <= 1.0):
            raise ValueError(f"operating point {point} has a bad threshold or FNMR")
        if point.supported != fmr_supported(n_impostor, point.target_fmr):
            raise ValueError(f"operating point {point} disagrees with the rule of 30")
    for looser, stricter in itertools.pairwise(points):
        if stricter.target_fmr >= looser.target_fmr:
            raise ValueError("operating points must be ordered by falling target FMR")
        if stricter.threshold < looser.threshold:
            raise ValueError("thresholds must not fall as the target FMR falls")


def _operating_point(genuine: Scores, impostor: Scores, target_fmr: float) -> OperatingPoint:
    """Threshold, FNMR and rule-of-30 verdict for one target FMR."""
    check_target_fmr(target_fmr)
    threshold = threshold_at_fmr(impostor, target_fmr)
    supported = fmr_supported(impostor.size, target_fmr)
    return OperatingPoint(float(target_fmr), threshold, fnmr_at(threshold, genuine), supported)


def measure_operating_points(
    genuine: Scores, impostor: Scores, targets: Sequence[float]
) -> tuple[OperatingPoint, ...]:
    """One operating point per distinct target, strictest last: the order load() insists on."""
    return tuple(_operating_point(genuine, impostor, t) for t in sorted(set(targets), reverse=True))


def build_calibration(
    recogniser_id: str,
    dataset: str,
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    n_identities: int,
    n_images: int,
    failure_to_acquire: int,
    targets: Sequence[float] = DEFAULT_TARGET_FMRS,
    *,
    score_kind: str = "cosine",
) -> Calibration:
    """Measure the EER and one operating point per target FMR on these scores."""
    gen = as_scores(genuine, "genuine")
    imp = as_scores(impostor, "impostor")
    rate, rate_threshold = eer(gen, imp)
    return Calibration(
        recogniser_id=recogniser_id,
        dataset=dataset,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        score_kind=score_kind,
        n_genuine=int(gen.size),
        n_impostor=int(imp.size),
        n_identities=n_identities,
        n_images=n_images,
        failure_to_acquire=failure_to_acquire,
        eer=rate,
        eer_threshold=rate_threshold,
        operating_points=measure_operating_points(gen, imp, targets),
    )
