"""Cohort score normalisation (adaptive S-norm) against a cohort of the site's own people.

A raw cosine says how alike two faces are; how surprising that is depends on the faces: some
probes (and some enrolled people) look like many others, and their every score is high. Adaptive
S-norm takes that out. On Fisher-z scores (atanh of the cosine, which spreads the crowded top of
the scale), a probe p and a candidate g score

    z(p, g) - (m_k(p, not g) + m_k(g)) / 2

where m_k(p, not g) is the mean of p's k best scores against the cohort other than g, and m_k(g)
the mean of g's k best scores against the cohort other than g itself. Measured on the shared
open-set data (bench/openset_measure.py, FNIR at FPIR 1%, mean template): 24.2% -> 22.0% on
Western faces and 31.6% -> 19.7% on East-Asian ones, the population whose different people look
most alike and so gain most.

The cohort is a sample of the site's own enrolled people (their identity templates), drawn when
the site calibrates (gallery_sync/openset.py), so the scores the thresholds are computed from and
the scores decided on are normalised against the same people. A person who is both a cohort
member and the candidate never counts in their own terms ("other than g"), so an enrolled person
is not penalised for being in the cohort; the calibration leaves the probe's own person out of
its terms too, as a probe by someone not enrolled has no twin in the cohort.

Pure numpy; the scores it returns are not cosines (they are not bounded by 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

CLIP = 1.0 - 1e-6  # atanh(1) is infinite: cosines are clipped just below it
CEILING = math.atanh(CLIP)  # no normalised score a threshold can demand lies above this
DEFAULT_K = 10

Floats = npt.NDArray[np.float64]


def fisher_z(scores: npt.ArrayLike) -> Floats:
    """atanh of clipped cosines."""
    return np.arctanh(np.clip(np.asarray(scores, dtype=np.float64), -CLIP, CLIP))


@dataclass(frozen=True)
class CohortNorm:
    """A cohort (identity templates of `members`, unit rows) and the adaptive S-norm against it.

    `terms` caches each candidate's own term by a caller's key (the gallery's identity-template
    id, which changes whenever the template does), so a search computes it once per person.
    """

    vectors: npt.NDArray[np.float32]
    members: tuple[str, ...]
    k: int = DEFAULT_K
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _terms: dict[Hashable, float] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.members):
            raise ValueError("need one cohort member per vector row")
        if len(self.members) < self.k + 2:
            raise ValueError(f"a cohort of top {self.k} needs at least {self.k + 2} people")
        self._index.update({m: i for i, m in enumerate(self.members)})

    def __len__(self) -> int:
        return len(self.members)

    def member_index(self, people: Sequence[str]) -> npt.NDArray[np.intp]:
        """Each person's row in the cohort, or -1 for people outside it."""
        return np.asarray([self._index.get(p, -1) for p in people], dtype=np.intp)

    def without(self, gone: Sequence[str]) -> CohortNorm | None:
        """The cohort with these people taken out (erased, merged); None if too few are left."""
        keep = [i for i, m in enumerate(self.members) if m not in set(gone)]
        if len(keep) < self.k + 2:
            return None
        return CohortNorm(self.vectors[keep], tuple(self.members[i] for i in keep), self.k)

    def own_terms(self, vectors: npt.ArrayLike, members: npt.ArrayLike) -> Floats:
        """m_k(g) per row: mean of its k best z-scores against the cohort, itself left out."""
        rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        cohort = fisher_z(rows @ self.vectors.T)
        _blank(cohort, np.asarray(members, dtype=np.intp))
        return _top_mean(cohort, self.k)

    def cached_terms(
        self,
        keys: Sequence[Hashable],
        people: Sequence[str],
        load: Callable[[list[Hashable]], npt.NDArray[np.float32]],
    ) -> Floats:
        """m_k(g) for these candidates, computing (from `load(keys)`' vectors) only new ones."""
        missing = [i for i, key in enumerate(keys) if key not in self._terms]
        if missing:
            fresh = self.own_terms(
                load([keys[i] for i in missing]), self.member_index([people[i] for i in missing])
            )
            for i, term in zip(missing, fresh.tolist(), strict=True):
                self._terms[keys[i]] = term
        return np.asarray([self._terms[key] for key in keys], dtype=np.float64)

    def normalise(
        self,
        queries: npt.ArrayLike,
        raw: npt.ArrayLike,
        candidates: npt.ArrayLike,
        candidate_terms: npt.ArrayLike,
        probe_own: npt.ArrayLike | None = None,
    ) -> Floats:
        """S-norm scores of queries (n, d) against candidates: raw cosines (n, c), each
        candidate's cohort row (c,) or -1, their own terms (c,) (or (n, c), `terms_without`).
        `probe_own` (n,) is a cohort row
        to leave out of each query's term (its own person, at calibration), or -1."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        cohort = fisher_z(queries @ self.vectors.T)
        if probe_own is not None:
            _blank(cohort, np.asarray(probe_own, dtype=np.intp))
        top = -np.sort(
            -np.partition(cohort, cohort.shape[1] - self.k - 1, axis=1)[:, -self.k - 1 :]
        )
        sum_k = top[:, : self.k].sum(axis=1, keepdims=True)
        sum_k1 = top.sum(axis=1, keepdims=True)
        members = np.asarray(candidates, dtype=np.intp)
        mine = np.where(members >= 0, cohort[:, np.maximum(members, 0)], -np.inf)
        inside = mine >= top[:, self.k - 1 : self.k]  # the candidate is among the probe's k best
        probe_term = np.where(inside, (sum_k1 - mine) / self.k, sum_k / self.k)
        terms = np.asarray(candidate_terms, dtype=np.float64)
        terms = terms[None, :] if terms.ndim == 1 else terms  # (c,), or (n, c) per pair
        return np.asarray(fisher_z(raw) - 0.5 * (probe_term + terms), dtype=np.float64)


def terms_without(
    norm: CohortNorm, vectors: npt.ArrayLike, members: npt.ArrayLike, left_out: npt.ArrayLike
) -> Floats:
    """m_k(g, not a) for every (a, g): each candidate row's own term with a cohort member `a`
    (left_out (n,), -1 for none) left out too, as (n, c). The calibration's probe capture comes
    from an enrolled person; a probe by someone not enrolled is never in a candidate's cohort
    term, so the calibration must leave the probe's person out of it too, or the look-alike pairs
    that make the tail would score lower than a stranger's would."""
    rows = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    cohort = fisher_z(rows @ norm.vectors.T)
    _blank(cohort, np.asarray(members, dtype=np.intp))
    top = -np.sort(-np.partition(cohort, cohort.shape[1] - norm.k - 1, axis=1)[:, -norm.k - 1 :])
    sum_k, sum_k1, kth = top[:, : norm.k].sum(axis=1), top.sum(axis=1), top[:, norm.k - 1]
    out = np.asarray(left_out, dtype=np.intp)
    theirs = np.where(out[:, None] >= 0, cohort[:, np.maximum(out, 0)].T, -np.inf)  # (n, c)
    inside = theirs >= kth[None, :]
    return np.where(inside, (sum_k1[None, :] - theirs) / norm.k, sum_k[None, :] / norm.k)


def normalise_pairs(
    norm: CohortNorm,
    queries: npt.ArrayLike,
    raw: npt.ArrayLike,
    candidates: npt.ArrayLike,
    candidate_terms: npt.ArrayLike,
) -> Floats:
    """S-norm of one score per query (row i against its own candidate i, whose cohort row is
    left out of the query's term): the genuine scores of a calibration."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    members = np.asarray(candidates, dtype=np.intp)
    cohort = fisher_z(queries @ norm.vectors.T)
    _blank(cohort, members)
    probe_term = _top_mean(cohort, norm.k)
    own = np.asarray(candidate_terms, dtype=np.float64)
    return np.asarray(fisher_z(raw) - 0.5 * (probe_term + own), dtype=np.float64)


def _blank(cohort: Floats, rows_members: npt.NDArray[np.intp]) -> None:
    """Set each row's own member column (>= 0) to -inf, in place."""
    rows = np.flatnonzero(rows_members >= 0)
    cohort[rows, rows_members[rows]] = -np.inf


def _top_mean(scores: Floats, k: int) -> Floats:
    """Mean of each row's k largest values."""
    return np.asarray(
        np.partition(scores, scores.shape[1] - k, axis=1)[:, -k:].mean(axis=1), dtype=np.float64
    )
