"""What an MCC template is: the paper's parameters, the valid cylinders built with them, and the
two functions of the paper (d_Phi and Z) that both building and comparing cylinders use.

Shared by models/fingerprint/mcc_cylinders.py (which builds templates) and mcc_matching.py
(which compares them), so neither depends on the other; models/fingerprint/mcc.py says what
MCC is and where it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MCC_PPI = 500  # the paper's lengths (R, sigma_S, omega, mu_1^rho) are pixels at 500 ppi

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


_TWO_PI = 2 * np.pi


def angle_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> Floats:
    """d_Phi(a, b): a - b brought into [-pi, pi)."""
    # floor instead of %: the same values, three times faster on the index's large arrays
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    diff += np.pi
    diff -= _TWO_PI * np.floor(diff * (1 / _TWO_PI))
    diff -= np.pi
    return diff


def sigmoid(v: npt.ArrayLike, mu: float, tau: float) -> Floats:
    """Z(v, mu, tau) = 1 / (1 + exp(-tau (v - mu))), the paper's sigmoid (Psi is one)."""
    with np.errstate(over="ignore"):  # exp overflowing to inf gives 0, the right limit
        return np.asarray(1.0 / (1.0 + np.exp(-tau * (np.asarray(v) - mu))), dtype=np.float64)
