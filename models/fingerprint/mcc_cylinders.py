"""MCC cylinder construction (paper Sec. 3): the valid cylinders of one minutiae template.

Each minutia m gets a cylinder: a disc of radius R around m, turned to m's direction, cut into
Ns x Ns cells of Nd direction bins each. A cell says how many neighbouring minutiae lie near
its centre with a given direction relative to m. Cylinders depend only on relative positions
and angles, which is what lets mcc_matching.py ignore where the print sits on the scanner.

Where the paper's text leaves room (the tests pin it): min_VC is a share of the cells whose
centres lie in the disc (208 of 256 at Ns = 16), so a cylinder is kept when 75% of its disc
lies in the enlarged convex hull.

Conventions are minutiae.py's (pixels, y down, angles anticlockwise as seen): with them the
paper's rotation matrix turns a cylinder's i axis onto the minutia's direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from models.fingerprint.mcc_template import (
    MCC_PPI,
    PAPER,
    Bools,
    Floats,
    MccParameters,
    MccTemplate,
    angle_difference,
    sigmoid,
)
from models.fingerprint.minutiae import MinutiaeTemplate

_CHUNK = 16  # minutiae per block of the cell-value tensor: bounds memory at ~150 minutiae


def cell_centres(rows: Floats, p: MccParameters) -> Floats:
    """(N, N_S^2, 2) centres p_ij of every minutia's cells: the base rotated by theta_m."""
    offsets = p.cell_offsets() * p.delta_s
    cos, sin = np.cos(rows[:, 2])[:, None], np.sin(rows[:, 2])[:, None]
    # [[cos, sin], [-sin, cos]] maps the i axis to (cos, -sin): the minutia's direction when
    # y points down and angles turn anticlockwise as seen (minutiae.py).
    x = rows[:, 0:1] + cos * offsets[:, 0] + sin * offsets[:, 1]
    y = rows[:, 1:2] - sin * offsets[:, 0] + cos * offsets[:, 1]
    return np.stack([x, y], axis=-1)


def convex_hull(points: Floats) -> Floats:
    """Vertices of the convex hull, anticlockwise in (x, y) algebra (Andrew's monotone chain)."""
    pts = np.unique(points, axis=0)  # sorted by x, then y
    if len(pts) < 3:
        return pts

    def half(seq: Floats) -> list[Floats]:
        chain: list[Floats] = []
        for q in seq:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], q) <= 0:
                chain.pop()
            chain.append(q)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _cross(o: Floats, a: Floats, b: Floats) -> float:
    """z of (a - o) x (b - o): positive when o -> a -> b turns left in (x, y) algebra."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def in_enlarged_hull(points: Floats, hull: Floats, omega: float) -> Bools:
    """ConvHull(T, omega): inside the hull, or within omega of its boundary."""
    starts, ends = hull, np.roll(hull, -1, axis=0)
    edges = ends - starts  # (H, 2); a 1- or 2-point hull has no inside, only a boundary
    inside: Bools = np.zeros(len(points), dtype=bool)
    if len(hull) >= 3:  # anticlockwise: inside means left of (or on) every edge
        rel = points[:, None, :] - starts[None, :, :]
        inside = np.all(edges[:, 0] * rel[..., 1] - edges[:, 1] * rel[..., 0] >= 0, axis=1)
    outside = np.flatnonzero(~inside)
    inside[outside] = _distance_to_boundary(points[outside], starts, edges) <= omega
    return inside


def _distance_to_boundary(points: Floats, starts: Floats, edges: Floats) -> Floats:
    """Distance from each point to the nearest of the segments starts + [0, 1] * edges."""
    rel = points[:, None, :] - starts[None, :, :]  # (P, H, 2)
    length2 = (edges * edges).sum(-1)
    along = (rel * edges).sum(-1) / np.where(length2 > 0, length2, 1.0)
    gap = rel - np.clip(along, 0.0, 1.0)[..., None] * edges
    return np.asarray(np.sqrt((gap * gap).sum(-1)).min(axis=1, initial=np.inf))


def valid_cells(rows: Floats, centres: Floats, p: MccParameters) -> Bools:
    """(N, N_S^2) xi_m(p_ij): the centre lies in m's disc and in ConvHull(T, omega)."""
    offsets = p.cell_offsets() * p.delta_s
    in_disc = np.hypot(offsets[:, 0], offsets[:, 1]) <= p.radius  # rotation keeps lengths
    hull = convex_hull(rows[:, :2])
    in_hull = in_enlarged_hull(centres[:, in_disc].reshape(-1, 2), hull, p.omega)
    valid = np.zeros(centres.shape[:2], dtype=bool)
    valid[:, in_disc] = in_hull.reshape(len(centres), -1)  # cells outside the disc stay invalid
    return valid


def neighbourhoods(rows: Floats, p: MccParameters) -> Bools:
    """(N, N) minutiae t != m within R + 3 sigma_S of m: the only ones that reach m's disc."""
    gaps = rows[:, None, :2] - rows[None, :, :2]
    near = np.hypot(gaps[..., 0], gaps[..., 1]) <= p.radius + 3 * p.sigma_s
    np.fill_diagonal(near, False)
    return np.asarray(near)


def _area_under_gaussian(alpha: Floats, p: MccParameters) -> Floats:
    """G_D(alpha): the N(0, sigma_D) mass over [alpha - Delta_D/2, alpha + Delta_D/2], via erf."""
    erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; scipy not required
    scale = math.sqrt(2) * p.sigma_d
    return np.asarray(
        0.5 * (erf((alpha + p.delta_d / 2) / scale) - erf((alpha - p.delta_d / 2) / scale))
    )


def directional_contributions(
    theta_m: Floats, theta_t: Floats, pairs: Bools, p: MccParameters
) -> Floats:
    """(n, N, N_D) C^D = G_D(d_Phi(d_phi_k, d_Phi(theta_m, theta_t))) where pairs[m, t], else 0."""
    d_phi = -np.pi + (np.arange(1, p.nd + 1) - 0.5) * p.delta_d  # each section's angle
    m, t = np.nonzero(pairs)
    relative = angle_difference(theta_m[m], theta_t[t])
    out = np.zeros((len(theta_m), len(theta_t), p.nd))
    out[m, t] = _area_under_gaussian(angle_difference(d_phi[None, :], relative[:, None]), p)
    return out


def _blocks(n: int) -> Iterator[slice]:
    """Consecutive slices of at most _CHUNK minutiae."""
    for start in range(0, n, _CHUNK):
        yield slice(start, min(start + _CHUNK, n))


def cell_values(rows: Floats, chosen: npt.NDArray[np.intp], p: MccParameters) -> Floats:
    """(n, N_S^2, N_D) C_m(i, j, k) = Psi(sum over t in N_p of C^S * C^D) of the chosen m.

    Every minutia of the template is a neighbour, including those whose own cylinder is invalid.
    Only about 2% of (cell, minutia) pairs are within 3 sigma_S, so only those are evaluated.
    """
    reach = neighbourhoods(rows, p)[chosen]
    directional = directional_contributions(rows[chosen, 2], rows[:, 2], reach, p)
    centres = cell_centres(rows[chosen], p)
    n_cells = centres.shape[1]
    sums = np.zeros((len(chosen) * n_cells, p.nd))
    norm = 1.0 / (p.sigma_s * math.sqrt(2 * math.pi))
    for block in _blocks(len(chosen)):
        dx = centres[block, :, 0, None] - rows[:, 0]  # (b, C, N)
        dy = centres[block, :, 1, None] - rows[:, 1]
        dist2 = dx * dx + dy * dy
        # N_p: other minutiae within 3 sigma_S of the cell centre (reach excludes m itself).
        b, c, t = np.nonzero((dist2 <= (3 * p.sigma_s) ** 2) & reach[block, None, :])
        spatial = norm * np.exp(-dist2[b, c, t] / (2 * p.sigma_s**2))  # C^S = G_S(d_S)
        keys = (b + block.start) * n_cells + c  # ascending: np.nonzero walks in C order
        _add_by_key(sums, keys, spatial[:, None] * directional[block.start + b, t])
    return sigmoid(sums.reshape(len(chosen), n_cells, p.nd), p.mu_psi, p.tau_psi)


def _add_by_key(out: Floats, keys: npt.NDArray[np.intp], values: Floats) -> None:
    """out[key] += sum of the values rows with that key; keys must be sorted."""
    if len(keys) == 0:
        return
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    out[keys[starts]] += np.add.reduceat(values, starts, axis=0)


def valid_cylinders(rows: Floats, cells_ok: Bools, p: MccParameters) -> Bools:
    """Cylinders with >= min_VC of the disc valid and >= min_M neighbours within R + 3 sigma_S."""
    enough_cells = cells_ok.sum(axis=1) >= p.min_vc * p.disc_cells()
    return np.asarray(enough_cells & (neighbourhoods(rows, p).sum(axis=1) >= p.min_m))


def build(template: MinutiaeTemplate, params: MccParameters = PAPER) -> MccTemplate:
    """The valid cylinders of a minutiae template (rescaled to 500 ppi first)."""
    if template.resolution_ppi != MCC_PPI:
        template = template.scaled_to(MCC_PPI)
    rows = np.asarray(template.minutiae, dtype=np.float64)
    if len(rows) == 0:
        empty = np.zeros((0, params.cells))
        return MccTemplate(empty.astype(np.float32), empty.astype(bool), rows, params)
    cells_ok = valid_cells(rows, cell_centres(rows, params), params)
    keep = valid_cylinders(rows, cells_ok, params)
    masks = np.repeat(cells_ok[keep], params.nd, axis=1)  # same validity in every section
    values = cell_values(rows, np.flatnonzero(keep), params).reshape(masks.shape)
    cylinders = np.where(masks, values, 0.0).astype(np.float32)
    return MccTemplate(cylinders, masks, rows[keep].copy(), params)
