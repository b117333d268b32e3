"""Building the gallery from the database, and checking that the two agree.

The database is the truth: on start the gallery is rebuilt from the templates of the pack in use,
and `gerbang gallery check` compares ids, metadata and vectors one by one.
"""

from __future__ import annotations

from enrollment.db import Database
from enrollment.repository import StoredTemplate
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryDiff, GalleryEntry, GalleryIndex


def _stored(db: Database, vault: Vault, pack_id: str) -> list[StoredTemplate]:
    with reading(db, vault) as uow:
        return [t for t in uow.identities.templates_for_pack(pack_id) if t.status != "erased"]


def stored_entries(db: Database, vault: Vault, pack_id: str) -> list[GalleryEntry]:
    """Every template of the pack, as the gallery holds it."""
    return [
        GalleryEntry(t.template_id, t.identity_id, t.role, t.status, t.vector)
        for t in _stored(db, vault, pack_id)
    ]


def build_gallery(db: Database, vault: Vault, pack_id: str, dimension: int) -> GalleryIndex:
    """A fresh gallery holding every template of the pack."""
    gallery = GalleryIndex(dimension)
    gallery.add(stored_entries(db, vault, pack_id))
    return gallery


def check_gallery(db: Database, vault: Vault, gallery: GalleryIndex, pack_id: str) -> GalleryDiff:
    """What differs between the database and the gallery (empty when consistent)."""
    expected = {
        t.template_id: (t.identity_id, t.role, t.status, t.vector)
        for t in _stored(db, vault, pack_id)
    }
    return gallery.compare_with(expected)
