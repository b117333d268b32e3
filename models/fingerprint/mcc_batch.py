"""Full MCC (LSS-R) of one probe against several gallery templates at once, for the index.

mcc_matching.compare costs about 2.4 ms a pair, most of it five small float64 matrix products
and NumPy's overhead per call. Here the local similarities of the probe with every shortlisted
template come from four float32 products over the stacked templates (one BLAS call each), and
only the consolidation (LSS-R on at most min(nA, nB) pairs) runs per template. The scores are
compare's within 1e-3 (float32 products; the tests pin it).

Gallery templates are held as `Packed`, 662 bytes a cylinder (float32 cylinders take 6,144; the
byte values and per-cell booleans held until 2026-12-07 took 1,804):
- only the 208 of 256 cells whose centre lies in the disc: the others are never valid;
- cell values in 4 bits, two to a byte: 0 in an invalid cell, else the nearest of 15 levels
  evenly from Psi(0) (a valid cell no minutia reaches, a quarter or more of them) to 1;
- each cell's validity in one bit (np.packbits).
compare_many unpacks the shortlist in one table look-up and one np.unpackbits, and its products
run over the disc's cells only. Over the 49,626 within-set pairs of the eight FVC sets, 4-bit
scores lie within 7.5e-5 of 8-bit ones at the median and 9.4e-4 at p99 (impostor pairs within
4.3e-3, genuine pairs within 2.3e-2). At the shipped thresholds for 100 to 100,000 templates
(0.033 to 0.083) 3 to 16 of the 1,494 to 3,361 pairs at or above one flip, either way: under
0.7% of those decisions (bench/finger_cells.py, 2026-12-07). `Packed.of(template, 8)` keeps
8-bit values (1,286 bytes a cylinder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
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

PACKINGS = (4, 8)  # bits a stored cell value may take
TypeT = TypeVar("TypeT", bound=np.generic)


@dataclass(frozen=True)
class Packed:
    """A template's cylinders for re-scoring: the disc's cells only, each value in `bits` bits
    (two to a byte at 4), each cell's validity in one bit."""

    codes: npt.NDArray[np.uint8]  # (n, N_D * disc * bits / 8): by section, disc cells only
    cells: npt.NDArray[np.uint8]  # (n, disc / 8) validity of the disc's cells (np.packbits)
    minutiae: npt.NDArray[np.float32]  # (n, 3): x, y, direction at 500 ppi
    params: MccParameters
    bits: int = 4

    @classmethod
    def of(cls, template: MccTemplate, bits: int = 4) -> Packed:
        if bits not in PACKINGS:
            raise ValueError(f"cell values are stored in one of {PACKINGS} bits, not {bits}")
        p, inside = template.params, disc(template.params)
        cells = template.masks[:, :: p.nd]
        if np.delete(cells, inside, axis=1).any():
            raise ValueError("a cylinder has a valid cell outside its disc")
        values = by_section(template.cylinders, p)[:, disc_by_section(p)]
        codes = _encode(np.clip(values, 0.0, 1.0), bits, p)
        minutiae = template.minutiae[:, :3].astype(np.float32)
        return cls(codes, np.packbits(cells[:, inside], axis=1), minutiae, p, bits)

    @property
    def count(self) -> int:
        return int(self.codes.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.cells.nbytes + self.minutiae.nbytes)

    def expand(self) -> MccTemplate:
        """Back to an MccTemplate (float32 values), for mcc_matching.compare."""
        p, n, inside = self.params, self.count, disc(self.params)
        values, valid = unpack([self])
        sections = np.zeros((n, p.nd, p.ns * p.ns), np.float32)
        sections[:, :, inside] = values.reshape(n, p.nd, len(inside))
        cells = np.zeros((n, p.ns * p.ns), bool)
        cells[:, inside] = valid > 0
        rows = np.zeros((n, 5))
        rows[:, :3] = self.minutiae
        cylinders = sections.transpose(0, 2, 1).reshape(n, p.cells)
        return MccTemplate(cylinders, np.repeat(cells, p.nd, axis=1), rows, p)


@lru_cache(maxsize=8)
def disc(p: MccParameters) -> npt.NDArray[np.intp]:
    """Flat indices of the N_S^2 cells whose centre lies in the disc: the only ones ever valid
    (208 of 256 at N_S = 16)."""
    offsets = p.cell_offsets() * p.delta_s
    return np.flatnonzero(np.hypot(offsets[:, 0], offsets[:, 1]) <= p.radius)


@lru_cache(maxsize=8)
def disc_by_section(p: MccParameters) -> npt.NDArray[np.intp]:
    """Columns of by_section values that lie in the disc, section by section."""
    return (np.arange(p.nd)[:, None] * (p.ns * p.ns) + disc(p)[None, :]).ravel()


@lru_cache(maxsize=8)
def levels(bits: int, p: MccParameters) -> npt.NDArray[np.float32]:
    """The cell values the codes of `bits` bits stand for. 8 bits: 256 evenly over [0, 1]. 4 bits:
    0 (invalid cells) and 15 evenly from Psi(0), the least a valid cell holds (a cell no minutia
    reaches: at least a quarter of them on FVC prints, kept exact), to 1."""
    if bits == 8:
        return np.linspace(0.0, 1.0, 256, dtype=np.float32)
    floor = float(sigmoid(0.0, p.mu_psi, p.tau_psi))
    return np.r_[0.0, np.linspace(floor, 1.0, (1 << bits) - 1)].astype(np.float32)


@lru_cache(maxsize=8)
def _decoder(bits: int, p: MccParameters) -> npt.NDArray[np.floating]:
    """A stored byte's 8 // bits cell values (low bits first) as one table entry: float32, or two
    float32 seen as one float64 (levels lie in [0, 1]: never a NaN), so decoding is one gather."""
    shifts = np.arange(0, 8, bits)
    values = levels(bits, p)[(np.arange(256)[:, None] >> shifts[None, :]) & ((1 << bits) - 1)]
    return np.ascontiguousarray(values).view(np.float32 if bits == 8 else np.float64).ravel()


def _encode(values: npt.NDArray[np.float32], bits: int, p: MccParameters) -> npt.NDArray[np.uint8]:
    """Each value's nearest level, 8 // bits codes to a byte (low bits first, zero padded)."""
    grid = levels(bits, p)
    codes = np.searchsorted((grid[1:] + grid[:-1]) / 2, values).astype(np.uint8)
    per_byte = 8 // bits
    codes = np.pad(codes, ((0, 0), (0, -codes.shape[1] % per_byte)))
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    grouped = codes.reshape(len(codes), codes.shape[1] // per_byte, per_byte) << shifts
    return np.asarray(np.bitwise_or.reduce(grouped, axis=2), dtype=np.uint8)


def unpack(gallery: Sequence[Packed]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Stacked (cylinders, N_D * disc) cell values by section and (cylinders, disc) 0/1 validity
    of templates packed alike: one table look-up and one np.unpackbits over them all."""
    p, bits = gallery[0].params, gallery[0].bits
    if any(g.bits != bits for g in gallery):
        raise ValueError("templates packed in different bits cannot be re-scored together")
    inside = len(disc(p))
    codes = np.concatenate([g.codes for g in gallery])
    values = _decoder(bits, p)[codes].view(np.float32)[:, : p.nd * inside]  # without padding
    cells = np.unpackbits(np.concatenate([g.cells for g in gallery]), axis=1, count=inside)
    return values, cells.astype(np.float32)


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
    stacked, cells_b = unpack([gallery[k] for k in live])  # invalid cells hold 0 already
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
    # the disc's cells only: the others are invalid in every cylinder and add nothing
    values_a = by_section(probe.cylinders.astype(np.float32), p)[:, disc_by_section(p)]
    cells_a = probe.masks[:, :: p.nd][:, disc(p)].astype(np.float32)
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
