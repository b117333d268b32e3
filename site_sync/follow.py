"""Keeping a live gallery equal to the database, whoever wrote to it.

The gallery is a projection of the database's templates. This process's own writes re-project
the people they touched at once (enrolment, a status change, a pulled page); other processes'
writes (`gerbang import`, a sync agent run on its own, the service for a gate process) reach it
through the `gallery_changes` feed that triggers fill (migration 027), which `GalleryFeed`
applies every few seconds.

Each re-projection reads the people's templates and changes the gallery while still inside the
database read (`Database.reading` holds the process's one connection): no write of this process
can commit in between, so a write always lands in the gallery after the read that preceded it,
never under it. The order is always database, then gallery, never the reverse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

from enrollment.db import Database
from enrollment.unit_of_work import UnitOfWork, reading
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryEntry, GalleryIndex

log = logging.getLogger(__name__)

FEED_BATCH = 500  # people re-projected per database read: a gate decision waits at most one
KEEP_CHANGES = 100_000  # feed rows kept; a process further behind rebuilds its gallery


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

    def follow(self, identity_ids: Collection[str]) -> int:
        """Make the gallery hold exactly the database's templates of these identities; return
        how many people changed in it. Each person moves in one step (`replace_identity`)."""
        gallery = self._gallery()
        if gallery is None:  # not loaded (a separate sync process): it is built from the DB
            return 0
        pack_id = self.pack_id()  # before the read: it reads the database itself
        with reading(self.db, self.vault) as uow:
            return self.apply(uow, gallery, pack_id, identity_ids)

    def pack_id(self) -> str:
        """The pack of the gallery's templates."""
        return self._pack_id()

    def apply(
        self, uow: UnitOfWork, gallery: GalleryIndex, pack_id: str, identity_ids: Collection[str]
    ) -> int:
        """`follow` inside a read the caller holds (the feed reads its rows in the same one)."""
        changed = 0
        for identity_id in sorted(set(identity_ids)):
            entries = [
                GalleryEntry(t.template_id, t.identity_id, t.role, t.status, t.vector)
                for t in uow.identities.templates_for_pack(pack_id, identity_id)
                if t.status != "erased"
            ]
            changed += gallery.replace_identity(identity_id, entries)
        return changed


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
            while self.cursor is not None:
                gallery = self.projection.gallery()
                if gallery is None:
                    break
                pack_id = self.projection.pack_id()
                with reading(self.db, self.projection.vault) as uow:
                    rows = uow.connection.execute(
                        "SELECT seq, identity_id FROM gallery_changes WHERE seq > ?"
                        " ORDER BY seq LIMIT ?",
                        (self.cursor, FEED_BATCH),
                    ).fetchall()
                    if not rows:
                        break
                    if rows[0][0] > self.cursor + 1:  # rows this process never read are gone
                        head = int(rows[-1][0])
                        pruned = True
                    else:
                        changed += self.projection.apply(
                            uow, gallery, pack_id, {r[1] for r in rows}
                        )
                        head, pruned = int(rows[-1][0]), False
                if pruned:
                    cursor = self.head()  # before the rebuild's read: later rows re-apply
                    log.warning("gallery feed pruned past this process: rebuilding the gallery")
                    changed += self._rebuild()
                    head = cursor
                self.cursor = head
            return changed

    def run(self, every_s: float, stop: threading.Event) -> None:
        """`follow` every `every_s` seconds until `stop` is set (a background thread)."""
        while not stop.wait(every_s):
            try:
                if changed := self.follow():
                    log.info("gallery followed the database: %d people changed", changed)
            except Exception:  # the next round tries again; decisions go on meanwhile
                log.exception("the gallery could not follow the database")


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
