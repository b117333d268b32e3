"""Full MCC (LSS-R) of one probe against several gallery templates at once, for the index.

mcc_matching.compare costs about 2.4 ms a pair, most of it five small float64 matrix products
and NumPy's overhead per call. Here the local similarities of the probe with every shortlisted
template come from four float32 products over the stacked templates (one BLAS call each), and
only the consolidation (LSS-R on at most min(nA, nB) pairs) runs per template. The scores are
compare's within 1e-3 (float32 products; the tests pin it).

Gallery templates are held as `Packed`: cell values quantised to bytes (Psi lies in [0, 1]) and
cell validity per cell, a quarter of the float32 cylinders' memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from models.fingerprint.mcc_matching import pairs_to_use, top_pairs
from models.fingerprint.mcc_template import (
    Floats,
    MccParameters,
    MccTemplate,
    angle_difference,
    sigmoid,
)

_LEVELS = 255  # cell values are stored as round(value * 255)
TypeT = TypeVar("TypeT", bound=np.generic)


@dataclass(frozen=True)
class Packed:
    """A template's cylinders in a quarter of the memory: byte cell values, validity per cell."""

    values: npt.NDArray[np.uint8]  # (n, N_D * N_S^2): section by section (by_section)
    cells: npt.NDArray[np.bool_]  # (n, N_S^2)
    minutiae: npt.NDArray[np.float32]  # (n, 3): x, y, direction at 500 ppi
    params: MccParameters

    @classmethod
    def of(cls, template: MccTemplate) -> Packed:
        p = template.params
        values = np.rint(np.clip(template.cylinders, 0.0, 1.0) * _LEVELS).astype(np.uint8)
        cells = template.masks[:, :: p.nd].copy()
        return cls(by_section(values, p), cells, template.minutiae[:, :3].astype(np.float32), p)

    @property
    def count(self) -> int:
        return int(self.values.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.cells.nbytes + self.minutiae.nbytes)

    def expand(self) -> MccTemplate:
        """Back to an MccTemplate (float32 values), for mcc_matching.compare."""
        p = self.params
        masks = np.repeat(self.cells, p.nd, axis=1)
        cells_last = self.values.reshape(self.count, p.nd, p.ns * p.ns).transpose(0, 2, 1)
        values = cells_last.reshape(self.count, -1).astype(np.float32) / _LEVELS
        rows = np.zeros((self.count, 5))
        rows[:, :3] = self.minutiae
        return MccTemplate(values.astype(np.float32), masks, rows, p)


def by_section(values: npt.NDArray[TypeT], p: MccParameters) -> npt.NDArray[TypeT]:
    """Cylinder values reordered section by section: (n, N_S^2 * N_D) -> (n, N_D * N_S^2), so a
    cell's sum over sections adds contiguous blocks (products are the same in either order)."""
    n = len(values)
    return np.ascontiguousarray(
        values.reshape(n, p.ns * p.ns, p.nd).transpose(0, 2, 1).reshape(n, p.cells)
    )


def _squares_per_cell(values: npt.NDArray[np.float32], nd: int) -> npt.NDArray[np.float32]:
    """(n, N_S^2) sums over sections of squared values, of values ordered by_section."""
    squares = values * values
    return np.asarray(squares.reshape(len(values), nd, -1).sum(axis=1))


def compare_many(probe: MccTemplate, gallery: Sequence[Packed]) -> list[float]:
    """compare(probe, g) for every g, with the local similarities computed in one go."""
    scores = [0.0] * len(gallery)
    live = [k for k, g in enumerate(gallery) if g.count and probe.count]
    if not live:
        return scores
    p = probe.params
    if any(gallery[k].params != p for k in live):
        raise ValueError("MCC templates built with different parameters cannot be compared")
    stacked = np.concatenate([gallery[k].values for k in live]).astype(np.float32)
    stacked *= np.float32(1 / _LEVELS)  # invalid cells hold 0 already
    cells_b = np.concatenate([gallery[k].cells for k in live]).astype(np.float32)
    angles_b = np.concatenate([gallery[k].minutiae[:, 2] for k in live]).astype(np.float64)
    gamma = _local_similarities(probe, stacked, cells_b, angles_b)
    ends = np.cumsum([gallery[k].count for k in live])
    gammas = [gamma[:, s:e] for s, e in zip(np.r_[0, ends[:-1]], ends, strict=True)]
    for k, score in zip(
        live, _consolidate_all(probe, [gallery[k] for k in live], gammas), strict=True
    ):
        scores[k] = score
    return scores


def _local_similarities(probe: MccTemplate, values_b: npt.NDArray[np.float32],
                        cells_b: npt.NDArray[np.float32], angles_b: npt.NDArray[np.float64]
                        ) -> npt.NDArray[np.float64]:  # fmt: skip
    """mcc_matching.local_similarities of the probe against stacked gallery cylinders."""
    p = probe.params
    values_a = by_section(probe.cylinders.astype(np.float32), p)
    cells_a = probe.masks[:, :: p.nd].astype(np.float32)
    # float32 throughout (the stacked gallery is large): scores stay within 1e-5 of float64
    norm_ab2 = _squares_per_cell(values_a, p.nd) @ cells_b.T
    norm_ba2 = cells_a @ _squares_per_cell(values_b, p.nd).T
    diff2 = np.maximum(norm_ab2 + norm_ba2 - 2.0 * (values_a @ values_b.T), 0.0)
    denominator = np.sqrt(norm_ab2) + np.sqrt(norm_ba2)
    # |d_Phi| <= delta_theta as cos(d_Phi) >= cos(delta_theta): two outer products, no modulo
    theta_a, theta_b = probe.minutiae[:, 2], angles_b
    cos_turn = np.outer(np.cos(theta_a), np.cos(theta_b)) + np.outer(
        np.sin(theta_a), np.sin(theta_b)
    )
    common = p.nd * (cells_a @ cells_b.T)
    matchable = (
        (cos_turn >= np.cos(p.delta_theta))
        & (common >= p.min_me * p.disc_cells() * p.nd)
        & (denominator > 0)
    )
    gamma = 1.0 - np.sqrt(diff2) / np.where(matchable, denominator, 1.0)
    return np.asarray(np.where(matchable, gamma, 0.0), dtype=np.float64)


def _consolidate_all(
    probe: MccTemplate, gallery: list[Packed], gammas: list[Floats]
) -> list[float]:
    """LSS-R of every template from its local similarities, as mcc_matching.compare does it,
    with the templates' pairs padded into one (templates, pairs, pairs) block."""
    p = probe.params
    picked = [top_pairs(g, min(probe.count, o.count)) for g, o in zip(gammas, gallery, strict=True)]
    sizes = np.array([len(r) for r, _ in picked])
    width = int(sizes.max(initial=0))
    if width == 0:
        return [0.0] * len(gallery)
    m = len(gallery)
    valid = np.arange(width)[None, :] < sizes[:, None]  # (m, width)
    lam0, a_rows, b_rows = np.zeros((m, width)), np.zeros((m, width, 3)), np.zeros((m, width, 3))
    for k, ((rows, cols), other) in enumerate(zip(picked, gallery, strict=True)):
        lam0[k, : len(rows)] = gammas[k][rows, cols]
        a_rows[k, : len(rows)] = probe.minutiae[rows, :3]
        b_rows[k, : len(rows)] = other.minutiae[cols]
    rho = compatibility_many(a_rows, b_rows, p) * (valid[:, :, None] & valid[:, None, :])
    lam = lam0.copy()
    relaxing = (sizes >= 2)[:, None]  # one pair alone has nothing to support or contradict it
    for _ in range(p.n_rel):
        support = np.einsum("mtk,mk->mt", rho, lam) / np.maximum(sizes - 1, 1)[:, None]
        lam = np.where(relaxing, p.w_r * lam + (1 - p.w_r) * support, lam)
    ratio = np.where(valid, lam / np.where(valid, lam0, 1.0), -np.inf)
    order = np.argsort(-ratio, axis=1, kind="stable")
    n_p = np.array([pairs_to_use(probe.count, o.count, p) for o in gallery])
    chosen = np.arange(width)[None, :] < np.minimum(n_p, sizes)[:, None]
    total = (np.take_along_axis(lam, order, axis=1) * chosen).sum(axis=1)
    return [float(v) for v in np.clip(total / n_p, 0.0, 1.0)]


def compatibility_many(a_rows: Floats, b_rows: Floats, p: MccParameters) -> Floats:
    """mcc_matching.compatibility of many pair lists at once: (m, n, 3) rows -> (m, n, n) rho."""

    def geometry(rows: Floats) -> tuple[Floats, Floats, Floats]:
        dx = rows[:, None, :, 0] - rows[:, :, None, 0]  # x_k - x_t
        dy = rows[:, :, None, 1] - rows[:, None, :, 1]  # y down: up on the image is +dy
        theta = rows[:, :, None, 2]
        radial = angle_difference(theta, np.arctan2(dy, dx))
        return np.hypot(dx, dy), angle_difference(theta, rows[:, None, :, 2]), radial

    dist_a, turn_a, radial_a = geometry(a_rows)
    dist_b, turn_b, radial_b = geometry(b_rows)
    d1 = np.abs(dist_a - dist_b)
    d2 = np.abs(angle_difference(turn_a, turn_b))
    d3 = np.abs(angle_difference(radial_a, radial_b))
    rho = np.ones_like(d1)
    for d, mu, tau in zip((d1, d2, d3), p.mu_rho, p.tau_rho, strict=True):
        rho *= sigmoid(d, mu, tau)
    diagonal = np.arange(rho.shape[1])
    rho[:, diagonal, diagonal] = 0.0
    return rho
