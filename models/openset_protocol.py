"""The open-set protocol on a folder-per-identity set: who is enrolled, from which captures, who probes.

For a gallery of G people enrolled from K captures each (people with at least K+1 usable photos
are eligible, so every enrolled person has a mated probe):
- measured, when G fits: in each of `repeats` seeded trials, G eligible people are enrolled from
  K random captures; their other photos are mated searches and every photo of everyone else is a
  non-mated search. At least a quarter of the people always stay out of the gallery.
- modelled, when G is larger than that: every eligible person is enrolled (K random captures),
  each photo is searched against everyone but its own person (its impostor distribution) and
  models/openset_eval.modelled_curve extends the searches to G people. The same model at the
  largest measured size is reported beside the measured figure, as its check.

Variants change what is compared, never the protocol: flip test-time augmentation (the mean of a
photo's template and its mirrored chip's), the identity template (`mean`, `max`, `qmean`: the mean
weighted by capture quality) and cohort score normalisation (`probe`: adaptive T-norm, `sym`:
adaptive S-norm, over the k best other enrolled people).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models import openset_eval as ose

MIN_OUTSIDERS = 0.25  # share of the people never enrolled in a measured trial


@dataclass(frozen=True)
class Photos:
    """Usable photos of a labelled set: unit templates, whose they are, capture quality."""

    embeddings: np.ndarray
    person: npt.NDArray[np.int64]
    names: list[str]
    quality: np.ndarray
    flipped: np.ndarray | None = None

    def subset_people(self, keep: list[str]) -> Photos:
        """The photos of the named people only."""
        index = {n: i for i, n in enumerate(self.names)}
        wanted = np.array([index[n] for n in keep])
        rows = np.isin(self.person, wanted)
        remap = np.full(len(self.names), -1)
        remap[wanted] = np.arange(len(keep))
        return Photos(
            self.embeddings[rows],
            remap[self.person[rows]],
            list(keep),
            self.quality[rows],
            None if self.flipped is None else self.flipped[rows],
        )


def photos_from(
    embeddings: np.ndarray,
    labels: list[str],
    quality: np.ndarray | None = None,
    flipped: np.ndarray | None = None,
) -> Photos:
    """Drop rows without a face (NaN) and index people by sorted name."""
    ok = np.isfinite(embeddings).all(axis=1)
    if flipped is not None:
        ok &= np.isfinite(flipped).all(axis=1)
    names = sorted({lab for lab, keep in zip(labels, ok, strict=True) if keep})
    index = {n: i for i, n in enumerate(names)}
    person = np.array([index[lab] for lab, keep in zip(labels, ok, strict=True) if keep])
    q = np.ones(len(labels)) if quality is None else np.asarray(quality, dtype=float)
    return Photos(
        ose.unit(np.asarray(embeddings[ok], dtype=np.float64)),
        person.astype(np.int64),
        names,
        q[ok],
        None if flipped is None else ose.unit(np.asarray(flipped[ok], dtype=np.float64)),
    )


@dataclass(frozen=True)
class Variant:
    """What is compared: see the module docstring."""

    name: str = "mean"
    template: str = "mean"
    flip: bool = False
    cohort: str | None = None
    cohort_k: int = 10
    quality_power: float = 4.0


def _vectors(photos: Photos, variant: Variant) -> np.ndarray:
    if not variant.flip:
        return photos.embeddings
    if photos.flipped is None:
        raise ValueError("flip needs the mirrored-chip templates (bench/openset_embed.py)")
    return ose.unit(photos.embeddings + photos.flipped)


def eligible_people(photos: Photos, captures: int) -> npt.NDArray[np.int64]:
    """People with at least captures + 1 usable photos."""
    counts = np.bincount(photos.person, minlength=len(photos.names))
    return np.flatnonzero(counts >= captures + 1)


def largest_measured_gallery(photos: Photos, captures: int) -> int:
    """The largest gallery a measured trial can hold."""
    people = len(photos.names)
    return int(min(len(eligible_people(photos, captures)), np.floor((1 - MIN_OUTSIDERS) * people)))


def _enrol(
    photos: Photos,
    vectors: np.ndarray,
    enrolled: np.ndarray,
    captures: int,
    variant: Variant,
    rng: np.random.Generator,
) -> tuple[ose.Gallery, np.ndarray]:
    """The gallery of the enrolled people (in order) and the mask of photos used to enrol."""
    used = np.zeros(len(photos.person), dtype=bool)
    blocks, weights = [], []
    for p in enrolled:
        rows = rng.choice(np.flatnonzero(photos.person == p), size=captures, replace=False)
        used[rows] = True
        blocks.append(vectors[rows])
        weights.append(photos.quality[rows] ** variant.quality_power)
    how = "max" if variant.template == "max" else "mean"
    gallery = ose.build_gallery(blocks, how, weights if variant.template == "qmean" else None)
    return gallery, used


def _scores(
    probes: np.ndarray, gallery: ose.Gallery, variant: Variant, absent: np.ndarray | None = None
) -> npt.NDArray[np.float64]:
    """Person scores, cohort-normalised if the variant says so; absent[i] >= 0 is a person taken
    out of probe i's gallery (its column is then meaningless and left out of the cohort)."""
    scores = ose.person_scores(probes, gallery)
    if variant.cohort is None:
        return scores
    if absent is not None:
        rows = np.flatnonzero(absent >= 0)
        scores[rows, absent[rows]] = -np.inf
    own = None
    if variant.cohort == "sym":
        # each enrolled person against the others, through the same person scoring
        centre = ose.build_gallery(
            [gallery.vectors[gallery.owner == i] for i in range(gallery.people)], "mean"
        )
        own = ose.person_scores(centre.vectors, gallery)
    return ose.cohort_normalise(scores, variant.cohort_k, own, variant.cohort)


def measured(
    photos: Photos, variant: Variant, gallery_size: int, captures: int, repeats: int, seed: int
) -> ose.Searches:
    """Pooled searches of `repeats` seeded trials with a real gallery of gallery_size people."""
    eligible = eligible_people(photos, captures)
    if gallery_size > largest_measured_gallery(photos, captures):
        raise ValueError(f"{gallery_size} people do not fit; model them instead")
    vectors = _vectors(photos, variant)
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(repeats):
        enrolled = rng.choice(eligible, size=gallery_size, replace=False)
        gallery, used = _enrol(photos, vectors, enrolled, captures, variant, rng)
        slot = np.full(len(photos.names), -1)
        slot[enrolled] = np.arange(gallery_size)
        probes = ~used
        scores = _scores(vectors[probes], gallery, variant)
        parts.append(ose.searches(scores, slot[photos.person[probes]]))
    return ose.Searches.pooled(parts)


@dataclass(frozen=True)
class LeaveOneOut:
    """Every eligible person enrolled; every other photo searched against all but its own person."""

    nonmated_impostors: np.ndarray
    mate_scores: np.ndarray
    mated_impostors: np.ndarray
    people: int = field(default=0)


def leave_one_out(photos: Photos, variant: Variant, captures: int, seed: int) -> LeaveOneOut:
    """The scores the gallery-size model starts from."""
    eligible = eligible_people(photos, captures)
    vectors = _vectors(photos, variant)
    rng = np.random.default_rng(seed)
    gallery, used = _enrol(photos, vectors, eligible, captures, variant, rng)
    slot = np.full(len(photos.names), -1)
    slot[eligible] = np.arange(len(eligible))
    probes = ~used
    mate = slot[photos.person[probes]]
    mated = mate >= 0
    rows = np.flatnonzero(mated)
    # Searching as someone enrolled: the mate is in the gallery (and in the cohort).
    scores = _scores(vectors[probes], gallery, variant)
    own = scores[rows, mate[mated]]
    mated_impostors = scores[mated].copy()
    mated_impostors[np.arange(len(rows)), mate[mated]] = np.nan
    # Searching as someone not enrolled: the own person is out of the gallery and the cohort.
    outside = _scores(vectors[probes], gallery, variant, absent=mate)
    outside[rows, mate[mated]] = np.nan
    return LeaveOneOut(outside, own, mated_impostors, len(eligible))


def modelled(
    photos: Photos, variant: Variant, gallery_size: int, captures: int, seed: int, tail: str
) -> ose.ModelledCurve:
    """The modelled FPIR/FNIR curve for a gallery of gallery_size people."""
    loo = leave_one_out(photos, variant, captures, seed)
    return ose.modelled_curve(
        loo.nonmated_impostors,
        loo.mate_scores,
        loo.mated_impostors,
        gallery_size,
        tail,
        cosine=variant.cohort is None,
    )


def modelled_summary(
    curve: ose.ModelledCurve, targets: tuple[float, ...] = ose.FPIR_TARGETS
) -> ose.Summary:
    """FNIR at each target FPIR on a modelled curve (rank-r is not modelled)."""
    rows: dict[str, dict[str, float | bool]] = {}
    for target in targets:
        t = curve.threshold_at(target)
        rows[f"{target:g}"] = {"threshold": t, "fnir": curve.fnir_at(t), "modelled": True}
    return ose.Summary(rows, {})
