"""`gerbang finger eval --fused FACES DIR...`: fused face + finger open-set 1:N on chimeric people.

Protocol (a face identity paired with finger identities, Poh and Bengio 2006's chimeric subjects):
- Fingers: every finger of the FVC folders (models/fingerprint/openset_eval.py), paired at random
  into two-finger people enrolled as positions 2 and 7; impressions 1-3 enrolled (kept as the
  site keeps them: an ISO record decoded again), 4-8 searched.
- Faces: the identities of FACES with at least 4 photos, shuffled (seeded); photos 1-3 enrolled
  as one identity template (3 face captures), the rest searched.
- Folds: in the first, the first half of the finger people, each paired with a face identity,
  are enrolled; the other half's fingers are never enrolled, and every remaining face identity
  is a stranger, paired in turn with one of those fingers, so non-mated searches are many
  (faces) while no stranger's finger is enrolled. The second fold swaps the halves (with the
  faces shuffled again), so every finger is enrolled once; the outcomes are pooled.
- A search is one face photo with one finger impression (a passage: one finger, its position
  known). An enrolled person is searched once with each probe print of each finger (up to 10),
  the searched photos taken in turn; each stranger with STRANGER_PHOTOS photos, alternate
  fingers of its finger pair, the faces sharing a pair taking its probe impressions in turn.
  (Each MCC comparison costs 2-170 ms on a shared 2-core box: that, not the faces, bounds the
  searches.) Each is decided by `decide_fused` as the gate and `gerbang search-batch` decide,
  kind `identify` (rule `fused`) at the target FPIR over the people enrolled; the face threshold
  is the site's (the pack's shipped open-set calibration: a gallery this small does not
  calibrate).
- FNIR: share of mated searches whose person is not a match; FPIR measured: share of non-mated
  searches with any match. Face alone and finger alone are read off the same evidence, each at
  its own threshold for the same per-person FMR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edge import wiring
from edge.batch_fingers import FingerGallery, FusedBatch, Prints, as_stored
from edge.search_batch import batch_thresholds
from edge.settings import MatchSettings, Settings
from enrollment.fused_search import FusedSearchResult
from gallery_sync.gallery import GalleryEntry, GalleryIndex
from models.batch import embed_files
from models.error_rates import binomial_upper
from models.fingerprint.extractors import NBIS, Extractor, FingerExtractor, for_matcher
from models.fingerprint.openset_eval import (
    ENROLLED,
    POSITIONS,
    PROBES,
    Finger,
    load_fingers,
    people_of,
)
from models.loader import EngineSpec
from models.obtain import ensure_converted

TARGET_FPIRS = (0.01, 0.003)
FACE_ENROLLED = 3
STRANGER_PHOTOS = 2  # searched photos per stranger face identity
FOLDS = 2  # each half of the finger people enrolled in one fold, strangers in the other
ANSWERS = ("face", "finger", "fused")
CONFIDENCE = 0.95  # of the upper bound on FNIR
MISSES_LISTED = 12  # under the table, at each target


@dataclass(frozen=True)
class FusedRow:
    """FNIR and measured FPIR at one target, for face alone, finger alone and fused."""

    target_fpir: float
    people: int  # enrolled, summed over the folds
    fnir: dict[str, float]
    fpir: dict[str, float]
    mated: int
    non_mated: int
    # FNIR when the fused threshold is set on these non-mated searches to give the target FPIR
    # (the empirical operating point: what a calibration on this population would reach)
    fnir_empirical: float
    fused_misses: int = 0
    folds: int = 1
    fold: int | None = None  # None: every fold's searches pooled
    misses: tuple[str, ...] = ()  # the fused answer's missed searches

    @property
    def fnir_bound(self) -> float:
        """The fused FNIR's one-sided upper confidence bound (Clopper-Pearson)."""
        return binomial_upper(self.fused_misses, self.mated, CONFIDENCE)


def _face_identities(root: Path, seed: int) -> list[list[Path]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    usable = [sorted(f.glob("*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
              for f in folders]  # fmt: skip
    usable = [photos for photos in usable if len(photos) > FACE_ENROLLED]
    order = np.random.default_rng(seed).permutation(len(usable))
    return [usable[i] for i in order]


def _answered(result: FusedSearchResult, answer: str, mate: str | None) -> tuple[bool, bool]:
    """(mate found, anyone found) under one answer: face alone, finger alone, or fused."""
    test = {"face": lambda p: p.face_match, "finger": lambda p: p.finger_match,
            "fused": lambda p: p.matches("fused")}[answer]  # fmt: skip
    named = [p.identity_id for p in result.people if test(p)]
    return mate in named, bool(named)


class Search(NamedTuple):
    """One passage: a face photo and one finger impression, by an enrolled person or not."""

    photo: Path
    prints: Prints
    mate: str | None  # None: a stranger
    finger: str  # the print's set, finger and impression, for the list of misses


@dataclass
class _Tally:
    """One target's outcomes over the folds."""

    found: dict[str, tuple[list[bool], list[bool]]]  # by answer: mates found, strangers matched
    margins: tuple[list[float], list[float]]  # the mate's / the best stranger's fused margin
    misses: list[str]  # the fused answer's missed searches, said plainly

    @classmethod
    def empty(cls) -> _Tally:
        return cls({a: ([], []) for a in ANSWERS}, ([], []), [])

    def add(self, other: _Tally) -> None:
        for answer in ANSWERS:
            for mine, theirs in zip(self.found[answer], other.found[answer], strict=True):
                mine.extend(theirs)
        for mine_m, theirs_m in zip(self.margins, other.margins, strict=True):
            mine_m.extend(theirs_m)
        self.misses.extend(other.misses)

    def row(self, target: float, people: int, folds: int, fold: int | None) -> FusedRow:
        mated, strangers = self.found["fused"]
        return FusedRow(
            target, people,
            {a: 1 - _share(self.found[a][0]) for a in ANSWERS},
            {a: _share(self.found[a][1]) for a in ANSWERS},
            len(mated), len(strangers), _empirical_fnir(self.margins, target),
            mated.count(False), folds, fold, tuple(self.misses),
        )  # fmt: skip


def evaluate_fused(faces: Path, finger_dirs: Sequence[Path], ppi: int, seed: int = 7,
                   workers: int | None = None, extractor: FingerExtractor = NBIS,
                   extract: Extractor | None = None, folds: int = FOLDS) -> list[FusedRow]:  # fmt: skip
    """FNIR at each target FPIR for the chimeric people of these sets, their fingers' templates
    made by `extractor` (through `extract`, a cached form of it, when given) and fused with its
    fusion model; pooled over `folds` (1: the first half of the fingers enrolled; 2: each half in
    turn), then each fold's own rows when there are two."""
    fingers = load_fingers(list(finger_dirs), ppi, extract or for_matcher(extractor.extract, "mcc"))
    finger_people = people_of(fingers, 2)
    halves = (finger_people[: len(finger_people) // 2], finger_people[len(finger_people) // 2 :])
    settings = Settings()
    spec = wiring.engine_spec(settings)
    ensure_converted(spec.store, spec.pack)
    pooled = {target: _Tally.empty() for target in TARGET_FPIRS}
    people, by_fold = 0, []
    for fold in range(folds):
        pool, strange_fingers = halves[fold % 2], halves[1 - fold % 2]
        identities = _face_identities(faces, seed + fold)
        enrolled = min(len(pool), len(identities))
        people += enrolled
        tallies = {target: _Tally.empty() for target in TARGET_FPIRS}
        _fold(settings, spec, fingers, identities, pool, strange_fingers, extractor, workers,
              tallies)  # fmt: skip
        for target, tally in tallies.items():
            pooled[target].add(tally)
            by_fold.append(tally.row(target, enrolled, folds, fold + 1))
    rows = [pooled[target].row(target, people, folds, None) for target in TARGET_FPIRS]
    return rows + (by_fold if folds > 1 else [])


def _fold(settings: Settings, spec: EngineSpec, fingers: dict[str, Finger],
          identities: list[list[Path]], pool: Sequence[tuple[str, ...]],
          strange_fingers: Sequence[tuple[str, ...]], extractor: FingerExtractor,
          workers: int | None, tallies: dict[float, _Tally]) -> None:  # fmt: skip
    """One enrolment: `pool`'s fingers with the first face identities; every other face a
    stranger holding `strange_fingers`. Adds each search's outcome to `tallies`."""
    enrolled = list(zip(identities, pool, strict=False))
    strangers = identities[len(enrolled) :]
    searches: list[Search] = []
    gallery_photos: list[tuple[Path, str]] = []
    finger_gallery = FingerGallery(extractor=extractor)
    for number, (photos, person) in enumerate(enrolled):
        name = f"person-{number}"
        gallery_photos += [(p, name) for p in photos[:FACE_ENROLLED]]
        for position, finger in zip(POSITIONS, person, strict=True):
            finger_gallery.prints[name] += [(position, as_stored(position, fingers[finger][i]))
                                            for i in ENROLLED if i in fingers[finger]]  # fmt: skip
        searches += _mated(photos[FACE_ENROLLED:], person, fingers, name)
    for number, photos in enumerate(strangers):
        person = strange_fingers[number % len(strange_fingers)]
        turn = number // len(strange_fingers)
        searches += _strangers(photos[FACE_ENROLLED:][:STRANGER_PHOTOS], person, fingers, turn)
    paths = [str(p) for p, _ in gallery_photos] + [str(s.photo) for s in searches]
    embedded = embed_files(spec, paths, workers)
    gallery = GalleryIndex(spec.pack.embedding_dim)
    gallery.add([GalleryEntry(i, who, "inmate", "active", e.template)
                 for i, ((_, who), e) in enumerate(zip(gallery_photos, embedded, strict=False), 1)
                 if e.template is not None])  # fmt: skip
    probes = embedded[len(gallery_photos) :]
    memo: dict[int, dict[str, tuple[float | None, int]]] = {}  # one print's scores, by print
    for target, tally in tallies.items():
        match = MatchSettings(identify_fpir=target)
        thresholds = batch_thresholds(
            settings.model_copy(update={"match": match}), spec.pack.id, gallery
        )
        decide = FusedBatch(settings, spec.pack.id, gallery, finger_gallery, thresholds, "identify")
        for search, face in zip(searches, probes, strict=True):
            mate = search.mate
            key = id(search.prints[0][1])
            if key not in memo:
                memo[key] = finger_gallery.scores(search.prints)
            result = decide.decide(
                face.template, search.prints, None, ("inmate", "active"), None, memo[key]
            )
            for answer in ANSWERS:
                hit, anyone = _answered(result, answer, mate)
                tally.found[answer][0 if mate else 1].append(hit if mate else anyone)
            tally.margins[0 if mate else 1].append(_margin(result, mate))
            if mate and not _answered(result, "fused", mate)[0]:
                tally.misses.append(_missed(search, result))


def _missed(search: Search, result: FusedSearchResult) -> str:
    """A missed mated search: its photo, print, and the mate's scores against their thresholds."""
    mate = next((p for p in result.people if p.identity_id == search.mate), None)
    said = f"{search.photo.parent.name}/{search.photo.name} with {search.finger}"
    if mate is None:
        return f"{said}: the mate was not scored"

    def against(score: float | None, threshold: float | None) -> str:
        if score is None or threshold is None:
            return "none"
        return f"{score:.3f} {'>=' if score >= threshold else '<'} {threshold:.3f}"

    return (
        f"{said}: face {against(mate.face_score, mate.face_threshold)}, finger"
        f" {against(mate.finger_score, mate.finger_threshold)}, fused"
        f" {against(mate.fused_score, mate.fused_threshold)}"
        + (f", veto {mate.veto}" if mate.veto else "")
    )


def _share(outcomes: list[bool]) -> float:
    """The share of True outcomes (0 when there are none: a fold without such searches)."""
    return float(np.mean(outcomes)) if outcomes else 0.0


def _margin(result: FusedSearchResult, mate: str | None) -> float:
    """Fused evidence above its threshold: of the mate, or of the best person for a stranger."""
    margins = [p.fused_score - p.fused_threshold for p in result.people
               if p.fused_score is not None and p.fused_threshold is not None
               and (mate is None or p.identity_id == mate)]  # fmt: skip
    return max(margins, default=-np.inf)


def _empirical_fnir(margins: tuple[list[float], list[float]], target: float) -> float:
    """FNIR at the shift of the fused threshold that lets `target` of the strangers through."""
    strangers = np.sort(np.asarray(margins[1]))[::-1]
    allowed = int(np.floor(target * strangers.size))
    shift = float(np.nextafter(strangers[allowed], np.inf)) if strangers.size else 0.0
    return float(np.mean(np.asarray(margins[0]) < shift))


def _mated(photos: Sequence[Path], person: tuple[str, ...], fingers: dict[str, Finger],
           mate: str) -> list[Search]:  # fmt: skip
    """One search per probe impression of each of the person's fingers (each print once), the
    face photos taken in turn (reused when the prints outnumber them)."""
    prints = [(position, fingers[finger][i], finger, i) for i in PROBES
              for position, finger in zip(POSITIONS, person, strict=True)
              if i in fingers[finger]]  # fmt: skip
    if not photos:
        return []
    return [Search(photos[k % len(photos)], [(position, template)], mate, f"{finger} #{i}")
            for k, (position, template, finger, i) in enumerate(prints)]  # fmt: skip


def _strangers(photos: Sequence[Path], person: tuple[str, ...], fingers: dict[str, Finger],
               turn: int) -> list[Search]:  # fmt: skip
    """One search per photo of a stranger face, with alternate fingers of its finger pair, from
    the `turn`th probe impression on (the faces holding one finger pair take turns, so every
    probe print of the stranger fingers is searched, each by several faces)."""
    out: list[Search] = []
    for k, photo in enumerate(photos):
        position, finger = list(zip(POSITIONS, person, strict=True))[k % 2]
        usable = [i for i in PROBES if i in fingers[finger]]
        if usable:
            impression = usable[(turn + k // 2) % len(usable)]
            template = fingers[finger][impression]
            out.append(Search(photo, [(position, template)], None, f"{finger} #{impression}"))
    return out


def format_fused(rows: Sequence[FusedRow]) -> str:
    """A Markdown table of FNIR (and measured FPIR) at each target FPIR, pooled then by fold."""
    first = rows[0]
    folds = f" over {first.folds} folds" if first.folds > 1 else ""
    lines = [
        f"Fused open-set 1:N, {first.people} chimeric people enrolled{folds} (3 face captures +"
        " 2 fingers x 3 impressions), one face photo + one finger a search",
        "| searches | target FPIR | FNIR face | FNIR finger | FNIR fused (misses) | FNIR fused, 95%"
        " upper bound | FPIR measured face / finger / fused | FNIR fused, threshold set on these"
        " strangers |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        which = "all" if r.fold is None else f"fold {r.fold}"
        lines.append(
            f"| {which}: {r.mated} mated / {r.non_mated} non-mated | {r.target_fpir:.1%} |"
            f" {r.fnir['face']:.1%} | {r.fnir['finger']:.1%} | {r.fnir['fused']:.1%}"
            f" ({r.fused_misses}) | {r.fnir_bound:.1%} | {r.fpir['face']:.2%} /"
            f" {r.fpir['finger']:.2%} / {r.fpir['fused']:.2%} | {r.fnir_empirical:.1%} |"
        )
    for r in rows:
        if r.fold is None and r.misses:
            lines += ["", f"Fused misses at a target FPIR of {r.target_fpir:.1%}:"]
            lines += [f"- {miss}" for miss in r.misses[:MISSES_LISTED]]
            if len(r.misses) > MISSES_LISTED:
                lines.append(f"- and {len(r.misses) - MISSES_LISTED} more")
    return "\n".join(lines)
