"""Minutia Cylinder-Code (MCC): a local minutiae descriptor and its LSS-R matcher, in NumPy.

R. Cappelli, M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new representation and matching
technique for fingerprint recognition", IEEE TPAMI 32(12), 2010 ("the paper"): Sec. 3 builds
the cylinders and compares two of them, Sec. 4 consolidates local similarities into one score;
LSS-R is its relaxation consolidation, also used in "Fingerprint indexing based on Minutia
Cylinder-Code", TPAMI 33(5), 2011. Symbols below are the paper's.

Each minutia m gets a cylinder: a disc of radius R around m, turned to m's direction, cut into
Ns x Ns cells of Nd direction bins each. A cell says how many neighbouring minutiae lie near
its centre with a given direction relative to m. Cylinders depend only on relative positions
and angles, so the score does not change when the print is moved on the scanner, or turned by
less than delta_theta (cylinders of minutiae whose directions differ more are not compared).

Choices where the paper's text leaves room (the tests pin them):
- min_VC and min_ME are shares of the cells whose centres lie in the disc (208 of 256 at
  Ns = 16): a cylinder is kept when 75% of its disc lies in the enlarged convex hull, and two
  cylinders are comparable when they share 60% of a disc's cells (748 of 1536).
- delta_theta = pi/2, the value every open MCC implementation we read uses (C++, Rust, CUDA,
  Java); `MccParameters(delta_theta=...)` takes another (bench/finger_matchers.py tries 2*pi/3).
- LSS-R relaxes the top min(nA, nB) pairs with a non-zero local similarity: a pair the paper
  calls "not matchable" has no efficiency and must not lend score to an impostor. When fewer
  than n_P pairs survive, the mean still divides by n_P, so tiny templates cannot score 1.

Conventions are minutiae.py's (pixels, y down, angles anticlockwise as seen): with them the
paper's rotation matrix turns a cylinder's i axis onto the minutia's direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.fingerprint.minutiae import MinutiaeTemplate

MCC_PPI = 500  # the paper's lengths (R, sigma_S, omega, mu_1^rho) are pixels at 500 ppi
_CHUNK = 16  # minutiae per block of the cell-value tensor: bounds memory at ~150 minutiae

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MccParameters:
    """The paper's parameter values (as open MCC implementations carry them), pixels at 500 ppi."""

    radius: float = 70.0  # R
    ns: int = 16  # N_S, cells along the side of the cylinder's base
    nd: int = 6  # N_D, direction sections
    sigma_s: float = 28 / 3  # sigma_S, spatial Gaussian
    sigma_d: float = 2 * math.pi / 9  # sigma_D, directional Gaussian
    mu_psi: float = 0.01  # mu_Psi and tau_Psi of the sigmoid Psi
    tau_psi: float = 400.0
    omega: float = 50.0  # how far beyond the minutiae's convex hull cells stay valid
    min_vc: float = 0.75  # min_VC, share of the disc's cells that must be valid
    min_m: int = 2  # min_M, neighbours within R + 3 sigma_S a cylinder needs
    min_me: float = 0.6  # min_ME, share of a disc's cells two cylinders must share
    delta_theta: float = math.pi / 2  # largest direction difference of comparable cylinders
    mu_p: float = 20.0  # mu_P, tau_P, min_nP, max_nP: how many pairs make the score
    tau_p: float = 2 / 5
    min_np: int = 4
    max_np: int = 12
    w_r: float = 0.5  # w_R, weight of a pair's own similarity in each relaxation step
    n_rel: int = 5  # n_rel, relaxation iterations
    mu_rho: tuple[float, float, float] = (5.0, math.pi / 12, math.pi / 12)  # d1, d2, d3
    tau_rho: tuple[float, float, float] = (-8 / 5, -30.0, -30.0)

    @property
    def delta_s(self) -> float:
        """Delta_S, the side of a cell."""
        return 2 * self.radius / self.ns

    @property
    def delta_d(self) -> float:
        """Delta_D, the height of a direction section."""
        return 2 * math.pi / self.nd

    @property
    def cells(self) -> int:
        """Values in one cylinder: N_S * N_S * N_D."""
        return self.ns * self.ns * self.nd

    def cell_offsets(self) -> Floats:
        """(N_S^2, 2) cell centres in units of Delta_S around the minutia: (i, j) - (N_S+1)/2."""
        steps = np.arange(1, self.ns + 1, dtype=np.float64) - (self.ns + 1) / 2
        i, j = np.meshgrid(steps, steps, indexing="ij")  # flat cell index = (i-1)*N_S + (j-1)
        return np.column_stack([i.ravel(), j.ravel()])

    def disc_cells(self) -> int:
        """Cells whose centre lies within R of the minutia: what a fully valid cylinder has."""
        offsets = self.cell_offsets() * self.delta_s
        return int((np.hypot(offsets[:, 0], offsets[:, 1]) <= self.radius).sum())


PAPER = MccParameters()


@dataclass(frozen=True, eq=False)
class MccTemplate:
    """The valid cylinders of one impression and the minutiae they were built around."""

    cylinders: npt.NDArray[np.float32]  # (n, N_S*N_S*N_D) cell values, 0 in invalid cells
    masks: Bools  # (n, N_S*N_S*N_D) True where the cell is valid
    minutiae: Floats  # (n, 5) rows (minutiae.py) at 500 ppi of the minutiae kept
    params: MccParameters = PAPER

    @property
    def count(self) -> int:
        """Number of valid cylinders."""
        return int(self.cylinders.shape[0])


# --- Cylinder creation (paper Sec. 3) -------------------------------------------------------


def angle_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> Floats:
    """d_Phi(a, b): a - b brought into [-pi, pi)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.asarray((diff + np.pi) % (2 * np.pi) - np.pi, dtype=np.float64)


def sigmoid(v: npt.ArrayLike, mu: float, tau: float) -> Floats:
    """Z(v, mu, tau) = 1 / (1 + exp(-tau (v - mu))), the paper's sigmoid (Psi is one)."""
    return np.asarray(1.0 / (1.0 + np.exp(-tau * (np.asarray(v) - mu))), dtype=np.float64)


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


# --- Matching (paper Sec. 3 local similarity, Sec. 4 LSS-R) ------------------------------------


def local_similarities(a: MccTemplate, b: MccTemplate) -> Floats:
    """(nA, nB) gamma: 1 - |c_a|b - c_b|a| / (|c_a|b| + |c_b|a|), 0 when not matchable."""
    p = a.params
    ca, cb = a.cylinders.astype(np.float64), b.cylinders.astype(np.float64)
    # A cell is valid in all N_D sections or in none, so masks and squared norms can be
    # reduced to the N_S^2 cells; invalid cells hold 0, so the cross term needs no mask.
    cells_a, cells_b = _cell_masks(a), _cell_masks(b)
    norm_ab2 = _squares_per_cell(ca, p) @ cells_b.T  # |c_a|b|^2
    norm_ba2 = cells_a @ _squares_per_cell(cb, p).T  # |c_b|a|^2
    diff2 = np.maximum(norm_ab2 + norm_ba2 - 2.0 * (ca @ cb.T), 0.0)
    denominator = np.sqrt(norm_ab2) + np.sqrt(norm_ba2)
    turn = np.abs(angle_difference(a.minutiae[:, None, 2], b.minutiae[None, :, 2]))
    common = p.nd * (cells_a @ cells_b.T)
    matchable = (
        (turn <= p.delta_theta) & (common >= p.min_me * p.disc_cells() * p.nd) & (denominator > 0)
    )
    gamma = 1.0 - np.sqrt(diff2) / np.where(matchable, denominator, 1.0)
    return np.asarray(np.where(matchable, gamma, 0.0))


def _cell_masks(template: MccTemplate) -> Floats:
    """(n, N_S^2) validity of each cell, as 0/1 floats for matrix products."""
    return template.masks[:, :: template.params.nd].astype(np.float64)


def _squares_per_cell(cylinders: Floats, p: MccParameters) -> Floats:
    """(n, N_S^2) sum over the N_D sections of each cell's squared values."""
    return np.asarray((cylinders * cylinders).reshape(len(cylinders), -1, p.nd).sum(axis=2))


def pairs_to_use(n_a: int, n_b: int, p: MccParameters) -> int:
    """n_P = min_nP + [Z(min(nA, nB), mu_P, tau_P) * (max_nP - min_nP)], rounded half up."""
    share = float(sigmoid(min(n_a, n_b), p.mu_p, p.tau_p))
    return p.min_np + math.floor(share * (p.max_np - p.min_np) + 0.5)


def top_pairs(gamma: Floats, n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows and columns of the n largest non-zero local similarities (LSS, repeats allowed)."""
    flat = gamma.ravel()
    order = np.argsort(-flat, kind="stable")[:n]
    order = order[flat[order] > 0]
    rows, cols = np.unravel_index(order, gamma.shape)
    return np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)


def _radial_angles(rows: Floats) -> Floats:
    """(n, n) d_R(m_t, m_k): m_t's direction against the direction from m_t to m_k."""
    dx = rows[None, :, 0] - rows[:, None, 0]
    dy = rows[:, None, 1] - rows[None, :, 1]  # y down: "up" on the image is +dy here
    return angle_difference(rows[:, None, 2], np.arctan2(dy, dx))


def compatibility(a_rows: Floats, b_rows: Floats, p: MccParameters) -> Floats:
    """(n, n) rho of pairs t, k: Z(d1) Z(d2) Z(d3), with rho(t, t) = 0."""
    dist_a = np.hypot(*(a_rows[:, None, :2] - a_rows[None, :, :2]).transpose(2, 0, 1))
    dist_b = np.hypot(*(b_rows[:, None, :2] - b_rows[None, :, :2]).transpose(2, 0, 1))
    d1 = np.abs(dist_a - dist_b)  # same distance in both prints
    turn_a = angle_difference(a_rows[:, None, 2], a_rows[None, :, 2])
    turn_b = angle_difference(b_rows[:, None, 2], b_rows[None, :, 2])
    d2 = np.abs(angle_difference(turn_a, turn_b))  # same relative direction
    d3 = np.abs(angle_difference(_radial_angles(a_rows), _radial_angles(b_rows)))  # same bearing
    rho = np.ones_like(d1)
    for d, mu, tau in zip((d1, d2, d3), p.mu_rho, p.tau_rho, strict=True):
        rho *= sigmoid(d, mu, tau)
    np.fill_diagonal(rho, 0.0)
    return rho


def relax(lam0: Floats, rho: Floats, p: MccParameters) -> Floats:
    """n_rel steps of lambda <- w_R lambda + (1 - w_R) sum_k rho(t, k) lambda_k / (n - 1)."""
    lam = lam0.copy()
    if len(lam) < 2:  # no other pair to support or contradict it
        return lam
    for _ in range(p.n_rel):
        lam = p.w_r * lam + (1 - p.w_r) * (rho @ lam) / (len(lam) - 1)
    return lam


def compare(a: MccTemplate, b: MccTemplate) -> float:
    """MCC LSS-R score in [0, 1]: the mean relaxed similarity of the n_P most efficient pairs."""
    if a.params != b.params:
        raise ValueError("MCC templates built with different parameters cannot be compared")
    p = a.params
    if a.count == 0 or b.count == 0:
        return 0.0
    gamma = local_similarities(a, b)
    rows, cols = top_pairs(gamma, min(a.count, b.count))  # n_R = min(nA, nB)
    if len(rows) == 0:
        return 0.0
    lam0 = gamma[rows, cols]
    lam = relax(lam0, compatibility(a.minutiae[rows], b.minutiae[cols], p), p)
    n_p = pairs_to_use(a.count, b.count, p)
    efficient = np.argsort(-(lam / lam0), kind="stable")[:n_p]  # lam0 > 0 by top_pairs
    return float(np.clip(lam[efficient].sum() / n_p, 0.0, 1.0))


# --- Minutiae templates that carry their cylinders (evaluation, gallery) ----------------------


@dataclass(frozen=True, eq=False)
class MinutiaeWithCylinders(MinutiaeTemplate):
    """A minutiae template with its cylinders already built, so each is built once."""

    cylinders: MccTemplate = field(kw_only=True)


def with_cylinders(
    template: MinutiaeTemplate, params: MccParameters = PAPER
) -> MinutiaeWithCylinders:
    """The same template, carrying its MCC cylinders."""
    t = template
    return MinutiaeWithCylinders(
        t.width, t.height, t.resolution_ppi, t.minutiae, t.extractor, t.quality, dict(t.extra),
        cylinders=build(t, params),
    )  # fmt: skip


def compare_minutiae(a: MinutiaeTemplate, b: MinutiaeTemplate) -> float:
    """MCC score of two minutiae templates, reusing cylinders they carry."""
    return compare(_cylinders_of(a), _cylinders_of(b))


def _cylinders_of(template: MinutiaeTemplate) -> MccTemplate:
    """The cylinders a template carries, or freshly built ones."""
    if isinstance(template, MinutiaeWithCylinders):
        return template.cylinders
    return build(template)
