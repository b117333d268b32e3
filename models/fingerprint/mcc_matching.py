"""MCC matching: the local similarity of two cylinders (paper Sec. 3) and LSS-R (Sec. 4).

LSS-R, the paper's relaxation consolidation (also used in "Fingerprint indexing based on
Minutia Cylinder-Code", TPAMI 33(5), 2011), turns the local similarities of two templates into
one score in [0, 1]. Only cylinders of minutiae whose directions differ by at most delta_theta
are compared, so the score does not change when the print is turned by less than that.

Where the paper's text leaves room (the tests pin it):
- min_ME is a share of a disc's cells: two cylinders are comparable when they share 60% of a
  disc's cells (748 of 1536 at Ns = 16, Nd = 6).
- delta_theta = pi/2, the value every open MCC implementation we read uses (C++, Rust, CUDA,
  Java); `MccParameters(delta_theta=...)` takes another (bench/finger_matchers.py tries 2*pi/3).
- LSS-R relaxes the top min(nA, nB) pairs with a non-zero local similarity: a pair the paper
  calls "not matchable" has no efficiency and must not lend score to an impostor. When fewer
  than n_P pairs survive, the mean still divides by n_P, so tiny templates cannot score 1.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from models.fingerprint.mcc_template import (
    Floats,
    MccParameters,
    MccTemplate,
    angle_difference,
    sigmoid,
)


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
    if 0 < n < flat.size:  # the n largest by partition, then in order (ties by position)
        part = np.argpartition(-flat, n - 1)[:n]
        order = part[np.lexsort((part, -flat[part]))]
    else:
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
