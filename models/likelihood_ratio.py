"""One matcher's score as evidence: a log-likelihood ratio fitted on dev scores, and its bounds.

Per matcher, LLR(s) = log p(s | genuine) / p(s | impostor) = clip(a * t(s) + b, floor, ceiling):
- a, b: linear logistic calibration (Brümmer and du Preez 2006; FoCal, BOSARIS), a logistic
  regression of genuine against impostor on t(s), t = identity for cosines and log(1 + s) for
  BOZORTH3 (genuine scores run to the hundreds, impostors stay below ~30). Both classes weigh
  half, so the log-odds fitted is the LLR itself, not posterior log-odds at the dev set's
  genuine:impostor ratio. Platt's (1999) smoothed targets keep a finite slope when the dev
  scores separate completely, as a strong face matcher's do on a small set.
- floor, ceiling: the most extreme LLR any tail of the dev scores shows with one example of the
  other class added (the end blocks of a PAV fit with pseudo-counts; the idea of Vergeer et al.
  2016's empirical bounds). On the dev set the line puts a BOZORTH3 score of 0 at -10 nats,
  the data at about -3 (one genuine pair in ~20 is two barely overlapping impressions that
  score like an impostor), and that let a failed finger veto a confident face; no score may
  claim more evidence than the data holds.
Why not KDE or plain PAV: FMR 1e-3 lives in the impostor tail, where a density estimate is set
by its bandwidth rather than by the few scores there, and PAV overfits a few hundred genuine
scores as a staircase. Four numbers per matcher serialise plainly; the map never falls.
models/fusion.py sums these LLRs; models/fusion_fit.py fits them on dev comparisons.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from models.error_rates import Scores

_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-12

# t(s), applied to raw scores before the line; the name is stored in fusion model files.
TRANSFORMS: dict[str, Callable[[Scores], Scores]] = {
    "identity": lambda s: s,
    # BOZORTH3 scores are >= 0; the clamp only keeps a corrupt negative from making a NaN.
    "log1p": lambda s: np.log1p(np.maximum(s, 0.0)),
}


def fit_llr(genuine: npt.ArrayLike, impostor: npt.ArrayLike, transform: str) -> tuple[float, float]:
    """Slope and intercept of LLR = slope * t(s) + intercept (prior-1/2 logistic regression)."""
    gen = TRANSFORMS[transform](_finite(genuine, "genuine"))
    imp = TRANSFORMS[transform](_finite(impostor, "impostor"))
    x = np.concatenate([gen, imp])
    # Platt's targets, and weights that give each class half the total.
    target = np.concatenate([np.full(gen.size, (gen.size + 1) / (gen.size + 2)),
                             np.full(imp.size, 1 / (imp.size + 2))])  # fmt: skip
    weight = np.concatenate([np.full(gen.size, 0.5 / gen.size), np.full(imp.size, 0.5 / imp.size)])
    centre, spread = float(x.mean()), float(x.std()) or 1.0  # standardised: Newton stays stable
    slope, intercept = _newton(
        np.column_stack([(x - centre) / spread, np.ones_like(x)]), target, weight
    )
    if not slope > 0:
        raise ValueError("genuine scores are not higher than impostor scores: no monotone LLR")
    return slope / spread, intercept - slope * centre / spread


def llr_bounds(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[float, float]:
    """Lowest and highest LLR any tail (s < c, s >= c) shows, one other-class example added."""
    gen, imp = np.sort(_finite(genuine, "genuine")), np.sort(_finite(impostor, "impostor"))
    cuts = np.unique(np.concatenate([gen, imp]))
    gen_above = gen.size - np.searchsorted(gen, cuts)  # scores >= each cut
    imp_above = imp.size - np.searchsorted(imp, cuts)
    share_g, share_i = 1.0 / (gen.size + 1), 1.0 / (imp.size + 1)  # as if one more of each
    with np.errstate(divide="ignore"):  # an empty tail gives -inf / +inf, never the extreme
        ceiling = np.log(gen_above * share_g) - np.log((imp_above + 1) * share_i)
        floor = np.log((gen.size - gen_above + 1) * share_g) - np.log(
            (imp.size - imp_above) * share_i
        )
    low, high = float(floor.min()), float(ceiling.max())
    if not low < 0 < high:
        raise ValueError("genuine and impostor scores do not separate: no evidence either way")
    return low, high


def _newton(design: Scores, target: Scores, weight: Scores) -> tuple[float, float]:
    """Weighted cross-entropy minimum by Newton's method (convex, so it converges in a few steps)."""
    beta = np.zeros(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = np.exp(-np.logaddexp(0.0, -(design @ beta)))  # sigmoid without overflow
        gradient = design.T @ (weight * (p - target))
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError as exc:  # every score the same: nothing to fit
            raise ValueError("scores do not vary: no LLR can be fitted") from exc
        beta -= step
        if np.abs(step).max() < _NEWTON_TOLERANCE:
            break
    return float(beta[0]), float(beta[1])


def _finite(values: npt.ArrayLike, name: str) -> Scores:
    """Scores as a non-empty, finite 1-D float64 array, or a ValueError naming them."""
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"{name} must be a non-empty 1-D array of finite scores")
    return scores
