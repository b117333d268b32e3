"""Error rates of a matcher's scores: FMR, FNMR, the DET curve, the EER and the rule of 30.

Scores are similarities: higher means more alike, and a comparison whose score is >= the
threshold is a match. Nothing here assumes a score range except `pair_scores`, which produces
cosine similarities in [-1, 1]; other matchers (fingerprints) bring their own scores.
These are the measurements; models/calibration.py keeps the thresholds they give in a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]

# "Rule of 30" (Doddington et al.; ISO/IEC 19795-1): an error rate is only trusted when at
# least 30 errors are expected at that rate, so FMR p needs at least 30 / p impostor pairs.
MIN_EXPECTED_ERRORS = 30
# Unit-length check for pair_scores: float32 normalisation is good to ~1e-7, raw embeddings
# are off by far more than this.
_NORM_TOLERANCE = 1e-3


def as_scores(values: npt.ArrayLike, name: str) -> Scores:
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
    scores = as_scores(impostor, "impostor")
    return np.count_nonzero(scores >= threshold) / scores.size


def fnmr_at(threshold: float, genuine: npt.ArrayLike) -> float:
    """Fraction of genuine scores < threshold (rejected as non-matches)."""
    scores = as_scores(genuine, "genuine")
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
    scores = as_scores(impostor, "impostor")
    k = _max_false_matches(scores.size, target_fmr)
    kth_highest = np.partition(scores, scores.size - 1 - k)[scores.size - 1 - k]
    return float(np.nextafter(kth_highest, np.inf))


def det_curve(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[Scores, Scores, Scores]:
    """(fmr, fnmr, thresholds) at every distinct score plus one step above the highest.

    Thresholds ascend, so FMR falls from 1 to 0 while FNMR rises from 0 to 1.
    """
    gen = np.sort(as_scores(genuine, "genuine"))
    imp = np.sort(as_scores(impostor, "impostor"))
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


def check_target_fmr(target_fmr: float) -> None:
    """Refuse an FMR target outside (0, 1)."""
    if not 0.0 < target_fmr < 1.0:
        raise ValueError(f"target FMR must be in (0, 1), got {target_fmr}")


def required_impostor_pairs(target_fmr: float) -> int:
    """Impostor comparisons needed to support target_fmr: MIN_EXPECTED_ERRORS / target_fmr."""
    check_target_fmr(target_fmr)
    # Shave a relative 1e-12 so 30 / 1e-3 = 30000.000000000004 does not round up to 30001.
    return math.ceil(MIN_EXPECTED_ERRORS / target_fmr * (1 - 1e-12))


def fmr_supported(n_impostor: int, target_fmr: float) -> bool:
    """Rule of 30: an FMR target is supported when n_impostor >= 30 / target_fmr.

    At that size at least MIN_EXPECTED_ERRORS (30) false matches are expected at the target
    rate, which keeps the 90 % confidence interval within about +-30 % of the measured FMR.
    """
    return n_impostor >= required_impostor_pairs(target_fmr)


def binomial_upper(k: int, n: int, confidence: float) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound on a rate seen k times in n: the p at
    which k or fewer in n has probability 1 - confidence."""
    if n == 0 or k >= n:
        return 1.0

    def at_most_k(p: float) -> float:
        terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                 + i * math.log(p) + (n - i) * math.log1p(-p) for i in range(k + 1)]  # fmt: skip
        return sum(math.exp(t) for t in terms)

    low, high = k / n, 1.0
    for _ in range(60):  # bisection: at_most_k falls as p grows
        middle = (low + high) / 2
        low, high = (middle, high) if at_most_k(middle) > 1 - confidence else (low, middle)
    return high
