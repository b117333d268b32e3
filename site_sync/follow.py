"""Making a live gallery follow what a pulled page changed, one identity at a time.

Re-projecting only the touched identities (remove, then add what the database now holds) costs a
few FAISS removals per page; a full `Site.rebuild_gallery()` would re-read every template for
every page of a week-long backlog. The database stays the truth either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection

from enrollment.db import Database
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryEntry, GalleryIndex


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

    def follow(self, identity_ids: Collection[str]) -> None:
        """Make the gallery hold exactly the database's templates of these identities.

        Each step is atomic in the gallery and none leaves a person unsearchable in between: the
        status moves first, new templates are added, then templates gone from the database leave.
        """
        gallery = self._gallery()
        if gallery is None:  # not loaded (a separate sync process): it is built from the DB
            return
        wanted = self._entries(sorted(identity_ids), self._pack_id())
        held: dict[str, set[int]] = defaultdict(set)
        for template_id, (identity_id, _, _) in gallery.snapshot().items():
            held[identity_id].add(template_id)
        for identity_id in sorted(identity_ids):
            entries = wanted.get(identity_id, [])
            if not entries:
                gallery.remove_identity(identity_id)
                continue
            gallery.set_status(identity_id, entries[0].status)
            gallery.add([e for e in entries if e.template_id not in held[identity_id]])
            gallery.remove(held[identity_id] - {e.template_id for e in entries})

    def _entries(self, identity_ids: list[str], pack_id: str) -> dict[str, list[GalleryEntry]]:
        """Per identity, the templates the gallery should hold (none once erased)."""
        entries: dict[str, list[GalleryEntry]] = {}
        with reading(self.db, self.vault) as uow:
            repo = uow.identities
            for identity_id in identity_ids:
                entries[identity_id] = [
                    GalleryEntry(t.template_id, t.identity_id, t.role, t.status, t.vector)
                    for t in repo.templates_for_pack(pack_id, identity_id)
                    if t.status != "erased"
                ]
        return entries
