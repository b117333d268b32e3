"""Score calibration: turn a target false-match rate into a score threshold, and keep the evidence.

Scores are similarities: higher means more alike, and a comparison whose score is >= the
threshold is a match. Nothing here assumes a score range except `pair_scores`, which produces
cosine similarities in [-1, 1]; other matchers (fingerprints) bring their own scores.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]

# "Rule of 30" (Doddington et al.; ISO/IEC 19795-1): an error rate is only trusted when at
# least 30 errors are expected at that rate, so FMR p needs at least 30 / p impostor pairs.
MIN_EXPECTED_ERRORS = 30
DEFAULT_TARGET_FMRS = (1e-2, 1e-3, 1e-4)
FORMAT_VERSION = 1
# log-log DET axes cannot show a rate of 0; such points are drawn at this floor instead.
DET_PLOT_FLOOR = 1e-6
DET_MARKER_FMRS = (1e-2, 1e-3)
# Unit-length check for pair_scores: float32 normalisation is good to ~1e-7, raw embeddings
# are off by far more than this.
_NORM_TOLERANCE = 1e-3


def _as_scores(values: npt.ArrayLike, name: str) -> Scores:
    """Scores as a non-empty, finite, 1-D float64 array, or a ValueError naming the argument."""
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of scores, got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or infinite scores")
    return scores


def failure_to_acquire_rows(embeddings: np.ndarray) -> npt.NDArray[np.bool_]:
    """Mask of rows that hold a NaN, the marker for an image where no template was made."""
    nan = np.isnan(np.asarray(embeddings, dtype=np.float64))
    return np.asarray(nan.any(axis=1), dtype=np.bool_)


def pair_scores(embeddings: np.ndarray, labels: Sequence[str]) -> tuple[Scores, Scores]:
    """Cosine scores of every unordered pair i < j: (genuine, impostor), NaN rows left out."""
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(labels):
        raise ValueError(f"need one label per row: {matrix.shape} rows vs {len(labels)} labels")
    keep = ~failure_to_acquire_rows(matrix)
    matrix = matrix[keep]
    norms = np.linalg.norm(matrix, axis=1)
    if not np.allclose(norms, 1.0, atol=_NORM_TOLERANCE):
        raise ValueError("embeddings must be L2-normalised rows (cosine = dot product)")
    # Integer codes make the n x n label comparison cheap even for ~5,000 string labels.
    _, codes = np.unique(np.asarray(labels, dtype=str)[keep], return_inverse=True)
    scores = matrix @ matrix.T
    upper = np.triu(np.ones(scores.shape, dtype=bool), k=1)
    same = codes[:, None] == codes[None, :]
    return scores[upper & same], scores[upper & ~same]


@dataclass(frozen=True)
class ErrorRates:
    """Empirical error rates of one threshold on one set of genuine and impostor scores."""

    threshold: float
    fmr: float
    fnmr: float


def fmr_at(threshold: float, impostor: npt.ArrayLike) -> float:
    """Fraction of impostor scores >= threshold (accepted as matches)."""
    scores = _as_scores(impostor, "impostor")
    return np.count_nonzero(scores >= threshold) / scores.size


def fnmr_at(threshold: float, genuine: npt.ArrayLike) -> float:
    """Fraction of genuine scores < threshold (rejected as non-matches)."""
    scores = _as_scores(genuine, "genuine")
    return np.count_nonzero(scores < threshold) / scores.size


def error_rates_at(threshold: float, genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> ErrorRates:
    """FMR and FNMR of one threshold."""
    return ErrorRates(float(threshold), fmr_at(threshold, impostor), fnmr_at(threshold, genuine))


def _max_false_matches(n_impostor: int, target_fmr: float) -> int:
    """Largest count k with k / n <= target, computed with the same division fmr_at uses."""
    k = min(n_impostor, math.floor(target_fmr * n_impostor))
    # floor(target * n) can be one off either way in floating point (0.29 * 100 = 28.999...).
    while k < n_impostor and (k + 1) / n_impostor <= target_fmr:
        k += 1
    while k > 0 and k / n_impostor > target_fmr:
        k -= 1
    return k


def threshold_at_fmr(impostor: npt.ArrayLike, target_fmr: float) -> float:
    """Lowest float64 threshold whose empirical FMR is <= target_fmr (0 <= target < 1).

    With k the most false matches the target allows, the answer is the smallest float64 strictly
    above the (k+1)-th highest impostor score (np.nextafter), so it is usually not a score itself
    and one float step lower breaks the target. Tied impostor scores are kept together: when a
    tie straddles position k+1 the whole block is rejected and the achieved FMR drops below the
    target. The value survives JSON exactly (float repr round-trips), but the guarantee holds
    only for scores computed the same way, in float64.
    """
    if not 0.0 <= target_fmr < 1.0:
        raise ValueError(f"target_fmr must be in [0, 1), got {target_fmr}")
    scores = _as_scores(impostor, "impostor")
    k = _max_false_matches(scores.size, target_fmr)
    kth_highest = np.partition(scores, scores.size - 1 - k)[scores.size - 1 - k]
    return float(np.nextafter(kth_highest, np.inf))


def det_curve(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[Scores, Scores, Scores]:
    """(fmr, fnmr, thresholds) at every distinct score plus one step above the highest.

    Thresholds ascend, so FMR falls from 1 to 0 while FNMR rises from 0 to 1.
    """
    gen = np.sort(_as_scores(genuine, "genuine"))
    imp = np.sort(_as_scores(impostor, "impostor"))
    distinct = np.unique(np.concatenate([gen, imp]))
    thresholds = np.append(distinct, np.nextafter(distinct[-1], np.inf))
    fmr = (imp.size - np.searchsorted(imp, thresholds, side="left")) / imp.size
    fnmr = np.searchsorted(gen, thresholds, side="left") / gen.size
    return fmr, fnmr, thresholds


def eer(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[float, float]:
    """Equal error rate and its threshold, linearly interpolated where FNMR crosses FMR."""
    fmr, fnmr, thresholds = det_curve(genuine, impostor)
    gap = fnmr - fmr  # -1 at the lowest threshold, +1 above the highest, never decreasing
    i = int(np.argmax(gap >= 0))
    # Walk the straight ROC segment between the last point below and the first point at/above.
    alpha = gap[i - 1] / (gap[i - 1] - gap[i])
    rate = fmr[i - 1] + alpha * (fmr[i] - fmr[i - 1])
    threshold = thresholds[i - 1] + alpha * (thresholds[i] - thresholds[i - 1])
    return float(rate), float(threshold)


def required_impostor_pairs(target_fmr: float) -> int:
    """Impostor comparisons needed to support target_fmr: MIN_EXPECTED_ERRORS / target_fmr."""
    _check_target(target_fmr)
    # Shave a relative 1e-12 so 30 / 1e-3 = 30000.000000000004 does not round up to 30001.
    return math.ceil(MIN_EXPECTED_ERRORS / target_fmr * (1 - 1e-12))


def fmr_supported(n_impostor: int, target_fmr: float) -> bool:
    """Rule of 30: an FMR target is supported when n_impostor >= 30 / target_fmr.

    At that size at least MIN_EXPECTED_ERRORS (30) false matches are expected at the target
    rate, which keeps the 90 % confidence interval within about +-30 % of the measured FMR.
    """
    return n_impostor >= required_impostor_pairs(target_fmr)


def _check_target(target_fmr: float) -> None:
    """Refuse an FMR target outside (0, 1)."""
    if not 0.0 < target_fmr < 1.0:
        raise ValueError(f"target FMR must be in (0, 1), got {target_fmr}")


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
        _check_points(self.operating_points, self.n_impostor)

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
        payload = {"format_version": FORMAT_VERSION, **asdict(self)}
        text = json.dumps(payload, sort_keys=True, indent=2, allow_nan=False) + "\n"
        path = Path(path)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(0o644)  # mkstemp makes 0600; shipped package data must stay readable
            tmp.replace(path)  # os.replace: readers see the old file or the new one, never half
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read and validate a file written by save; ValueError says what is wrong with it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return _calibration_from_dict(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid calibration file {path}: {exc}") from exc


def _check_keys(data: Any, expected: set[str], what: str) -> None:
    """Refuse anything but a JSON object with exactly the expected keys."""
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a JSON object")
    if missing := expected - data.keys():
        raise ValueError(f"{what} is missing keys: {', '.join(sorted(missing))}")
    if extra := data.keys() - expected:
        raise ValueError(f"{what} has unknown keys: {', '.join(sorted(extra))}")


# JSON types accepted for each dataclass field type (bool is an int in Python, so it is refused
# for numbers explicitly in _field).
_JSON_KINDS: dict[str, tuple[type, tuple[type, ...]]] = {
    "str": (str, (str,)),
    "int": (int, (int,)),
    "float": (float, (int, float)),
    "bool": (bool, (bool,)),
}


def _field(data: dict[str, Any], name: str, kind: str) -> Any:
    """One value of the expected JSON type, converted to the field's Python type."""
    convert, accepted = _JSON_KINDS[kind]
    value = data[name]
    if isinstance(value, bool) != (convert is bool) or not isinstance(value, accepted):
        raise TypeError(f"{name!r} must be a JSON {kind}, got {value!r}")
    return convert(value)


def _scalar_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The str/int/float/bool fields of a dataclass, type-checked from parsed JSON."""
    return {f.name: _field(data, f.name, str(f.type)) for f in fields(cls) if f.type in _JSON_KINDS}


def _calibration_from_dict(data: Any) -> Calibration:
    """Build a Calibration from parsed JSON, refusing missing, unknown or mistyped keys."""
    _check_keys(data, {f.name for f in fields(Calibration)} | {"format_version"}, "calibration")
    if data["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format_version {data['format_version']!r}, expected {FORMAT_VERSION}")
    if not isinstance(data["operating_points"], list):
        raise TypeError("'operating_points' must be a JSON list")
    point_keys = {f.name for f in fields(OperatingPoint)}
    points = []
    for raw in data["operating_points"]:
        _check_keys(raw, point_keys, "operating point")
        points.append(OperatingPoint(**_scalar_fields(OperatingPoint, raw)))
    return Calibration(**_scalar_fields(Calibration, data), operating_points=tuple(points))


def _check_points(points: tuple[OperatingPoint, ...], n_impostor: int) -> None:
    """Targets strictly falling, thresholds never falling, flags consistent with the rule of 30."""
    for point in points:
        _check_target(point.target_fmr)
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
    _check_target(target_fmr)
    threshold = threshold_at_fmr(impostor, target_fmr)
    supported = fmr_supported(impostor.size, target_fmr)
    return OperatingPoint(float(target_fmr), threshold, fnmr_at(threshold, genuine), supported)


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
    gen = _as_scores(genuine, "genuine")
    imp = _as_scores(impostor, "impostor")
    rate, rate_threshold = eer(gen, imp)
    # Falling target order is the order load() insists on.
    points = tuple(_operating_point(gen, imp, t) for t in sorted(set(targets), reverse=True))
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
        operating_points=points,
    )


def _report_row(point: OperatingPoint, n_impostor: int) -> str:
    """One table row; unsupported points say how many impostor pairs they would need."""
    row = f"{point.target_fmr:>10.0e}  {point.threshold:>12.6f}  {point.fnmr:>8.3%}"
    if point.supported:
        return row
    needed = required_impostor_pairs(point.target_fmr)
    return (
        f"{row}  (not supported: {n_impostor:,} impostor pairs"
        f" < {MIN_EXPECTED_ERRORS}/FMR = {needed:,})"
    )


def format_report(cal: Calibration) -> str:
    """Plain-text summary for a terminal: counts, EER, and one row per target FMR."""
    lines = [
        f"Recogniser   {cal.recogniser_id} ({cal.score_kind} scores, calibrated {cal.created})",
        f"Dataset      {cal.dataset}",
        f"Images       {cal.n_images:,} of {cal.n_identities:,} identities,"
        f" {cal.failure_to_acquire:,} failed to acquire",
        f"Comparisons  {cal.n_genuine:,} genuine, {cal.n_impostor:,} impostor",
        f"EER          {cal.eer:.3%} at threshold {cal.eer_threshold:.6f}",
        "",
        f"{'target FMR':>10}  {'threshold':>12}  {'FNMR':>8}",
    ]
    lines += [_report_row(point, cal.n_impostor) for point in cal.operating_points]
    return "\n".join(lines)


def _thin_for_plot(fmr: Scores, fnmr: Scores) -> tuple[Scores, Scores]:
    """Keep one point per 1/200 decade cell: millions of pairs would otherwise be plotted."""
    cells = np.round(np.log10(np.column_stack([fmr, fnmr])) * 200).astype(np.int64)
    keep = np.concatenate([[True], np.any(np.diff(cells, axis=0) != 0, axis=1)])
    keep[-1] = True
    return fmr[keep], fnmr[keep]


def _mark_targets(axes: Any, fmr: Scores, fnmr: Scores, color: Any) -> None:
    """Dot each DET_MARKER_FMRS target at the lowest FNMR reachable with FMR <= target."""
    for target in DET_MARKER_FMRS:
        reachable = fnmr[fmr <= target]
        if reachable.size:
            y = max(float(reachable.min()), DET_PLOT_FLOOR)
            axes.plot([target], [y], marker="o", linestyle="", color=color)


def _style_det_axes(axes: Any, title: str) -> None:
    """Log-log axes from the floor to 1, an EER diagonal, labels, legend and the floor note."""
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(DET_PLOT_FLOOR, 1.0)
    axes.set_ylim(DET_PLOT_FLOOR, 1.0)
    axes.plot([DET_PLOT_FLOOR, 1.0], [DET_PLOT_FLOOR, 1.0], ":", color="grey", label="FMR = FNMR")
    axes.plot([], [], "o", color="black", label="FMR 1e-2 and 1e-3")
    axes.set_xlabel(f"False match rate (FMR); 0 drawn at {DET_PLOT_FLOOR:g}")
    axes.set_ylabel(f"False non-match rate (FNMR); 0 drawn at {DET_PLOT_FLOOR:g}")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower left")  # no system reaches low FMR and FNMR at once


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    """Write a log-log DET plot (FNMR against FMR) as PNG, one line per pack.

    Each curve is (fmr, fnmr) as returned by det_curve. Rates of 0 cannot sit on a log axis,
    so they are clipped to DET_PLOT_FLOOR (1e-6), as the axis labels say.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    FigureCanvasAgg(figure)  # Agg directly: no pyplot state, no global backend switch
    axes = figure.add_subplot()
    for name, (fmr, fnmr) in curves.items():
        x = np.clip(np.asarray(fmr, dtype=np.float64), DET_PLOT_FLOOR, 1.0)
        y = np.clip(np.asarray(fnmr, dtype=np.float64), DET_PLOT_FLOOR, 1.0)
        (line,) = axes.plot(*_thin_for_plot(x, y), label=name)
        _mark_targets(axes, x, y, line.get_color())
    _style_det_axes(axes, title)
    figure.savefig(path, dpi=120)
