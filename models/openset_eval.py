"""Open-set identification maths: galleries of identity templates searched by mated and non-mated probes.

A search is by someone enrolled (mated: their photo was not used to enrol them) or by someone
who is not (non-mated). At threshold t:
- FPIR(t): the share of non-mated searches whose best candidate scores at or above t;
- FNIR(t): the share of mated searches where the mate is not returned first at or above t
  (rank 1 with a score >= t: a gate decision names one person, so a mate beaten by someone
  else is a miss even when an alarm still rings);
- rank-r: the share of mated searches whose mate is among the r best, threshold ignored.
A threshold for a target FPIR is set on the non-mated top scores of the same searches.

Identity templates from K captures: `mean` (the normalised mean of the normalised captures, one
vector per person, optionally weighted by capture quality) or `max` (every capture kept, a person
scores the best of their captures).

Galleries larger than the people available are modelled, never measured: each probe's scores
against the people who are not its own are treated as its impostor distribution F_j, and the
best of N people then exceeds t with probability 1 - F_j(t)^N; a mate is returned first with
probability 1(s >= t) * F_j(s)^(N-1). F_j is either the probe's empirical distribution
(`empirical`: exactly what resampling N impostors with replacement gives; it cannot exceed the
probe's highest observed impostor, so it is optimistic far beyond the data) or a normal fitted
to the probe's Fisher-z scores (`normal`: extrapolates the tail; cohort-normalised scores are
already on the Fisher-z scale and are fitted as they are). Everything here is pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import erfc, sqrt

import numpy as np
import numpy.typing as npt

FPIR_TARGETS = (0.1, 0.03, 0.01, 0.003)
RANKS = (1, 5, 10)
GRID_POINTS = 2001  # thresholds on a modelled curve, spread over the scores' range

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Gallery:
    """Enrolled vectors: row r of `vectors` belongs to person `owner[r]` (0..people-1)."""

    vectors: np.ndarray
    owner: npt.NDArray[np.int64]
    people: int


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def build_gallery(
    captures: Sequence[np.ndarray], how: str, weights: Sequence[np.ndarray] | None = None
) -> Gallery:
    """One identity per entry of `captures` (a (K, d) array of unit templates each).

    how = "mean": one normalised (optionally weighted) mean vector per person; "max": every
    capture, scored as the best of the person's captures."""
    if how == "mean":
        rows = []
        for i, block in enumerate(captures):
            w = np.ones(len(block)) if weights is None else np.asarray(weights[i], dtype=float)
            rows.append((w[:, None] * block).sum(axis=0) / max(w.sum(), 1e-12))
        return Gallery(unit(np.array(rows)), np.arange(len(captures)), len(captures))
    if how == "max":
        owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(captures)])
        return Gallery(np.concatenate(list(captures)), owner.astype(np.int64), len(captures))
    raise ValueError(f"unknown template kind {how!r}: mean or max")


def person_scores(probes: np.ndarray, gallery: Gallery) -> Floats:
    """(probes, people) cosine scores; a person scores the best of their vectors."""
    raw = np.asarray(probes, dtype=np.float64) @ np.asarray(gallery.vectors, dtype=np.float64).T
    order = np.argsort(gallery.owner, kind="stable")
    owners = gallery.owner[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    out = np.full((len(probes), gallery.people), -np.inf)
    out[:, owners[starts]] = np.maximum.reduceat(raw[:, order], starts, axis=1)
    return out


def cohort_normalise(
    scores: Floats, k: int, gallery_self: Floats | None = None, mode: str = "probe"
) -> Floats:
    """Subtract a cohort score, on Fisher-z scores (atanh of the cosine): the mean of the probe's
    k best scores against the gallery other than the candidate (mode "probe", adaptive T-norm);
    mode "sym" also subtracts the candidate's own mean of its k best scores against the other
    enrolled people (gallery_self, (people, people) cosines, the diagonal ignored) and halves the
    sum (adaptive S-norm). The results are not cosines: model them with cosine=False."""
    if scores.shape[1] <= k:
        raise ValueError(f"cohort of top {k} needs more than {k} people in the gallery")
    scores = _fisher_z(scores)
    probe_term = _topk_mean_excluding(scores, k)
    if mode == "probe":
        return scores - probe_term
    if mode != "sym" or gallery_self is None:
        raise ValueError("mode must be 'probe', or 'sym' with gallery_self")
    own = _fisher_z(np.array(gallery_self, dtype=np.float64, copy=True))
    np.fill_diagonal(own, -np.inf)
    top = -np.sort(-own, axis=1)[:, :k].mean(axis=1)
    return scores - 0.5 * (probe_term + top[None, :])


def _topk_mean_excluding(scores: Floats, k: int) -> Floats:
    """For each (probe, candidate): mean of the probe's k best scores over the other candidates."""
    top = -np.sort(-scores, axis=1)[:, : k + 1]
    sum_k = top[:, :k].sum(axis=1, keepdims=True)
    sum_k1 = top.sum(axis=1, keepdims=True)
    inside = scores >= top[:, k - 1 : k]
    return np.where(inside, (sum_k1 - scores) / k, sum_k / k)


@dataclass(frozen=True)
class Searches:
    """The outcome of mated and non-mated searches against one gallery."""

    mate_score: Floats  # per mated search: the mate's score
    best_other: Floats  # per mated search: the best score of anyone else
    mate_rank: npt.NDArray[np.int64]  # per mated search: 1 + people scoring above the mate
    nonmated_top: Floats  # per non-mated search: the best score

    @staticmethod
    def pooled(parts: Sequence[Searches]) -> Searches:
        """Searches of several trials as one set."""
        return Searches(
            np.concatenate([p.mate_score for p in parts]),
            np.concatenate([p.best_other for p in parts]),
            np.concatenate([p.mate_rank for p in parts]),
            np.concatenate([p.nonmated_top for p in parts]),
        )


def searches(scores: Floats, mate: npt.NDArray[np.int64]) -> Searches:
    """Split a (probes, people) score matrix: mate[i] is the probe's person or -1 if not enrolled."""
    mate = np.asarray(mate)
    mated = mate >= 0
    m_scores = scores[mated]
    rows = np.arange(len(m_scores))
    own = m_scores[rows, mate[mated]]
    others = m_scores.copy()
    others[rows, mate[mated]] = -np.inf
    best_other = others.max(axis=1) if others.shape[1] > 1 else np.full(len(own), -np.inf)
    rank = 1 + (others > own[:, None]).sum(axis=1)
    nonmated = scores[~mated].max(axis=1) if scores.shape[1] else np.full((~mated).sum(), -np.inf)
    return Searches(own.astype(float), best_other.astype(float), rank, nonmated.astype(float))


def threshold_at_fpir(nonmated_top: Floats, target: float) -> float:
    """The lowest threshold with FPIR <= target on these non-mated searches."""
    top = np.sort(np.asarray(nonmated_top, dtype=float))[::-1]
    allowed = int(np.floor(target * len(top) + 1e-9))
    if allowed >= len(top):
        return float(-np.inf)
    return float(np.nextafter(top[allowed], np.inf))


def fpir_at(found: Searches, threshold: float) -> float:
    """Share of non-mated searches returning anyone at or above the threshold."""
    return float(np.mean(found.nonmated_top >= threshold)) if len(found.nonmated_top) else 0.0


def _hit_scores(found: Searches) -> Floats:
    """A mated search's score when its mate is ranked first, else -inf."""
    return np.where(found.mate_score >= found.best_other, found.mate_score, -np.inf)


def fnir_at(found: Searches, threshold: float) -> float:
    """Share of mated searches whose mate is not returned first at or above the threshold."""
    if not len(found.mate_score):
        return float("nan")
    return float(np.mean(~(_hit_scores(found) >= threshold)))


def rank_rate(found: Searches, rank: int) -> float:
    """Share of mated searches whose mate is among the `rank` best (ties in the mate's favour)."""
    return float(np.mean(found.mate_rank <= rank)) if len(found.mate_rank) else float("nan")


def det(found: Searches) -> tuple[Floats, Floats]:
    """(FPIR, FNIR) at every threshold where either changes, thresholds ascending."""
    hits = np.sort(_hit_scores(found))
    top = np.sort(found.nonmated_top)
    thresholds = np.unique(np.r_[hits[np.isfinite(hits)], top[np.isfinite(top)]])
    fpir = 1.0 - np.searchsorted(top, thresholds, side="left") / max(len(top), 1)
    fnir = np.searchsorted(hits, thresholds, side="left") / max(len(hits), 1)
    return fpir, fnir


def _fisher_z(scores: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(scores, -0.999999, 0.999999))


_Z_TABLE = np.linspace(-12.0, 12.0, 24001)
_LOG_SURVIVAL = np.log(np.array([0.5 * erfc(z / sqrt(2.0)) for z in _Z_TABLE]))


def _normal_survival(z: np.ndarray) -> np.ndarray:
    """P(Z >= z) for a standard normal, accurate in the far tail (log-linear table)."""
    return np.exp(np.interp(z, _Z_TABLE, _LOG_SURVIVAL))


def impostor_survival(impostors: Floats, at: Floats, tail: str, cosine: bool = True) -> Floats:
    """Q_j(at[j, c]) = P(an impostor score of probe j >= at[j, c]), one row per probe.

    `impostors` is (probes, M) with NaN where a column is not an impostor of that probe. The
    normal tail is fitted to Fisher-z cosines (cosine=True) or to the scores as they are."""
    at = np.asarray(at, dtype=float)
    if tail == "empirical":
        out = np.empty_like(at)
        for j, row in enumerate(impostors):
            values = np.sort(row[np.isfinite(row)])
            out[j] = 1.0 - np.searchsorted(values, at[j], side="left") / max(len(values), 1)
        return out
    if tail == "normal":
        z = np.where(np.isfinite(impostors), impostors, np.nan)
        z, at = (_fisher_z(z), _fisher_z(at)) if cosine else (z, at)
        mu = np.nanmean(z, axis=1, keepdims=True)
        sd = np.maximum(np.nanstd(z, axis=1, ddof=1, keepdims=True), 1e-6)
        return _normal_survival((at - mu) / sd)
    raise ValueError(f"unknown tail model {tail!r}: empirical or normal")


def _none_of(survival: Floats, n: int) -> Floats:
    """(1 - Q)^n, computed stably for tiny Q."""
    return np.exp(n * np.log1p(-np.minimum(survival, 1.0 - 1e-16)))


@dataclass(frozen=True)
class ModelledCurve:
    """FPIR and FNIR for a gallery of `people`, modelled on SCORE_GRID thresholds."""

    people: int
    thresholds: Floats
    fpir: Floats
    fnir: Floats

    def threshold_at(self, target: float) -> float:
        """The lowest grid threshold whose modelled FPIR is at most the target."""
        ok = np.flatnonzero(self.fpir <= target)
        return float(self.thresholds[ok[0]]) if len(ok) else float("inf")

    def fnir_at(self, threshold: float) -> float:
        """Modelled FNIR at a grid threshold (the nearest grid point at or above it)."""
        at = min(int(np.searchsorted(self.thresholds, threshold - 1e-12)), len(self.thresholds) - 1)
        return float(self.fnir[at])


def modelled_curve(
    nonmated_impostors: Floats,
    mate_scores: Floats,
    mated_impostors: Floats,
    people: int,
    tail: str = "normal",
    grid: Floats | None = None,
    cosine: bool = True,
) -> ModelledCurve:
    """FPIR(t) = mean_j 1 - F_j(t)^N over non-mated probes; FNIR(t) = 1 - mean_i 1(s_i >= t) *
    (1 - Q_i(s_i))^(N-1) over mated probes (mate score s_i, its own impostor distribution F_i)."""
    if grid is None:
        seen = np.r_[nonmated_impostors[np.isfinite(nonmated_impostors)], mate_scores]
        grid = np.linspace(seen.min() - 0.01, seen.max() + 0.01, GRID_POINTS)
    grid = np.asarray(grid, dtype=float)
    at = np.broadcast_to(grid, (len(nonmated_impostors), len(grid)))
    fpir = np.mean(
        1.0 - _none_of(impostor_survival(nonmated_impostors, at, tail, cosine), people), axis=0
    )
    mate_at = np.asarray(mate_scores, dtype=float)[:, None]
    # a tie with an impostor counts as a miss, as in the measured searches
    p_first = _none_of(impostor_survival(mated_impostors, mate_at, tail, cosine)[:, 0], people - 1)
    order = np.argsort(mate_scores)
    sorted_scores = np.asarray(mate_scores)[order]
    cum = np.r_[0.0, np.cumsum(p_first[order])]  # sum of p_first over mates with score < t
    below = np.searchsorted(sorted_scores, grid, side="left")
    total = cum[-1]
    fnir = 1.0 - (total - cum[below]) / max(len(mate_scores), 1)
    return ModelledCurve(people, grid, fpir, fnir)


@dataclass(frozen=True)
class Summary:
    """FNIR at each target FPIR (keyed "0.01"...: threshold, fnir, and fpir and supported when
    measured, modelled when modelled) and rank-r rates (measured only)."""

    at_fpir: dict[str, dict[str, float | bool]]
    rank: dict[str, float]


def summarise(found: Searches, targets: Sequence[float] = FPIR_TARGETS) -> Summary:
    """Measured FNIR at each target FPIR (with the threshold and whether the non-mated count
    supports it: at least 30 expected false positives, else indicative) and rank-r rates."""
    rows: dict[str, dict[str, float | bool]] = {}
    for target in targets:
        t = threshold_at_fpir(found.nonmated_top, target)
        rows[f"{target:g}"] = {
            "threshold": t,
            "fnir": fnir_at(found, t),
            "fpir": fpir_at(found, t),
            "supported": len(found.nonmated_top) * target >= 30,
        }
    return Summary(rows, {str(r): rank_rate(found, r) for r in RANKS})
