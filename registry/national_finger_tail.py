"""The national search by fingers' impostor tail, calibrated on the national fingers themselves.

A site fits its finger 1:N thresholds on its own enrolled fingers (enrollment/finger_population.py);
the registry does the same on everyone's: the people holding national finger records are a sample
of known-different people, and their records scored against each other are the impostor
distribution the national search by fingers meets. It is fitted as the site's and the shipped
tail are (models/fingerprint/tail.population_scores and tail_of: counted scores, an exponential
tail beyond, thresholds at a 95% one-sided bound), with two differences that follow the national
search: a probe's impostors are other people's records at any position (the national search
compares every finger of every other person, registry/national_fingers.py), and both sides are
read from the index as it holds them (packed cylinders; the search reads its probe from the same
index, so no record is opened or decoded again).

Until `min_people` people (merged and erased ones aside) hold finger records the shipped FVC tail
serves. A fit samples people (seeded) until their fingers, each probing, leave every probe about
IMPOSTORS_PER_PROBE impostors within MAX_COMPARISONS. Decisions only read the current tail; a new
one is fitted in a background thread after a commit once the records held have moved by
`refresh_share` (or `refresh_changes`, whichever is more) since the last fit, and at start (the
first rebuild) in the starting thread, so the pending searches a start runs read the national
tail. People merged into another never count as impostors (their records are the survivor's own
person); erased people's records are gone from the index already.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import numpy as np

from enrollment.finger_population import MAX_COMPARISONS, FingerTailState
from models.fingerprint.gallery import FingerGallery, Owner
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.tail import FingerTail, population_scores, tail_of

log = logging.getLogger(__name__)

NOT_IMPOSTORS = ("merged", "erased")  # national statuses left out of the impostor set
IMPOSTORS_PER_PROBE = 20  # a fit's probes: MAX_COMPARISONS / this (a probe's own cost is several
# comparisons': fewer probes with more impostors each keep a fit within its time)


class NationalFingerTail:
    """The finger tail of the national search: the national fingers' own once enough people."""

    def __init__(
        self,
        gallery: FingerGallery,
        fallback: FingerTail | None,
        min_people: int = 200,
        max_comparisons: int = MAX_COMPARISONS,
        refresh_changes: int = 20,
        refresh_share: float = 0.1,
    ) -> None:
        self.gallery = gallery
        self.fallback = fallback  # the shipped tail (None: the operating points decide)
        self.min_people, self.max_comparisons = min_people, max_comparisons
        self.refresh_changes, self.refresh_share = refresh_changes, refresh_share
        self._state = FingerTailState(fallback, self._fallback_source, 0)
        self._merged: set[str] = set()  # people held whose status is `merged`
        self._fitted_at = -1  # records held at the last fit; -1: never fitted
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    @property
    def _fallback_source(self) -> str:
        return "shipped" if self.fallback is not None else "operating-points"

    def state(self) -> FingerTailState:
        """The tail decisions read now, and where it comes from (never fits anything)."""
        return self._state

    def statuses(self, people: dict[str, str]) -> None:
        """The status of people just read (a rebuild or a followed commit): merged ones leave
        the impostor set, anyone else stays or comes back."""
        for person, status in people.items():
            if status in NOT_IMPOSTORS:
                self._merged.add(person)
            else:
                self._merged.discard(person)

    def forget_statuses(self) -> None:
        """Before a rebuild reads every status again."""
        self._merged = set()

    def changed(self) -> None:
        """After the index followed a commit or was rebuilt: fit again when it has moved enough,
        synchronously the first time (start-up), in the background after that."""
        size = len(self.gallery)
        if self._fitted_at < 0:
            self._refresh_logged()
            return
        step = max(self.refresh_changes, int(self.refresh_share * self._fitted_at))
        if abs(size - self._fitted_at) >= step:
            self.refresh_in_background()

    def refresh_in_background(self) -> None:
        """Fit again off the decision path (one worker at a time)."""
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._refresh_logged, name="national-finger-tail", daemon=True
            )
            self._worker.start()

    def _refresh_logged(self) -> None:
        try:
            self.refresh_now()
        except Exception:  # a failed fit keeps the previous tail; the next move tries again
            log.exception("fitting the national finger tail failed")
            self._fitted_at = len(self.gallery)

    def wait(self, timeout: float | None = None) -> None:
        """Until a background fit under way has finished (tests, shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def refresh_now(self) -> FingerTailState:
        """Fit the national tail now from the records held (the fallback below `min_people`)."""
        size = len(self.gallery)
        population = self.population()
        people = len({person for person, _ in population})
        sample = self.sample(population) if people >= max(self.min_people, 2) else {}
        impostor, genuine = population_scores(sample, self.max_comparisons, any_position=True)
        if len(impostor) < 2:  # too few people, or nothing to compare
            state = FingerTailState(self.fallback, self._fallback_source, people)
        else:
            dataset = (
                f"national: {people} people's finger records, {len({p for p, _ in sample})}"
                f" of them sampled ({len(sample)} fingers, {len(impostor)} impostor comparisons"
                f" at any position), calibrated {dt.date.today().isoformat()}"
            )
            tail = tail_of(impostor, genuine, dataset, len(sample))
            state = FingerTailState(tail, "national", people)
        self._state, self._fitted_at = state, size
        log.info("national finger tail: %s, on %d people", state.source, people)
        return state

    def population(self) -> dict[Owner, list[Packed]]:
        """(person, position) -> the records held of everyone not merged, in the index's order
        (the order they were stored in: the first is the finger's probe)."""
        merged = set(self._merged)
        found: dict[Owner, list[Packed]] = {}
        for _, (person, position), packed in self.gallery.held():
            if person not in merged and packed.count:
                found.setdefault((person, position), []).append(packed)
        return found

    def sample(self, population: dict[Owner, list[Packed]]) -> dict[Owner, list[Packed]]:
        """Whole people in a seeded order until their fingers reach the fit's probes."""
        by_person: dict[str, list[Owner]] = {}
        for finger in population:
            by_person.setdefault(finger[0], []).append(finger)
        people = sorted(by_person)
        probes = max(2, self.max_comparisons // IMPOSTORS_PER_PROBE)
        chosen: list[Owner] = []
        for k in np.random.default_rng(0).permutation(len(people)):
            if len(chosen) >= probes:
                break
            chosen += by_person[people[k]]
        return {finger: population[finger] for finger in chosen}
