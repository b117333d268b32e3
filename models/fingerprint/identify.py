"""Fingerprint 1:N decisions: fingers scored as people, thresholds by target FPIR.

A person enrolled with several fingers (and several impressions of each) is one candidate: their
score is the best MCC score of any of their templates the probe is compared with (max fusion),
restricted to the probe's finger position when it is known. Max fusion over a person's T templates
raises their per-person false-match rate (FMR) about T-fold, so the impostor scores used for the
threshold must be per-person scores made the same way (max over that person's templates), never
per-comparison ones; `person_scores` makes both.

FPIR (share of searches by someone not enrolled that return a candidate) over N people, with the
N per-person impostor scores taken as independent: FPIR = 1 - (1 - FMR)^N, so the threshold for a
target FPIR is the per-person impostor quantile at FMR = 1 - (1 - FPIR)^(1/N).
`threshold_for_fpir` reads it off the empirical distribution; where the sample is too small for
that FMR it returns a threshold above every impostor score and says so. It has the shape of the
face's open-set function (models/openset.py on the `openset` branch), so either can stand in for
the other once that lands.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class FpirThreshold:
    """A threshold for a target FPIR over a number of people, and whether the data supports it."""

    threshold: float
    target_fpir: float
    people: int
    fmr: float  # per-person FMR that gives the target FPIR
    supported: bool  # at least one impostor score may lie above it (fmr * n >= 1)


def fmr_for_fpir(target_fpir: float, people: int) -> float:
    """The per-person FMR that gives this FPIR over `people` independent comparisons."""
    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target FPIR must be in (0, 1), got {target_fpir}")
    if people < 1:
        raise ValueError(f"people searched must be at least 1, got {people}")
    return -math.expm1(math.log1p(-target_fpir) / people)


def threshold_for_fpir(
    impostor_scores: npt.ArrayLike, people: int, target_fpir: float
) -> FpirThreshold:
    """The lowest threshold (score >= threshold decides) meeting the target FPIR over `people`."""
    scores = np.sort(np.ravel(np.asarray(impostor_scores, dtype=np.float64)))[::-1]
    if scores.size == 0:
        raise ValueError("no impostor scores")
    fmr = fmr_for_fpir(target_fpir, people)
    allowed = math.floor(fmr * scores.size)  # impostor scores that may lie at or above it
    supported = allowed >= 1
    index = min(allowed, scores.size - 1)
    # just above the (allowed+1)-th largest score: exactly `allowed` scores reach it
    threshold = float(np.nextafter(scores[index], np.inf))
    return FpirThreshold(threshold, target_fpir, people, fmr, supported)


def fpir_at(threshold: float, impostor_searches: npt.ArrayLike) -> float:
    """Measured FPIR: share of non-mated searches whose best person score reaches the threshold."""
    best = np.asarray(impostor_searches, dtype=np.float64)
    return float((best >= threshold).mean()) if best.size else float("nan")


def fnir_at(threshold: float, mated_searches: npt.ArrayLike) -> float:
    """Measured FNIR: share of mated searches whose mate scores below the threshold (or is missed)."""
    mate = np.asarray(mated_searches, dtype=np.float64)
    return float((mate < threshold).mean()) if mate.size else float("nan")


@dataclass(frozen=True)
class Candidate:
    """A person and the evidence for them: best score and which finger gave it."""

    person: Hashable
    score: float
    position: int | None
    templates: int  # of the person's templates that were scored


def person_scores(
    scores: Iterable[tuple[Hashable, float]],
    owners: Mapping[Any, tuple[Hashable, int | None]],
    position: int | None = None,
) -> list[Candidate]:
    """Template scores (key, score) fused per person by max, best person first.

    `owners` maps a template key to (person, finger position); with `position` given, templates
    of other fingers are left out (a probe known to be a right index only meets right indexes).
    """
    best: dict[Hashable, tuple[float, int | None, int]] = {}
    for key, score in scores:
        person, pos = owners[key]
        if position is not None and pos is not None and pos != position:
            continue
        old = best.get(person)
        if old is None:
            best[person] = (score, pos, 1)
        else:
            best[person] = (
                (score, pos, old[2] + 1) if score > old[0] else (old[0], old[1], old[2] + 1)
            )
    found = [Candidate(p, s, pos, n) for p, (s, pos, n) in best.items()]
    return sorted(found, key=lambda c: -c.score)
