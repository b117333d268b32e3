"""Keeping a live gallery equal to the database, whoever wrote to it.

The gallery is a projection of the database's templates. This process's own writes re-project
the people they touched at once (enrollment/gallery_projection.py: a desk commit, a status
change, a gate release, a pulled page); other processes' writes (`gerbang import`, a sync agent
run on its own, the service for a gate process) reach it through the `gallery_changes` feed that
triggers fill (migration 027), which `GalleryFeed` applies every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

from enrollment.db import Database
from enrollment.gallery_projection import reproject, reproject_in
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryIndex
from kernel.errors import GerbangError

log = logging.getLogger(__name__)

FEED_BATCH = 500  # feed rows per database read (a few hundred people at most)
KEEP_CHANGES = 100_000  # feed rows kept; a process further behind rebuilds its gallery
PRUNE_EVERY_S = 3600.0  # the service's feed thread prunes at its start and then hourly


class GalleryProjection:
    """Re-projects identities into whatever gallery is loaded (none: nothing to do)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        gallery: Callable[[], GalleryIndex | None],
        pack_id: Callable[[], str],
    ) -> None:
        self.db, self.vault, self._gallery, self._pack_id = db, vault, gallery, pack_id

    def gallery(self) -> GalleryIndex | None:
        """The gallery loaded in this process, if any."""
        return self._gallery()

    def pack_id(self) -> str:
        """The pack of the gallery's templates."""
        return self._pack_id()

    def follow(self, identity_ids: Collection[str]) -> int:
        """Make the gallery hold exactly the database's templates of these identities; return
        how many people changed in it (enrollment/gallery_projection.py)."""
        gallery = self._gallery()
        if gallery is None:  # not loaded (a separate sync process): it is built from the DB
            return 0
        return reproject(self.db, self.vault, gallery, self.pack_id(), identity_ids)


class GalleryFeed:
    """Applies the `gallery_changes` rows after this process's cursor to its gallery."""

    def __init__(
        self, db: Database, projection: GalleryProjection, rebuild: Callable[[], int]
    ) -> None:
        self.db, self.projection, self._rebuild = db, projection, rebuild
        self.cursor: int | None = None  # the last row applied; None until a gallery is loaded
        self._lock = threading.Lock()  # one round at a time (the thread, an explicit call)

    def head(self) -> int:
        """The newest row now; read it before building a gallery, then pass it to `loaded_at`,
        so a write landing during the build is applied, not missed."""
        return int(self.db.query("SELECT IFNULL(MAX(seq), 0) FROM gallery_changes")[0][0])

    def loaded_at(self, cursor: int) -> None:
        """A gallery was built from the database as it stood at `cursor` (or later)."""
        with self._lock:
            self.cursor = cursor

    def prune(self, keep: int = KEEP_CHANGES) -> int:
        """Forget all but the newest `keep` rows; return how many went."""
        with self.db.transaction() as tx:
            return tx.execute(
                "DELETE FROM gallery_changes WHERE seq <= (SELECT MAX(seq) FROM gallery_changes) - ?",
                (keep,),
            ).rowcount

    def follow(self) -> int:
        """Apply every row after the cursor; return how many people changed in the gallery.
        A cursor older than the oldest row kept (pruned past) rebuilds the gallery instead (and
        counts its templates)."""
        with self._lock:
            changed = 0
            while self.cursor is not None and (gallery := self.projection.gallery()) is not None:
                pack_id = self.projection.pack_id()  # before the read: it reads the database
                with gallery.listeners_after(), reading(self.db, self.projection.vault) as uow:
                    rows = uow.connection.execute(
                        "SELECT seq, identity_id FROM gallery_changes WHERE seq > ?"
                        " ORDER BY seq LIMIT ?",
                        (self.cursor, FEED_BATCH),
                    ).fetchall()
                    pruned = bool(rows) and rows[0][0] > self.cursor + 1  # rows never read, gone
                    if rows and not pruned:
                        changed += reproject_in(uow, gallery, pack_id, {r[1] for r in rows})
                if not rows:
                    break
                if pruned:
                    changed += self._rebuild_from_head()
                else:
                    self.cursor = int(rows[-1][0])
            return changed

    def _rebuild_from_head(self) -> int:
        """The gallery rebuilt, the cursor at the head read before it (later rows re-apply).
        A refusal (the site switched packs: this process must restart) is logged once and the
        rows skipped, not retried every round."""
        head = self.head()
        log.warning("gallery feed pruned past this process: rebuilding the gallery")
        try:
            return self._rebuild()
        except GerbangError as exc:
            log.error("the gallery could not be rebuilt: %s", exc)
            return 0
        finally:
            self.cursor = head

    def run(self, every_s: float, stop: threading.Event) -> None:
        """`follow` every `every_s` seconds until `stop` is set (a background thread); prune
        the feed at the start and hourly."""
        pruned_at = -PRUNE_EVERY_S
        while True:
            try:
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    self.prune()
                if changed := self.follow():
                    log.info("gallery followed the database: %d people changed", changed)
            except Exception:  # the next round tries again; decisions go on meanwhile
                log.exception("the gallery could not follow the database")
            if stop.wait(every_s):
                return


@contextmanager
def following(feed: GalleryFeed, every_s: float) -> Iterator[None]:
    """Run `feed.run` on a background thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(
        target=feed.run, args=(every_s, stop), name="gallery-feed", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
