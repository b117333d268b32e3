"""People with fingers and no face template: where a fused search places them, and how many it
counts (issue 12).

The face gallery knows everyone's role and status through their templates; a person the site
holds only by fingers (a national watchlist entry sent with fingers and no face) is not in it,
so a fused search would leave them out "whatever their finger says" and count a search over fewer
people than it makes. This is their roster, read from the site database: (role, status) per
person who has a finger template and no face in the gallery. It is recomputed when the finger
table or the gallery changed since the last read (finger_changes.generation, GalleryIndex.version);
an unchanged site costs one row read per search. Such a person's status only moves with their
fingers (a watchlist removal erases them, a new ban stores them again), so the two counters
suffice.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

from enrollment.db import Database
from gallery_sync.gallery import GalleryIndex
from gallery_sync.partitions import partition_filter

Partition = tuple[str, str]  # (role, status)


class FacelessPeople:
    """The site's people known by fingers alone, with their role and status."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._key: tuple[int, int, int] | None = None
        self._people: dict[str, Partition] = {}
        self._lock = threading.Lock()

    def partition(self, gallery: GalleryIndex, person: str) -> Partition | None:
        """(role, status) of a person with fingers and no face template, else None."""
        return self._current(gallery).get(person)

    def count(
        self,
        gallery: GalleryIndex,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        only: Collection[str] | None,
    ) -> int:
        """How many of them a search with these filters covers (added to the gallery's N)."""
        roles_wanted, statuses_wanted = partition_filter(roles, statuses)
        allowed = None if only is None else set(only)
        return sum(
            1
            for person, (role, status) in self._current(gallery).items()
            if role in roles_wanted
            and status in statuses_wanted
            and (allowed is None or person in allowed)
        )

    def _current(self, gallery: GalleryIndex) -> dict[str, Partition]:
        with self._lock, self.db.reading() as tx:
            generation = int(tx.execute("SELECT generation FROM finger_changes").fetchone()[0])
            key = (id(gallery), gallery.version, generation)
            if key != self._key:
                rows = tx.execute(
                    "SELECT DISTINCT f.identity_id, i.role, i.status FROM finger_templates f"
                    " JOIN identities i ON i.id = f.identity_id"
                ).fetchall()
                self._people = {
                    str(person): (str(role), str(status))
                    for person, role, status in rows
                    if gallery.partition_of(str(person)) is None
                }
                self._key = key
            return self._people
