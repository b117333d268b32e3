"""The open-set report: rows by population, captures, template and gallery size; a table; a DET plot.

A row is measured when the gallery fits in the people available (pooled over seeded trials) and
modelled otherwise (models/openset_protocol); modelled rows say so in the table, the JSON and the
plot legend. Beside the largest measured gallery the model is also run at that same size: the
gap between the two is the evidence for (or against) the modelled rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import openset_eval as ose
from models import openset_protocol as osp

DET_FLOOR = 1e-4


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    population: str
    captures: int
    template: str
    gallery: int
    how: str  # "measured (R trials)" | "modelled (<tail> tail, P people)" | "model check ..."
    mated: int
    nonmated: int
    at_fpir: dict[str, dict[str, float | bool]]
    rank: dict[str, float]
    det: tuple[np.ndarray, np.ndarray]

    def as_json(self) -> dict[str, object]:
        """The row without its curve, for report.json."""
        return {
            "population": self.population,
            "captures": self.captures,
            "template": self.template,
            "gallery_people": self.gallery,
            "how": self.how,
            "modelled": self.how.startswith("modelled") or self.how.startswith("model check"),
            "mated_searches": self.mated,
            "nonmated_searches": self.nonmated,
            "fnir_at_fpir": self.at_fpir,
            "rank": self.rank,
        }


def rows_for(
    population: str,
    photos: osp.Photos,
    variant: osp.Variant,
    sizes: Sequence[int],
    captures: int,
    repeats: int,
    seed: int,
    tail: str = "normal",
) -> list[Row]:
    """Measured or modelled rows for each gallery size, plus the model check."""
    largest = osp.largest_measured_gallery(photos, captures)
    rows: list[Row] = []
    if largest < 2:
        return rows
    for size in sizes:
        if size <= largest:
            rows.append(_measured_row(population, photos, variant, size, captures, repeats, seed))
        else:
            rows.append(
                _modelled_row(population, photos, variant, size, captures, seed, tail, "modelled")
            )
    if any(s > largest for s in sizes):
        if largest not in sizes:
            rows.append(
                _measured_row(population, photos, variant, largest, captures, repeats, seed)
            )
        rows.append(
            _modelled_row(population, photos, variant, largest, captures, seed, tail, "model check")
        )
    return rows


def _measured_row(
    population: str,
    photos: osp.Photos,
    variant: osp.Variant,
    size: int,
    captures: int,
    repeats: int,
    seed: int,
) -> Row:
    found = osp.measured(photos, variant, size, captures, repeats, seed)
    summary = ose.summarise(found)
    return Row(
        population,
        captures,
        variant.name,
        size,
        f"measured ({repeats} trials)",
        len(found.mate_score),
        len(found.nonmated_top),
        summary.at_fpir,
        summary.rank,
        ose.det(found),
    )


def _modelled_row(
    population: str,
    photos: osp.Photos,
    variant: osp.Variant,
    size: int,
    captures: int,
    seed: int,
    tail: str,
    label: str,
) -> Row:
    loo = osp.leave_one_out(photos, variant, captures, seed)
    curve = ose.modelled_curve(
        loo.nonmated_impostors,
        loo.mate_scores,
        loo.mated_impostors,
        size,
        tail,
        cosine=variant.cohort is None,
    )
    summary = osp.modelled_summary(curve)
    how = f"{label} ({tail} tail, from {loo.people} people)"
    return Row(
        population,
        captures,
        variant.name,
        size,
        how,
        len(loo.mate_scores),
        len(loo.nonmated_impostors),
        summary.at_fpir,
        {},
        (curve.fpir[::-1], curve.fnir[::-1]),
    )


def format_rows(rows: Sequence[Row], targets: Sequence[float] = ose.FPIR_TARGETS) -> str:
    """A terminal table; `*` marks an FPIR target the non-mated searches cannot support."""
    head = f"{'population':<14}{'K':>2} {'template':<10}{'people':>7}  {'how':<34}{'mated':>6}{'non-m':>6}"
    head += "".join(f"{'FNIR@' + format(t * 100, 'g') + '%':>11}" for t in targets)
    head += "".join(f"{'rank-' + r:>8}" for r in map(str, ose.RANKS))
    lines = [head, "-" * len(head)]
    for r in rows:
        line = f"{r.population:<14}{r.captures:>2} {r.template:<10}{r.gallery:>7}  {r.how:<34}"
        line += f"{r.mated:>6}{r.nonmated:>6}"
        for t in targets:
            cell = r.at_fpir[f"{t:g}"]
            flag = "" if cell.get("modelled") or cell.get("supported") else "*"
            line += f"{format(float(cell['fnir']), '.1%') + flag:>11}"
        line += "".join(
            f"{format(r.rank[k], '.1%') if k in r.rank else '-':>8}" for k in map(str, ose.RANKS)
        )
        lines.append(line)
    lines.append(
        "FNIR: mate not returned first at or above the threshold set for that FPIR. "
        "* fewer than 30 expected false positives: indicative. Modelled rows are not measurements."
    )
    return "\n".join(lines)


def plot(rows: Sequence[Row], path: Path, title: str) -> None:
    """A log-log DET plot, FNIR against FPIR (modelled lines dashed): the first template kind at
    the most captures, one line per population and gallery size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.0, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = [r for r in rows if not r.how.startswith("model check")]
    if shown:
        template, captures = shown[0].template, max(r.captures for r in shown)
        shown = [r for r in shown if r.template == template and r.captures == captures]
    for r in shown:
        fpir, fnir = (np.clip(np.asarray(v, dtype=float), DET_FLOOR, 1.0) for v in r.det)
        modelled = r.how.startswith("modelled")
        label = f"{r.population} K={r.captures} {r.template} N={r.gallery}"
        axes.plot(
            fpir, fnir, "--" if modelled else "-", label=label + (" (modelled)" if modelled else "")
        )
    for target in ose.FPIR_TARGETS:
        axes.axvline(target, color="0.85", linewidth=0.8, zorder=0)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(DET_FLOOR, 1.0)
    axes.set_ylim(1e-3, 1.0)
    axes.set_xlabel(f"FPIR (non-mated searches returning anyone; floor {DET_FLOOR:g})")
    axes.set_ylabel("FNIR (mate not returned first)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="lower left", ncol=2)
    figure.savefig(path, dpi=120)
