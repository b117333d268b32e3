"""Fingers searched as people: a FingerIndex whose templates belong to (person, finger), the 1:N
over everyone but some, and thresholds by target FPIR over the templates searched.

Shared by the site's fingerprint searches (enrollment/fingers.py) and the registry's national
duplicate search by fingers (registry/national_fingers.py), so both shortlist and fuse the same
way, and `fpir_threshold` is the one threshold rule both use (the fitted impostor tail when
there is one, else the calibration's operating points).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from models.calibration import Calibration
from models.fingerprint.identify import Candidate, fmr_for_fpir, person_scores
from models.fingerprint.index import FingerIndex, IndexParameters
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.mcc_template import MccTemplate
from models.fingerprint.tail import FingerTail

Owner = tuple[str, int]  # (person, ISO finger position) of a template
MAX_LEFT_OUT = 100  # templates left out of a search that may widen its shortlist
K = TypeVar("K", bound=Hashable)


def search_people(
    index: FingerIndex,
    owners: Mapping[K, Owner],
    probe: MccTemplate,
    among: Callable[[str], bool],
) -> tuple[list[Candidate], dict[K, Owner]]:
    """1:N over the people `among` accepts, every finger: the people best first, and the
    templates searched (key -> owner)."""
    searched = {k: v for k, v in owners.items() if among(v[0])}
    # Templates left out (the person's own, above all) must not crowd the shortlist.
    left_out = min(len(owners) - len(searched), MAX_LEFT_OUT)
    hits = index.search(probe, index.params.shortlist + left_out)
    scored = [(h.key, h.score) for h in hits if h.key in searched]
    return person_scores(scored, searched), searched


def calibrated_threshold(
    calibration: Calibration, target_fmr: float, comparisons: int, tail: FingerTail | None = None
) -> tuple[float, float]:
    """(threshold, per-comparison FMR it is for) so that FMR times the comparisons made meets
    the target: off the fitted impostor tail when there is one, else the loosest calibrated
    point that does (the strictest point when none does)."""
    if tail is not None:
        point = target_fmr / max(comparisons, 1)
        return tail.threshold_at_fmr(point), point
    points = sorted(calibration.operating_points, key=lambda p: -p.target_fmr)
    fitting = [p for p in points if p.target_fmr * comparisons <= target_fmr * (1 + 1e-9)]
    chosen = fitting[0] if fitting else points[-1]
    return chosen.threshold, chosen.target_fmr


def fpir_threshold(
    calibration: Calibration, target_fpir: float, templates: int, tail: FingerTail | None = None
) -> tuple[float, float, bool]:
    """(threshold, FMR point, strict enough) for a 1:N over `templates` impressions. With a
    fitted tail every size gets its own threshold (beyond the counted scores, the fitted tail's
    stated extrapolation), not strict enough only at the score ceiling; without one, not strict
    enough when no calibrated point reaches the FMR needed."""
    per_comparison = fmr_for_fpir(target_fpir, max(templates, 1))
    threshold, point = calibrated_threshold(calibration, per_comparison, 1, tail)
    if tail is not None:
        return threshold, point, threshold < tail.tail.ceiling
    return threshold, point, point <= per_comparison * (1 + 1e-9)


class FingerGallery:
    """Many people's finger templates in one FingerIndex, each key with its owner; thread-safe."""

    def __init__(self, params: IndexParameters | None = None) -> None:
        self.index = FingerIndex(params)
        self._owners: dict[Hashable, Owner] = {}
        self._keys: dict[str, set[Hashable]] = {}  # person -> their keys, kept with _owners
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._owners

    @property
    def nbytes(self) -> int:
        """Memory the index holds for the templates."""
        return self.index.nbytes

    def template(self, key: Hashable) -> MccTemplate | None:
        """The cylinders held under `key` as the index re-scores with them (packed values: see
        mcc_batch.Packed for how far scores move), or None when the key is not held."""
        with self._lock:
            packed = self.index.held(key)
        return None if packed is None else packed.expand()

    def held(self) -> list[tuple[Hashable, Owner, Packed]]:
        """Every template as the index holds it, with its key and owner (one snapshot)."""
        with self._lock:
            found = [(key, owner, self.index.held(key)) for key, owner in self._owners.items()]
        return [(key, owner, packed) for key, owner, packed in found if packed is not None]

    def people(self) -> int:
        """Distinct people held."""
        with self._lock:
            return len({person for person, _ in self._owners.values()})

    def replace(self, items: Iterable[tuple[Hashable, Owner, MccTemplate]]) -> None:
        """Hold exactly these templates (a rebuild)."""
        index = FingerIndex(self.index.params)
        items = list(items)
        index.add_many((key, template) for key, _, template in items)
        keys: dict[str, set[Hashable]] = {}
        for key, (person, _), _ in items:
            keys.setdefault(person, set()).add(key)
        with self._lock:  # searches meanwhile see the old gallery whole
            self.index, self._owners = index, {key: owner for key, owner, _ in items}
            self._keys = keys

    def add(self, items: Iterable[tuple[Hashable, Owner, MccTemplate]]) -> None:
        """Index templates with their owners (a key held already is replaced)."""
        items = list(items)
        with self._lock:
            self.index.add_many((key, template) for key, _, template in items)
            for key, owner, _ in items:
                if (before := self._owners.get(key)) is not None:
                    self._keys[before[0]].discard(key)
                self._owners[key] = owner
                self._keys.setdefault(owner[0], set()).add(key)

    def remove_person(self, person: str) -> int:
        """Forget every template of one person (erased); return how many."""
        with self._lock:
            return self._remove(person, set(self._keys.get(person, ())))

    def remove_gone(self, person: str, live: set[Hashable]) -> int:
        """Forget the person's templates whose keys are not in `live` (replaced); how many."""
        with self._lock:
            return self._remove(person, self._keys.get(person, set()) - live)

    def _remove(self, person: str, keys: set[Hashable]) -> int:
        self.index.remove_many(list(keys))
        for key in keys:
            del self._owners[key]
        held = self._keys.get(person, set()) - keys
        if held:
            self._keys[person] = held
        else:
            self._keys.pop(person, None)
        return len(keys)

    def search_among(
        self, probe: MccTemplate, among: Callable[[str], bool]
    ) -> tuple[list[Candidate], dict[Hashable, Owner]]:
        """`search_people` on one snapshot of the gallery."""
        with self._lock:
            return search_people(self.index, self._owners, probe, among)
