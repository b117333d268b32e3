"""How one registry process keeps its national index in step with the database: its own
writes at once, other replicas' within a poll interval, and a full rebuild only at start or
after a commit the index could not follow.

Writes that move the gallery run one at a time in this process (`writing`); each commits its
rows in the gallery feed (gallery_feed.py), then `follow` applies every feed row after this
process's cursor, its own and other replicas', and searches the templates still pending. A
background thread does the same every `poll_seconds`, so a person pushed to another replica is
found here within that interval. If the index cannot follow (the database vanished just after
a commit), it is marked stale and rebuilt before the next write; the commit stands, and the
searches still pending are found by `searched_at`.

What is calibrated on the index (the finger tail, registry/national_finger_tail.py) is never
fitted inside a transaction or under the write lock: at start (`start`) it is fitted in the
starting thread between the rebuild and the first searches, once the rebuild has committed and
released the lock (nothing is served until a start returns); after that, each `writing` block
asks for a background refit once it has released the lock, and the fit starts when the index
has moved enough.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from registry import gallery_feed
from registry.db import RegistryDatabase
from registry.national import SEARCH_BATCH, NationalGallery
from registry.national_fingers import FINGER_BATCH

log = logging.getLogger(__name__)


class GalleryFollower:
    """The national gallery's writer lock, feed cursor and poller for one registry process."""

    def __init__(self, db: RegistryDatabase, gallery: NationalGallery, poll_seconds: float) -> None:
        self.db, self.gallery, self.poll_seconds = db, gallery, poll_seconds
        self.stale = True  # until the first rebuild
        self.cursor = 0  # the feed seq this process's index has applied
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None

    def start_polling(self) -> None:
        """Follow the feed in a background thread until `stop`."""
        if self._poller is not None:
            return
        self._stopping.clear()
        self._poller = threading.Thread(target=self._poll, name="gallery-feed", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stop the background thread (the app's shutdown)."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(10)
            self._poller = None

    def start(self) -> None:
        """Rebuild the index, fit what is calibrated on it, then catch up and search what is
        pending (reading that fit): the fit, about 80 s at full budget, holds no transaction
        and no lock."""
        with self._write_lock:
            self._rebuild()
        self.gallery.calibrate()
        with self.writing():
            self.follow()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One gallery-moving write at a time, on an index known to match the database; once
        the block's commits are done and the lock released, a refit if the index moved enough."""
        with self._write_lock:
            if self.stale:
                self._rebuild()
                self.follow()
            yield
        self.gallery.moved()

    def _rebuild(self) -> None:
        """The index reloaded from the database (under the write lock)."""
        with self.db.transaction() as tx:
            cursor = gallery_feed.head(tx)  # before the snapshot: rows after it re-apply
            count = self.gallery.rebuild(tx)
        log.info("national gallery rebuilt: %d templates", count)
        self.cursor, self.stale = cursor, False

    def follow(self) -> None:
        """Apply the feed after the cursor, then search pending templates (never raises)."""
        try:
            while True:
                with self.db.transaction() as tx:
                    rows = gallery_feed.rows_after(tx, self.cursor)
                    self.gallery.follow(tx, gallery_feed.touched_by(rows))
                if not rows:
                    break
                self.cursor = rows[-1]["seq"]
            self.search_all()
        except Exception:  # the commit stands; rebuild before the next write
            log.exception("national gallery could not follow a commit; it will be rebuilt")
            self.stale = True

    def search_all(self) -> list[int]:
        """Run the duplicate search until no held template waits for it; return new case ids."""
        opened: list[int] = []
        searches = ((self.gallery.search_pending, SEARCH_BATCH),
                    (self.gallery.search_pending_fingers, FINGER_BATCH))  # fmt: skip
        for search_pending, batch in searches:
            searched = batch
            while searched == batch:
                with self.db.transaction() as tx:
                    searched, cases_opened = search_pending(tx)
                opened.extend(cases_opened)
        return opened

    def _poll(self) -> None:
        """Follow what other replicas commit until stopped."""
        while not self._stopping.wait(self.poll_seconds):
            try:
                with self.writing():
                    self.follow()
            except Exception:  # the database is away: next tick (requests report it themselves)
                log.warning("gallery feed unreadable; retrying", exc_info=True)
