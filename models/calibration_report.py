"""What `gerbang calibrate` and `gerbang eval` show a person: the calibration table and DET plot.

Presentation only: the numbers come from models/error_rates.py and models/calibration.py.
matplotlib is imported inside plot_det, so only a command that draws a plot pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.error_rates import MIN_EXPECTED_ERRORS, Scores, required_impostor_pairs

if TYPE_CHECKING:
    from models.calibration import Calibration, OperatingPoint

# log-log DET axes cannot show a rate of 0; such points are drawn at this floor instead.
DET_PLOT_FLOOR = 1e-6
DET_MARKER_FMRS = (1e-2, 1e-3)


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
