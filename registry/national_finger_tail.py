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

Who is not an impostor is read from the database as a fit starts (`left_out`,
national_fingers.not_impostors): people merged into another (their records are the survivor's
person) and both people of every undecided (open) duplicate case, who may be one person enrolled
twice: the very people this search exists to find, whose scores would make the tail heavier,
raise the threshold and hide cases like theirs. Erased people's records are gone from the index
already. Duplicates not found yet (records not searched yet, a pair never searched) are caught by
a trim: impostor comparisons scoring at or above the threshold serving now for a search over the
index's size are left out as presumptive mates (they would open a case; the tail's dataset counts
them). A pair an officer decided are not the same is trimmed too if it scores that high: a few
comparisons at most, a slightly lighter tail.

Until `min_people` people (those left out aside) hold finger records the shipped FVC tail serves.
A fit samples people (seeded) until their fingers, each probing, leave every probe about
IMPOSTORS_PER_PROBE impostors within MAX_COMPARISONS. Decisions only read the current tail. The
first is fitted at start in the starting thread, after the index is rebuilt but outside the write
lock and any transaction (registry/gallery_follower.py: nothing is served until a start returns,
and the pending searches a start runs read it); after that a new one is fitted in a background
thread, started once a write has committed and released the write lock, when the records held
have moved by `refresh_share` (or `refresh_changes`, whichever is more) since the last fit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection

from kernel.background import SingleWorker
from models.fingerprint.gallery import FingerGallery, Owner
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.tail import (
    IMPOSTORS_PER_PROBE,
    MAX_COMPARISONS,
    FingerTail,
    FingerTailState,
    population_scores,
    sample_people,
    tail_of,
)

log = logging.getLogger(__name__)


class NationalFingerTail:
    """The finger tail of the national search: the national fingers' own once enough people."""

    def __init__(
        self,
        gallery: FingerGallery,
        fallback: FingerTail | None,
        left_out: Callable[[], Collection[str]],
        serving: Callable[[int], float],
        min_people: int = 200,
        max_comparisons: int = MAX_COMPARISONS,
        refresh_changes: int = 20,
        refresh_share: float = 0.1,
    ) -> None:
        self.gallery = gallery
        self.fallback = fallback  # the shipped tail (None: the operating points decide)
        self.left_out = left_out  # people who are not impostors, read as a fit starts
        self.serving = serving  # the threshold serving now for a search over so many records
        self.min_people, self.max_comparisons = min_people, max_comparisons
        self.refresh_changes, self.refresh_share = refresh_changes, refresh_share
        self._state = FingerTailState(fallback, self._fallback_source, 0)
        self._fitted_at = -1  # records held at the last fit; -1: never fitted
        self._fitting = threading.Lock()  # one fit at a time, the start's or a worker's
        self.worker = SingleWorker("national-finger-tail")

    @property
    def _fallback_source(self) -> str:
        return "shipped" if self.fallback is not None else "operating-points"

    def state(self) -> FingerTailState:
        """The tail decisions read now, and where it comes from (never fits anything)."""
        return self._state

    def changed(self) -> None:
        """After a write committed: fit again in the background when the records held have
        moved enough since the last fit (or were never fitted); never waits for a fit."""
        step = max(self.refresh_changes, int(self.refresh_share * self._fitted_at))
        if self._fitted_at < 0 or abs(len(self.gallery) - self._fitted_at) >= step:
            self.refresh_in_background()

    def refresh_in_background(self) -> None:
        """Fit again off the decision path (one worker at a time)."""
        self.worker.start(self.fit)

    def fit(self) -> None:
        """Fit now in this thread (the start's) unless a fit is under way; a failure is logged
        and the tail serving stays (the next move tries again)."""
        if not self._fitting.acquire(blocking=False):
            return
        try:
            self.refresh_now()
        except Exception:
            log.exception("fitting the national finger tail failed")
            self._fitted_at = len(self.gallery)
        finally:
            self._fitting.release()

    def wait(self, timeout: float | None = None) -> None:
        """Until a background fit under way has finished (tests, shutdown)."""
        self.worker.wait(timeout)

    def refresh_now(self) -> FingerTailState:
        """Fit the national tail now from the records held (the fallback below `min_people`)."""
        size = len(self.gallery)
        cut = self.serving(size)  # read off the tail serving now, before this fit replaces it
        population = self.population()
        people = len({person for person, _ in population})
        probes = self.max_comparisons // IMPOSTORS_PER_PROBE
        sample = sample_people(population, probes) if people >= max(self.min_people, 2) else {}
        scores, genuine = population_scores(sample, self.max_comparisons, any_position=True)
        impostor = [score for score in scores if score < cut]  # the rest: presumptive mates
        if len(impostor) < 2:  # too few people, or nothing to compare
            state = FingerTailState(self.fallback, self._fallback_source, people)
        else:
            dataset = (
                f"national: {people} people's finger records, {len({p for p, _ in sample})}"
                f" of them sampled ({len(sample)} fingers, {len(impostor)} impostor comparisons"
                f" at any position; {len(scores) - len(impostor)} at or above the serving"
                f" threshold {cut:.4f} left out as presumptive mates),"
                f" calibrated {dt.date.today().isoformat()}"
            )
            tail = tail_of(impostor, genuine, dataset, len(sample))
            state = FingerTailState(tail, "national", people)
        self._state, self._fitted_at = state, size
        log.info("national finger tail: %s, on %d people", state.source, people)
        return state

    def population(self) -> dict[Owner, list[Packed]]:
        """(person, position) -> the records held of everyone who may be an impostor (see the
        module), in the index's order (the order they were stored in: the first is the finger's
        probe)."""
        left_out = frozenset(self.left_out())
        found: dict[Owner, list[Packed]] = {}
        for _, (person, position), packed in self.gallery.held():
            if person not in left_out and packed.count:
                found.setdefault((person, position), []).append(packed)
        return found
