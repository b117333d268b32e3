"""The finger's impostor tail calibrated on the site's own enrolled fingers.

The face's open-set thresholds follow the people actually enrolled (gallery_sync/openset.py); this
does the same for the finger. The site's fingers are a sample of known-different people: each
enrolled finger's first stored impression scored against other people's impressions at the same
position is the local impostor distribution (models/fingerprint/tail.population_scores), fitted as
the shipped tail is (counted scores, an exponential tail beyond, thresholds at a 95% one-sided
bound). The fingers are read as the 1:N index holds them (packed cylinders): nothing is opened or
decoded again, and the templates cache is left alone. A site whose readers, people or extractor
give heavier impostor tails than FVC's gets stricter thresholds; one with lighter tails misses
fewer people at the same FPIR. The tail sets the finger's 1:1 thresholds too (FingerService).

What decides, in order: a tail file the operator put in the data folder
(`<EDGE_DATA_DIR>/calibrations/finger-<extractor>-mcc.openset.json`, from `gerbang finger tail`
on their own prints: an explicit choice, never overridden; read at start); else the site's own
tail once `min_people` people have fingers of the site's extractor; else the shipped tail. A fit
samples whole people (seeded) up to about `max_comparisons / IMPOSTORS_PER_PROBE` probe fingers,
so its cost stays near `max_comparisons` impostor comparisons at any size. Decisions only read the
current tail; a new one is fitted in a background thread once the finger table has seen
`refresh_share` of its size in writes (or `refresh_changes`, whichever is more) since the last fit,
re-extractions and erasures included, so a decision never waits for one. People merged into
another or erased never enter the impostor set (their templates would score as their own
impostors), and templates made by another extractor (a re-extraction under way) are left out.
The fitted tail is not kept across restarts: the shipped one serves until the first fit is done.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from enrollment.db import Database
from enrollment.fingers import FingerService
from kernel.background import SingleWorker
from kernel.errors import Message, Unavailable
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

NOT_IMPOSTORS = ("merged", "erased")


class FingerTailUnreadable(Unavailable):
    code = "finger_calibration_unreadable"
    message = Message(
        "Berkas kalibrasi sidik jari di folder data rusak: perbaiki atau hapus berkas itu, lalu"
        " mulai ulang layanan.",
        "The fingerprint calibration file in the data folder is damaged: fix or remove it, then"
        " restart the service.",
    )


Fallback = Callable[[], tuple[FingerTail | None, str]]


class SiteFingerTail:
    """The finger tail for this site's searches: its own once it has enough people."""

    def __init__(
        self,
        db: Database,
        fingers: FingerService,
        fallback: Fallback,
        site_id: str = "",
        min_people: int = 100,
        max_comparisons: int = MAX_COMPARISONS,
        refresh_changes: int = 20,
        refresh_share: float = 0.1,
    ) -> None:
        self.db, self.fingers, self.site_id = db, fingers, site_id
        self._load_fallback = fallback  # (tail, "file" | "shipped" | "operating-points")
        self._fallback: tuple[FingerTail | None, str] | None = None  # read once, kept
        self._unreadable: FingerTailUnreadable | None = None
        self.min_people = min_people
        self.max_comparisons = max_comparisons
        self.refresh_changes, self.refresh_share = refresh_changes, refresh_share
        self._state: FingerTailState | None = None
        self._fitted = (-1, 0)  # (finger_changes.generation, templates) at the last fit
        self.worker = SingleWorker("finger-tail")

    def fallback(self) -> tuple[FingerTail | None, str]:
        """The tail file that serves when the site's own does not, and whose it is (read once:
        the same object until a restart, so what was built on it stays valid). A damaged file
        is a 503 that says which, each time, never a 500."""
        if self._unreadable is not None:
            raise self._unreadable
        if self._fallback is None:
            try:
                self._fallback = self._load_fallback()
            except (OSError, ValueError) as exc:
                self._unreadable = FingerTailUnreadable(reason=str(exc))
                raise self._unreadable from exc
        return self._fallback

    def state(self) -> FingerTailState:
        """The current tail; starts a refit in the background when the fingers have moved."""
        if self._state is None:
            tail, source = self.fallback()
            self._state = FingerTailState(tail, source, 0)
        if self._state.source != "file" and self._due():
            self.refresh_in_background()
        return self._state

    def current(self) -> FingerTail | None:
        """The tail decisions read thresholds from (None: the operating points decide)."""
        return self.state().tail

    def _due(self) -> bool:
        generation = self.fingers.stored_generation()
        fitted_generation, fitted_size = self._fitted
        if fitted_generation < 0:
            return generation > 0
        step = max(self.refresh_changes, int(self.refresh_share * fitted_size))
        return generation - fitted_generation >= step

    def refresh_in_background(self) -> None:
        """Fit again off the decision path (one worker at a time)."""
        self.worker.start(self._refresh_logged)

    def _refresh_logged(self) -> None:
        try:
            self.refresh_now()
        except Exception:  # a failed fit keeps the previous tail until the fingers move again
            log.exception("fitting the site's finger tail failed")
            self._fitted = (max(self.fingers.generation, 0), len(self.fingers.index))

    def wait(self, timeout: float | None = None) -> None:
        """Until a background fit under way has finished (start-up checks and tests)."""
        self.worker.wait(timeout)

    def refresh_now(self) -> FingerTailState:
        """Fit the site's tail now from the fingers indexed (the fallback below `min_people`)."""
        fallback, source = self.fallback()
        self.fingers.refresh_index()  # the newest templates too (searches refresh it before)
        generation, held = self.fingers.generation, self.fingers.held()
        enrolled = self.enrolled(held)
        people = len({person for person, _ in enrolled})
        impostor: list[float] = []
        genuine: list[float] = []
        if source != "file" and people >= self.min_people:
            sample = sample_people(enrolled, self.max_comparisons // IMPOSTORS_PER_PROBE)
            impostor, genuine = population_scores(sample, self.max_comparisons)
        if len(impostor) < 2:  # the operator's file, too few people, or no shared position
            state = FingerTailState(fallback, source, people)
        else:
            dataset = (
                f"site {self.site_id}: {people} people's enrolled fingers"
                f" ({self.fingers.extractor.name} minutiae, {len(enrolled)} fingers,"
                f" {len(impostor)} impostor comparisons), calibrated {dt.date.today().isoformat()}"
            )
            tail = tail_of(impostor, genuine, dataset, len(enrolled))
            state = FingerTailState(tail, "site", people)
        self._state, self._fitted = state, (generation, len(held))
        return state

    def enrolled(
        self, held: list[tuple[int, str, int, str, Packed]]
    ) -> dict[tuple[str, int], list[Packed]]:
        """The fingers of active people (not merged, not erased) made by the site's extractor:
        (person, position) -> impressions as the index holds them, in the order stored."""
        marks = ", ".join("?" * len(NOT_IMPOSTORS))
        with self.db.reading() as tx:  # a short read: the statuses only, never the templates
            left_out = {
                str(row[0])
                for row in tx.execute(
                    f"SELECT id FROM identities WHERE status IN ({marks})", NOT_IMPOSTORS
                )
            }
        label = self.fingers.extractor.label
        found: dict[tuple[str, int], list[Packed]] = {}
        for _, person, position, extractor, packed in sorted(held, key=lambda h: h[0]):
            if extractor == label and person not in left_out and packed.count:
                found.setdefault((person, position), []).append(packed)
        return found
