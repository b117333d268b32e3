"""Open-set (1:N) thresholds by target FPIR, from an impostor score distribution and the number of
people searched.

FPIR (false-positive identification rate) is the share of searches by someone NOT enrolled that
return any candidate. A search scores the probe against N people (identity templates, one score
per person) and returns those at or above the threshold t, so a non-enrolled probe raises a false
candidate when the largest of its N impostor scores reaches t.

Method (stated here and in the README):
1. Per-comparison impostor tail. `ImpostorTail` holds the upper tail of the per-comparison
   impostor distribution (probe capture against another person's identity template). Up to the
   score where at least `TAIL_EXCEEDANCES` comparisons lie above it, FMR(t) is read off the data
   (the empirical survival function). Beyond it the data is too thin, and FMR is extrapolated by
   peaks over threshold with an exponential tail: FMR(t) = (k / n) exp(-(t - u) / sigma) for
   t > u, where u is the k-th largest score (k = 50) and sigma the mean excess of the top
   max(50, n / 1000) scores over the next one (the maximum-likelihood fit of an exponential);
   both at most a tenth of the sample, so a small sample's body is never taken for its tail.
   Cosine scores are bounded by 1, so their true tail is lighter than exponential (a GPD with negative shape): the exponential fit over-states FMR far in the tail
   and the thresholds it gives err on the strict side.
2. From FMR to FPIR. With the N scores of one probe taken as independent draws,
   FPIR(t, N) = 1 - (1 - FMR(t))^N, so the threshold for a target FPIR at N people is the one for
   the per-comparison FMR 1 - (1 - FPIR)^(1/N). Scores of one probe are not independent (some
   faces look like many others); for probes whose own exceedance rates q_p vary, the true FPIR
   is the mean of 1 - (1 - q_p)^N, which by Jensen's inequality (the function is concave in q)
   never exceeds 1 - (1 - mean q)^N: the pooled rule over-states FPIR, so the threshold it gives
   meets the target or does better, at some cost in misses. `fpir_at` brute-forces the same
   quantity on data for the tests and the evaluation.
3. Expected misses (FNIR) at a threshold come from genuine identity scores (a capture against the
   mean of the person's other captures); they are measured, never extrapolated.

Everything here is pure (numpy only) and unit-tested against brute force on seeded data.
"""

from __future__ import annotations

import bisect
import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cohort import CEILING, CohortNorm, normalise_pairs, terms_without
from models.error_rates import as_scores
from models.json_files import write_json

TAIL_EXCEEDANCES = 50  # k: the data is read directly down to this many comparisons above t
FIT_FRACTION = (
    1e-3  # the tail scale is fitted to the top max(FIT_MIN, this share) of all comparisons
)
FIT_MIN = 50
KEEP_TOP = 200_000  # highest impostor scores kept (enough for FMR down to KEEP_TOP / n)
# Thresholds hold the target at 95% one-sided confidence: a gallery of a few hundred people gives
# a noisy tail, and a threshold set at the point estimate lets through more than the target on
# average (the FPIR is convex in the threshold). Measured in the README ("Flip and cohort S-norm").
CONFIDENCE_Z = 1.645
MAX_SCORE = 1.0  # cosine: no threshold above this; a target that needs more is unreachable
FORMAT_VERSION = 1


def fmr_for_fpir(target_fpir: float, people: int) -> float:
    """The per-comparison FMR that gives this FPIR over `people` independent comparisons."""
    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target FPIR must be in (0, 1), got {target_fpir}")
    if people < 1:
        raise ValueError(f"people searched must be at least 1, got {people}")
    # -expm1(log1p(-p) / n) is 1 - (1 - p)^(1/n) without the cancellation at large n.
    return -math.expm1(math.log1p(-target_fpir) / people)


def fpir_for_fmr(fmr: float, people: int) -> float:
    """FPIR of a search over `people` independent comparisons, each false with rate `fmr`."""
    if people < 1:
        return 0.0
    return -math.expm1(people * math.log1p(-min(fmr, 1.0 - 1e-16)))


@dataclass(frozen=True)
class ImpostorTail:
    """The upper tail of a per-comparison impostor distribution, and an exponential fit beyond it.

    `top` holds the highest impostor scores (descending) out of `n` comparisons in all.
    """

    top: tuple[float, ...]
    n: int
    u: float  # tail start: the k-th largest score
    k: int  # comparisons above u
    sigma: float  # exponential scale: mean excess over its own start of the top max(k, share)
    ceiling: float = MAX_SCORE  # the highest score possible: cosine 1, or S-norm's (cohort.py)
    fitted: int = FIT_MIN  # how many top scores sigma was fitted to
    z: float = CONFIDENCE_Z  # thresholds hold the target at this one-sided confidence (0: point)

    @classmethod
    def fit(
        cls, impostor: npt.ArrayLike, keep: int = KEEP_TOP, ceiling: float = MAX_SCORE
    ) -> ImpostorTail:
        """Keep the top scores of a (possibly very large) impostor sample and fit the tail."""
        scores = as_scores(np.ravel(np.asarray(impostor, dtype=np.float64)), "impostor")
        n = int(scores.size)
        kept = min(n, max(keep, TAIL_EXCEEDANCES + 1))
        top = (
            -np.sort(-np.partition(scores, n - kept)[n - kept :]) if kept < n else -np.sort(-scores)
        )
        return cls.from_top(top, n, ceiling)

    @classmethod
    def from_top(cls, top: npt.ArrayLike, n: int, ceiling: float = MAX_SCORE) -> ImpostorTail:
        """The tail from already-selected top scores (descending) out of n comparisons."""
        ranked = np.asarray(top, dtype=np.float64)
        if ranked.ndim != 1 or ranked.size < 2 or n < ranked.size:
            raise ValueError("need at least two top scores out of n >= their number")
        if np.any(np.diff(ranked) > 0):
            raise ValueError("top scores must be in descending order")
        # Only the top tenth of a small sample is tail: fitting from its minimum would be the body.
        upper = max(1, min(ranked.size - 1, n // 10))
        k = min(upper, TAIL_EXCEEDANCES)
        fitted = min(upper, max(FIT_MIN, int(FIT_FRACTION * n)))
        sigma = max(float(np.mean(ranked[:fitted] - ranked[fitted])), 1e-6)
        return cls(
            tuple(float(s) for s in ranked), int(n), float(ranked[k]), k, sigma, ceiling, fitted,
            CONFIDENCE_Z,  # read at each fit, so a bench can measure the point estimate (z = 0)
        )  # fmt: skip

    def fmr_at(self, threshold: float) -> float:
        """Share of impostor comparisons at or above the threshold (fitted tail beyond u)."""
        if threshold > self.u:
            return (self.k / self.n) * math.exp(-(threshold - self.u) / self.sigma)
        # A bisection on the tuple itself: converting the kept scores (up to 2,000) to an array
        # on every call cost 2.5 ms, about 80% of a fused gate decision's time.
        at_or_above = bisect.bisect_right(self.top, -threshold, key=operator.neg)
        if at_or_above < len(self.top):
            return at_or_above / self.n
        return len(self.top) / self.n  # below the kept scores: at least this (never used at scale)

    def threshold_at_fmr(self, fmr: float) -> float:
        """The lowest threshold whose FMR is at most `fmr` (capped at the ceiling)."""
        if not 0.0 < fmr < 1.0:
            raise ValueError(f"FMR must be in (0, 1), got {fmr}")
        allowed = fmr * self.n  # false matches allowed among the n comparisons
        z = self.z
        # Counted: the most comparisons c let through whose upper bound c + z sqrt(c) is allowed.
        counted = ((math.sqrt(z * z + 4 * allowed) - z) / 2) ** 2
        if counted >= self.k:
            index = min(math.floor(counted), len(self.top) - 1)
            # a threshold just above the (index+1)-th largest score lets exactly `index` through
            return float(np.nextafter(self.top[index], np.inf))
        # Fitted: the tail's rate at u and its scale at their upper bounds (Poisson count of k,
        # exponential scale from `fitted` excesses), so a gallery's sampling luck errs strict.
        rate = self.k + z * math.sqrt(self.k)
        sigma = self.sigma * (1 + z / math.sqrt(self.fitted))
        threshold = self.u + sigma * math.log(rate / allowed)
        return min(threshold, self.ceiling)

    def threshold_for_fpir(self, target_fpir: float, people: int) -> float:
        """The threshold for a target FPIR over `people` (1 - (1 - FPIR)^(1/N) per comparison)."""
        return self.threshold_at_fmr(fmr_for_fpir(target_fpir, max(people, 1)))

    def fpir_at(self, threshold: float, people: int) -> float:
        """Predicted FPIR at a threshold over `people` (pooled, independent comparisons)."""
        return fpir_for_fmr(self.fmr_at(threshold), people)

    def extrapolated(self, target_fpir: float, people: int) -> bool:
        """True when this threshold lies beyond the data, in the fitted tail."""
        return fmr_for_fpir(target_fpir, max(people, 1)) * self.n < self.k

    def as_dict(self, keep: int = 2_000) -> dict[str, Any]:
        """For a JSON file: the top `keep` scores (enough for the tail) and the counts."""
        return {"format_version": FORMAT_VERSION, "n": self.n, "top": list(self.top[:keep])}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImpostorTail:
        """Read what as_dict wrote."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"impostor tail format {data.get('format_version')!r}")
        return cls.from_top(np.asarray(data["top"], dtype=np.float64), int(data["n"]))


def fnir_at(threshold: float, genuine: npt.ArrayLike) -> float:
    """Share of genuine identity scores below the threshold (the enrolled person not found)."""
    scores = np.asarray(genuine, dtype=np.float64)
    if scores.size == 0:
        return float("nan")
    return float(np.mean(scores < threshold))


def unit_rows(matrix: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def identity_template(captures: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """A person's identity template: the normalised mean of their normalised captures."""
    rows = unit_rows(np.atleast_2d(np.asarray(captures, dtype=np.float32)))
    return unit_rows(rows.mean(axis=0, keepdims=True))[0]


@dataclass(frozen=True)
class IdentityScores:
    """Scores of a gallery against itself, at the level the service decides on."""

    impostor_top: ImpostorTail
    genuine: tuple[float, ...]
    people: int
    captures: int
    cohort: CohortNorm | None = None


def gallery_scores(
    vectors: npt.ArrayLike,
    people: Sequence[str],
    same_person: frozenset[tuple[str, str]] = frozenset(),
    chunk: int = 2048,
    level: str = "identity",
    cohort: CohortNorm | None = None,
) -> IdentityScores:
    """Impostor and genuine identity scores of an enrolled gallery (known-different people).

    Impostor: every capture against every OTHER person's identity template (the normalised mean of
    their captures); pairs listed in `same_person` (either order: open duplicate cases, suspected
    same people) are left out, so a duplicate never counts as an impostor. Genuine: each capture of
    a person with two or more against the mean of their other captures (leave one out).
    `level="capture"` scores a person by their best capture instead (the registry's search):
    impostor = the best of the other person's captures, genuine = the best of one's other ones.
    With a `cohort` (identity level only) every score is S-normalised against it as a search
    would be (models/cohort.py), each capture's own person left out of its cohort term.
    """
    if level not in ("identity", "capture"):
        raise ValueError(f"level must be 'identity' or 'capture', got {level!r}")
    if cohort is not None and level != "identity":
        raise ValueError("cohort normalisation scores identities, not captures")
    rows = unit_rows(vectors)
    labels = np.asarray(people, dtype=object)
    if rows.ndim != 2 or rows.shape[0] != labels.size:
        raise ValueError("need one person per vector row")
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    if names.size < 2:
        raise ValueError("need at least two people to score impostors")
    sums = np.zeros((names.size, rows.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, rows)
    means = unit_rows(sums)
    member = cohort.member_index(names.tolist()) if cohort is not None else None
    excluded = _excluded_pairs(names.tolist(), same_person)
    tops: list[npt.NDArray[np.float64]] = []
    total = 0
    order = np.argsort(codes, kind="stable")
    by_person, starts = rows[order], np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    for start in range(0, rows.shape[0], chunk):
        if level == "capture":
            block = np.maximum.reduceat(rows[start : start + chunk] @ by_person.T, starts, axis=1)
        else:
            block = rows[start : start + chunk] @ means.T
        if cohort is not None and member is not None:
            own = member[codes[start : start + chunk]]
            terms = terms_without(cohort, means, member, own)  # the probe's person left out
            block = cohort.normalise(rows[start : start + chunk], block, member, terms, own)
        keep = ~excluded[codes[start : start + chunk]]
        values = block[keep].astype(np.float64)
        total += values.size
        if values.size > KEEP_TOP:
            values = np.partition(values, values.size - KEEP_TOP)[-KEEP_TOP:]
        tops.append(values)
    pooled = np.concatenate(tops)
    if pooled.size > KEEP_TOP:
        pooled = np.partition(pooled, pooled.size - KEEP_TOP)[-KEEP_TOP:]
    ceiling = CEILING if cohort is not None else MAX_SCORE
    tail = ImpostorTail.from_top(-np.sort(-pooled), total, ceiling)
    if cohort is not None and member is not None:
        genuine = _normalised_genuine(rows, codes, sums, cohort, member)
    else:
        genuine = _genuine_scores(rows, codes, sums, level)
    return IdentityScores(tail, genuine, int(names.size), int(rows.shape[0]), cohort)


def _excluded_pairs(
    names: list[str], same_person: frozenset[tuple[str, str]]
) -> npt.NDArray[np.bool_]:
    """People x people: True where a pair is not an impostor pair (oneself, or the same person)."""
    excluded = np.zeros((len(names), len(names)), dtype=bool)
    index = {name: i for i, name in enumerate(names)}
    for a, b in same_person:
        if a in index and b in index:
            excluded[index[a], index[b]] = excluded[index[b], index[a]] = True
    np.fill_diagonal(excluded, True)
    return excluded


def _genuine_scores(
    rows: npt.NDArray[np.float32],
    codes: npt.NDArray[np.intp],
    sums: npt.NDArray[np.float64],
    level: str,
) -> tuple[float, ...]:
    """Each capture of a person with two or more against the rest of them (leave one out)."""
    counts = np.bincount(codes, minlength=sums.shape[0])
    genuine: list[float] = []
    for number, (row, code) in enumerate(zip(rows, codes, strict=True)):
        if counts[code] < 2:
            continue
        if level == "capture":
            mine = np.flatnonzero(codes == code)
            genuine.append(float(np.max(rows[mine[mine != number]] @ row)))
            continue
        others = sums[code] - row
        norm = float(np.linalg.norm(others))
        if norm > 0:
            genuine.append(float(row @ others / norm))
    return tuple(genuine)


def _normalised_genuine(
    rows: npt.NDArray[np.float32],
    codes: npt.NDArray[np.intp],
    sums: npt.NDArray[np.float64],
    cohort: CohortNorm,
    member: npt.NDArray[np.intp],
) -> tuple[float, ...]:
    """Each capture of a person with two or more against the mean of their others, S-normalised
    (the leave-one-out template's own term against the cohort, the person out of both terms)."""
    counts = np.bincount(codes, minlength=sums.shape[0])
    others = sums[codes] - rows
    norms = np.linalg.norm(others, axis=1)
    usable = (counts[codes] >= 2) & (norms > 0)
    if not usable.any():
        return ()
    templates = unit_rows(others[usable])
    raw = np.sum(rows[usable] * templates, axis=1)
    mine = member[codes[usable]]
    scores = normalise_pairs(cohort, rows[usable], raw, mine, cohort.own_terms(templates, mine))
    return tuple(float(s) for s in scores)


def fpir_brute_force(
    probe_rows: npt.ArrayLike, templates: npt.ArrayLike, people: int, threshold: float
) -> float:
    """Measured FPIR: the share of probes whose best score over `people` templates (the first
    `people` columns) reaches the threshold. For the tests and the evaluation, not the service."""
    scores = np.asarray(probe_rows, dtype=np.float64) @ np.asarray(templates, dtype=np.float64).T
    return float(np.mean(scores[:, :people].max(axis=1) >= threshold))


@dataclass(frozen=True)
class PointsTail:
    """A fallback tail from a pack's FMR operating points (per capture, measured elsewhere):
    log FMR linear in the threshold between the points, extended beyond the strictest point with
    the slope of the last two. Used only while no identity-level tail exists for the pack."""

    points: tuple[tuple[float, float], ...]  # (target FMR, threshold), FMR falling
    n: int = 0
    ceiling: float = MAX_SCORE

    def fmr_at(self, threshold: float) -> float:
        """FMR at a threshold, interpolated in log FMR."""
        fmrs = [math.log(p[0]) for p in self.points]
        thresholds = [p[1] for p in self.points]
        if threshold <= thresholds[0]:
            return self.points[0][0]
        for i in range(1, len(thresholds)):
            if threshold <= thresholds[i] or i == len(thresholds) - 1:
                t0, t1, f0, f1 = thresholds[i - 1], thresholds[i], fmrs[i - 1], fmrs[i]
                slope = (f1 - f0) / (t1 - t0) if t1 > t0 else -1e6
                return math.exp(f0 + slope * (threshold - t0))
        raise AssertionError("unreachable")

    def threshold_at_fmr(self, fmr: float) -> float:
        """The threshold for an FMR, interpolated in log FMR and capped at MAX_SCORE."""
        if fmr >= self.points[0][0]:
            return self.points[0][1]
        target = math.log(fmr)
        for i in range(1, len(self.points)):
            if fmr >= self.points[i][0] or i == len(self.points) - 1:
                (f0, t0), (f1, t1) = self.points[i - 1], self.points[i]
                lf0, lf1 = math.log(f0), math.log(f1)
                return min(t0 + (target - lf0) * (t1 - t0) / (lf1 - lf0), MAX_SCORE)
        raise AssertionError("unreachable")

    def threshold_for_fpir(self, target_fpir: float, people: int) -> float:
        return self.threshold_at_fmr(fmr_for_fpir(target_fpir, max(people, 1)))

    def fpir_at(self, threshold: float, people: int) -> float:
        return fpir_for_fmr(self.fmr_at(threshold), people)

    def extrapolated(self, target_fpir: float, people: int) -> bool:
        return fmr_for_fpir(target_fpir, max(people, 1)) < self.points[-1][0]


# The decision kinds of 1:N, and their default target FPIR (share of searches by someone not
# enrolled that return any candidate). The desk's duplicate check is investigation mode: an
# officer looks at every candidate, so it accepts more of them to miss fewer duplicates.
DEFAULT_TARGET_FPIR: dict[str, float] = {
    "gate_inmate": 0.01,
    "banned_visitor": 0.01,
    "visitor_exit": 0.01,
    "staff": 0.01,
    "identify": 0.01,
    "desk_duplicate": 0.05,
    "national_duplicate": 0.001,
}
USABLE_FNIR = 0.10  # above this miss rate the face alone cannot serve a target: say so


@dataclass(frozen=True)
class OpenSetCalibration:
    """Where thresholds come from: an impostor tail (identity level), the genuine identity scores
    when known, and what they were measured on."""

    tail: ImpostorTail | PointsTail
    genuine: tuple[float, ...]
    source: str  # "site" (this gallery), "shipped" (the pack's file), "fmr-points" (fallback)
    dataset: str
    people: int
    cohort: CohortNorm | None = None  # set: scores are S-normalised against it (cohort.py)

    @property
    def scale(self) -> str:
        """What the thresholds apply to: raw cosines, or S-norm scores against the cohort."""
        return "cosine" if self.cohort is None else "s-norm"

    def threshold(self, target_fpir: float, people: int) -> float:
        """The threshold for a target FPIR over `people` searched."""
        return self.tail.threshold_for_fpir(target_fpir, people)

    def expected_fnir(self, threshold: float) -> float | None:
        """Share of enrolled people missed at the threshold (None without genuine scores)."""
        return fnir_at(threshold, self.genuine) if len(self.genuine) >= 30 else None

    def cost(self, kind: str, target_fpir: float, people: int) -> dict[str, Any]:
        """What a target costs at this gallery size: the threshold, false candidates per 100
        searches by people not enrolled, the expected miss rate, and whether it is usable."""
        threshold = self.threshold(target_fpir, people)
        fnir = self.expected_fnir(threshold)
        return {
            "kind": kind,
            "target_fpir": target_fpir,
            "people": people,
            "threshold": round(threshold, 6),
            "false_alarms_per_100": round(100 * self.tail.fpir_at(threshold, people), 3),
            "expected_fnir": None if fnir is None else round(fnir, 4),
            "extrapolated": self.tail.extrapolated(target_fpir, people),
            "usable": fnir is None or (fnir <= USABLE_FNIR and threshold < self.tail.ceiling),
            "scale": self.scale,
        }

    def save(self, path: Path) -> None:
        """Write an identity-level calibration (ImpostorTail only, raw cosines) as JSON."""
        if not isinstance(self.tail, ImpostorTail) or self.cohort is not None:
            raise ValueError("only a raw-cosine impostor tail can be saved")
        write_json(
            path,
            {
                "tail": self.tail.as_dict(),
                "genuine": [round(g, 6) for g in self.genuine],
                "dataset": self.dataset,
                "people": self.people,
            },
        )

    @classmethod
    def load(cls, path: Path, source: str = "shipped") -> OpenSetCalibration:
        """Read what save wrote."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            ImpostorTail.from_dict(data["tail"]),
            tuple(float(g) for g in data["genuine"]),
            source,
            str(data["dataset"]),
            int(data["people"]),
        )


def calibrate_gallery(
    vectors: npt.ArrayLike,
    people: Sequence[str],
    dataset: str,
    same_person: frozenset[tuple[str, str]] = frozenset(),
    source: str = "site",
    level: str = "identity",
    cohort: CohortNorm | None = None,
) -> OpenSetCalibration:
    """A calibration from a gallery of known-different people, at the level searches score
    (S-normalised against `cohort` when one is given: the decisions must then use it too)."""
    scores = gallery_scores(vectors, people, same_person, level=level, cohort=cohort)
    return OpenSetCalibration(
        scores.impostor_top, scores.genuine, source, dataset, scores.people, cohort
    )
