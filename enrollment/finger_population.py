"""The finger's 1:N impostor tail calibrated on the site's own enrolled fingers.

The face's open-set thresholds follow the people actually enrolled (gallery_sync/openset.py); this
does the same for the finger. The site's fingers are a sample of known-different people: each
enrolled finger's first impression scored against other people's impressions at the same position
is the local impostor distribution (models/fingerprint/tail.population_scores), fitted as the
shipped tail is (counted scores, an exponential tail beyond, thresholds at a 95% one-sided bound).
A site whose readers, people or extractor give heavier impostor tails than FVC's gets stricter
thresholds; one with lighter tails misses fewer people at the same FPIR.

What decides, in order: a tail file the operator put in the data folder
(`<EDGE_DATA_DIR>/calibrations/finger-<extractor>-mcc.openset.json`, from `gerbang finger tail`
on their own prints: an explicit choice, never overridden); else the site's own tail once
`min_people` people have fingers of the site's extractor; else the shipped tail. Decisions only
read the current tail; a new one is fitted in a background thread when the fingers indexed have
changed by `refresh_share` (or `refresh_changes`, whichever is more) since the last fit, so a
decision never waits for it. People merged into another or erased never enter the impostor set
(their templates would score as their own impostors), and templates made by another extractor
(a re-extraction under way) are left out.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from enrollment.db import Database
from enrollment.fingers import FingerService
from models.fingerprint.mcc import MinutiaeWithCylinders
from models.fingerprint.tail import FingerTail, population_scores, tail_of

log = logging.getLogger(__name__)

NOT_IMPOSTORS = ("merged", "erased")
MAX_COMPARISONS = 40_000  # a fit's impostor comparisons: about 20 s of one core with LEADER


@dataclass(frozen=True)
class FingerTailState:
    """The tail decisions use now and where it comes from (for /ready and the evidence)."""

    tail: FingerTail | None
    source: str  # "site", "file" (the operator's), "shipped" or "operating-points"
    people: int  # people with fingers at the last fit (0 before any)

    def report(self) -> dict[str, Any]:
        """As /ready shows it."""
        return {
            "calibration": self.source,
            "dataset": self.tail.dataset if self.tail else None,
            "calibrated_people": self.people,
            "impostor_comparisons": self.tail.tail.n if self.tail else 0,
        }


class SiteFingerTail:
    """The finger tail for this site's searches: its own once it has enough people."""

    def __init__(
        self,
        db: Database,
        fingers: FingerService,
        fallback: Callable[[], tuple[FingerTail | None, str]],
        site_id: str = "",
        min_people: int = 50,
        max_comparisons: int = MAX_COMPARISONS,
        refresh_changes: int = 20,
        refresh_share: float = 0.1,
    ) -> None:
        self.db, self.fingers, self.site_id = db, fingers, site_id
        self._load_fallback = fallback  # (tail, "file" | "shipped" | "operating-points")
        self._fallback: tuple[FingerTail | None, str] | None = None  # read once, kept
        self.min_people = min_people
        self.max_comparisons = max_comparisons
        self.refresh_changes, self.refresh_share = refresh_changes, refresh_share
        self._state: FingerTailState | None = None
        self._fitted_at = -1  # templates indexed at the last fit; -1: never fitted
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def state(self) -> FingerTailState:
        """The current tail; starts a refit in the background when the fingers have moved."""
        if self._state is None:
            tail, source = self.fallback()
            self._state = FingerTailState(tail, source, 0)
        if self._state.source != "file" and self._due():
            self.refresh_in_background()
        return self._state

    def fallback(self) -> tuple[FingerTail | None, str]:
        """The tail file that serves when the site's own does not, and whose it is (read once:
        the same object until a restart, so what was built on it stays valid)."""
        if self._fallback is None:
            self._fallback = self._load_fallback()
        return self._fallback

    def current(self) -> FingerTail | None:
        """The tail decisions read thresholds from (None: the operating points decide)."""
        return self.state().tail

    def _due(self) -> bool:
        size = len(self.fingers.index)
        if self._fitted_at < 0:
            return size > 0
        step = max(self.refresh_changes, int(self.refresh_share * self._fitted_at))
        return abs(size - self._fitted_at) >= step

    def refresh_in_background(self) -> None:
        """Fit again off the decision path (one worker at a time)."""
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._refresh_logged, name="finger-tail", daemon=True
            )
            self._worker.start()

    def _refresh_logged(self) -> None:
        try:
            self.refresh_now()
        except Exception:  # a failed fit keeps the previous tail; the next change tries again
            log.exception("fitting the site's finger tail failed")

    def wait(self, timeout: float | None = None) -> None:
        """Until a background fit under way has finished (start-up checks and tests)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def refresh_now(self) -> FingerTailState:
        """Fit the site's tail now from the fingers enrolled (the fallback below `min_people`)."""
        size = len(self.fingers.index)
        enrolled = self.enrolled()
        people = len({person for person, _ in enrolled})
        fallback, source = self.fallback()
        impostor: list[float] = []
        genuine: list[float] = []
        if source != "file" and people >= self.min_people:
            impostor, genuine = population_scores(enrolled, self.max_comparisons)
        if len(impostor) < 2:  # the operator's file, too few people, or no shared position
            state = FingerTailState(fallback, source, people)
        else:
            dataset = (
                f"site {self.site_id}: {people} people's enrolled fingers"
                f" ({self.fingers.extractor.name} minutiae, {len(enrolled)} fingers,"
                f" {len(impostor)} impostor comparisons), calibrated {dt.date.today().isoformat()}"
            )
            state = FingerTailState(
                tail_of(impostor, genuine, dataset, len(enrolled)), "site", people
            )
        self._state, self._fitted_at = state, size
        return state

    def enrolled(self) -> dict[tuple[str, int], list[MinutiaeWithCylinders]]:
        """Every finger of an active (not merged, not erased) person, by the site's extractor:
        (person, position) -> impressions in the order they were stored."""
        with self.db.reading() as tx:
            rows = tx.execute(
                "SELECT f.id, f.identity_id, f.position, f.iso_record, f.extractor"
                " FROM finger_templates f JOIN identities i ON i.id = f.identity_id"
                f" WHERE f.extractor = ? AND i.status NOT IN ({', '.join('?' * len(NOT_IMPOSTORS))})"
                " ORDER BY f.id",
                (self.fingers.extractor.name, *NOT_IMPOSTORS),
            ).fetchall()
        found: dict[tuple[str, int], list[MinutiaeWithCylinders]] = defaultdict(list)
        for tid, person, position, sealed, extractor in rows:
            template = self.fingers.stored_template((int(tid), str(extractor)), person, sealed)
            if isinstance(template, MinutiaeWithCylinders) and template.count:
                found[(str(person), int(position))].append(template)
        return dict(found)
