"""Re-projecting people from the database into a live gallery, the one way every writer does it.

The read and the change happen inside one database read (`Database.reading` holds the process's
one connection), so no write of this process can commit in between: a write always lands in
the gallery after the read that preceded it, never under it. The order is always database, then
gallery, never the reverse. The gallery's listeners (the open-set calibration) hear of the change
once the read has closed, so a recalibration never holds the database.

Used by the desk's commits, status changes and erasures (enrollment/service.py), the gate's
releases (edge/gate/recording.py), pulled pages (site_sync/agent.py) and the feed of other
processes' writes (site_sync/follow.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from enrollment.db import Database
from enrollment.unit_of_work import UnitOfWork, reading
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryEntry, GalleryIndex

log = logging.getLogger(__name__)


def reproject(
    db: Database, vault: Vault, gallery: GalleryIndex, pack_id: str, people: Collection[str]
) -> int:
    """Make the gallery hold exactly the database's templates of these people; return how many
    changed in it."""
    with gallery.listeners_after(), reading(db, vault) as uow:
        return reproject_in(uow, gallery, pack_id, people)


def reproject_in(
    uow: UnitOfWork, gallery: GalleryIndex, pack_id: str, people: Collection[str]
) -> int:
    """`reproject` inside a read the caller holds (the feed reads its rows in the same one).

    A person who cannot be projected (a template that no longer opens, a row the gallery
    refuses) is logged and left as the gallery holds them: one bad record must not stop the
    others. `gerbang gallery check` names what then differs."""
    changed = 0
    for identity_id in sorted(set(people)):
        try:
            entries = [
                GalleryEntry(t.template_id, t.identity_id, t.role, t.status, t.vector)
                for t in uow.identities.templates_for_pack(pack_id, identity_id)
                if t.status != "erased"
            ]
            changed += gallery.replace_identity(identity_id, entries)
        except Exception:
            log.exception("the gallery could not follow identity %s", identity_id)
    return changed
