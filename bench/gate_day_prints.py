"""Real FVC fingers for the chimeric people of bench/gate_day_fingers.py, scored once.

Every finger of the FVC folders under a root (ids scoped per folder, 500 ppi as `gerbang finger
eval` reads them) is shuffled (seeded) and paired: pair k is held as positions 2 and 7 (right and
left index). Impressions 1-3 are enrolled as the site keeps them (MINDTCT, ISO 19794-2 record
and back, MCC cylinders: edge/batch_fingers.as_stored), impressions 4-8 are presented at the exit
as extracted. Every presented impression is scored once against every enrolled impression of its
position with the index's full-MCC stage (mcc_batch.compare_many, within about 3e-3 of
mcc.compare_minutiae); the day's searches then read the matrix.

`SiteFingers` stands in for the site's FingerService behind the service's own FusedSearch: the
people's prints by position, the finger shortlist (person_scores over the matrix, every enrolled
print: exhaustive, where the site's index shortlists), and the matcher.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.batch_fingers import as_stored
from enrollment.fused import FingerProbe
from enrollment.fused_search import FusedSearch
from gallery_sync.gallery import GalleryIndex
from kernel.errors import GerbangError
from models.fingerprint import evaluation, mcc, nbis
from models.fingerprint.extractors import Extractor
from models.fingerprint.identify import Candidate, person_scores
from models.fingerprint.mcc_batch import Packed, compare_many
from models.fingerprint.openset_eval import ENROLLED, POSITIONS, PROBES, SAME_FINGERS

PPI = 500
Print = tuple[str, int]  # (finger, impression)
# Fingers that are another finger of the sets under a second label (openset_eval.SAME_FINGERS:
# FVC2000 DB2_B is DB1_B on another sensor, MCC up to 0.42 between "different" fingers; FVC2004
# DB3_B 102 is FVC2002 DB3_B 108, up to 0.295), left out so no two people hold one finger.
SAME_FINGER_AS_ANOTHER = frozenset(dropped for _, dropped in SAME_FINGERS)


def finger_folders(root: Path) -> list[Path]:
    """Every folder under root holding `<finger>_<impression>` images, sorted."""
    found = {p.parent for p in root.rglob("*_*.tif")}
    return sorted(f for f in found if evaluation.scan_folder(f))


@dataclass
class Prints:
    """The fingers, paired into positions, and every presented print's scores."""

    pairs: list[tuple[str, str]]  # pair k: (finger at position 2, finger at position 7)
    enrolled: dict[Print, Any]  # as stored; failed extractions left out (the desk refuses them)
    presented: dict[Print, str | None]  # None: usable; else the error code of the extraction
    scores: dict[Print, dict[Print, float]]  # presented -> enrolled print of its position -> score
    position: dict[str, int]  # finger -> position it is held as
    seconds: dict[str, float] = field(default_factory=dict)

    def templates(self, finger: str) -> list[Print]:
        """The enrolled prints of a finger."""
        return [(finger, i) for i in ENROLLED if (finger, i) in self.enrolled]


def load_prints(root: Path, seed: int, limit: int | None = None, probes: Sequence[int] = PROBES,
                extract: Extractor = nbis.extract) -> Prints:  # fmt: skip
    """Extract (NBIS unless `extract` says otherwise), pair and score the fingers under root (the
    first `limit` fingers when given)."""
    start = time.perf_counter()
    images: dict[Print, Path] = {}
    for folder in finger_folders(root):
        for item in evaluation.scan_folder(folder):
            images[(f"{folder.name}/{item.finger}", item.number)] = item.path
    fingers = sorted({f for f, _ in images if f not in SAME_FINGER_AS_ANOTHER})
    order = [fingers[i] for i in np.random.default_rng(seed).permutation(len(fingers))][:limit]
    pairs = [(order[k], order[k + 1]) for k in range(0, len(order) - 1, 2)]
    position = {f: pos for pair in pairs for f, pos in zip(pair, POSITIONS, strict=True)}
    enrolled: dict[Print, Any] = {}
    presented: dict[Print, str | None] = {}
    extracted: dict[Print, Any] = {}
    for finger, pos in position.items():
        for number in (*ENROLLED, *probes):
            path = images.get((finger, number))
            if path is None:
                continue
            try:
                template = mcc.with_cylinders(extract(nbis.read_image(path.read_bytes()), PPI))
            except GerbangError as exc:
                if number not in ENROLLED:
                    presented[(finger, number)] = exc.code
                continue
            if number in ENROLLED:
                enrolled[(finger, number)] = as_stored(pos, template)
            else:
                presented[(finger, number)], extracted[(finger, number)] = None, template
    extracted_at = time.perf_counter()
    scores = _score(extracted, enrolled, position)
    return Prints(pairs, enrolled, presented, scores, position,
                  {"extract": extracted_at - start, "score": time.perf_counter() - extracted_at})  # fmt: skip


def _score(extracted: dict[Print, Any], enrolled: dict[Print, Any],
           position: dict[str, int]) -> dict[Print, dict[Print, float]]:  # fmt: skip
    """Each presented print against every enrolled print of its position."""
    scores: dict[Print, dict[Print, float]] = {}
    for pos in POSITIONS:
        gallery = [key for key in enrolled if position[key[0]] == pos]
        packed = [Packed.of(enrolled[key].cylinders) for key in gallery]
        for key, probe in extracted.items():
            if position[key[0]] == pos:
                found = compare_many(probe.cylinders, packed)
                scores[key] = dict(zip(gallery, found, strict=True))
    return scores


@dataclass(frozen=True)
class PresentedFinger(FingerProbe):
    """A finger pressed at the exit: which print it is (the image is not needed again)."""

    print_key: Print = ("", 0)


def presented(prints: Prints, finger: str, impression: int) -> PresentedFinger:
    """The exit's FingerProbe for one print, its position known, as the kiosk sends it."""
    return PresentedFinger(np.zeros((1, 1), np.uint8), PPI, prints.position[finger],
                           (finger, impression))  # fmt: skip


class SiteFingers:
    """The site's enrolled fingers, answering as FingerService does for FusedSearch."""

    def __init__(self, prints: Prints, people: dict[str, tuple[str, str]]) -> None:
        self.prints = prints
        self.owners: dict[Print, tuple[str, int]] = {}  # enrolled print -> (person, position)
        self._by_person: dict[str, list[tuple[int, Print]]] = {}
        self._holders: dict[str, list[str]] = {}  # finger -> people holding it
        for person, pair in people.items():
            for finger in pair:
                self._holders.setdefault(finger, []).append(person)
                for key in prints.templates(finger):
                    self._by_person.setdefault(person, []).append((prints.position[finger], key))

    def templates(self, person: str, position: int | None = None) -> list[tuple[int, Print]]:
        """(position, print) of a person's enrolled impressions (of one finger, or all)."""
        stored = self._by_person.get(person, [])
        return [(p, key) for p, key in stored if position is None or p == position]

    def matcher(self, probe: Print, stored: Print) -> float:
        """The MCC score of a presented print with an enrolled one."""
        return self.prints.scores[probe].get(stored, 0.0)

    def search_probe(self, probe: Print, position: int | None) -> tuple[list[Candidate], int]:
        """People best first by their best print of the position (every print scored)."""
        row = self.prints.scores[probe]
        scored = [((person, key), row.get(key, 0.0))
                  for key in row for person in self._holders.get(key[0], [])]  # fmt: skip
        owners = {
            (person, key): (person, self.prints.position[key[0]]) for (person, key), _ in scored
        }
        return person_scores(scored, owners, position), len(scored)


class DayFusedSearch(FusedSearch):
    """The service's FusedSearch over SiteFingers, each print extracted once beforehand."""

    def __init__(self, gallery: GalleryIndex, fingers: SiteFingers, model: Any) -> None:
        super().__init__(lambda: gallery, fingers, lambda: model)  # type: ignore[arg-type]

    def _extracted(self, finger: FingerProbe) -> tuple[Any, str | None]:
        key = finger.print_key  # type: ignore[attr-defined]
        problem = self.fingers.prints.presented.get(key, "finger_missing")  # type: ignore[attr-defined]
        return (key, None) if problem is None else (None, problem)
