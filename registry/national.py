"""The national gallery: every site's templates of one pack in an exact FAISS index, and the
duplicate search that turns a match above the calibrated threshold into a case for an officer.

As at a site, the database is the truth and the index a projection: `rebuild` on start, `follow`
after each commit. A template is searched once, after its batch committed and it sits in the
index (`searched_at` marks it), so a crash between commit and search only delays the search to
the next start, and two people arriving in one batch still find each other. Finger records are
searched the same way, by their own index (national_fingers.py), when fingers are enrolled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enrollment.vault import aad_for
from gallery_sync.gallery import Candidate, GalleryEntry, GalleryIndex
from gallery_sync.openset import OpenSetThreshold, OpenSetThresholds
from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.manifest import load_packs
from models.openset import OpenSetCalibration, PointsTail
from registry.cases import CaseEvidence, open_case, survivors_of
from registry.db import Connection
from registry.national_fingers import NationalFingers
from registry.national_index import NationalIndexConfig
from registry.national_search import NationalSearch

log = logging.getLogger(__name__)
SEARCH_K = 5  # people per probe: more than one case per enrolment is rare and all are kept
SEARCH_BATCH = 2000


@dataclass
class MatchPolicy:
    """The pack the national gallery holds, its vector length, and the duplicate threshold.

    The threshold follows a target FPIR (share of enrolments of someone new that open a false
    case) for the people in the national gallery at that moment (models/openset.py), calibrated on
    the national gallery itself once it has enough people (on a sample of them: the tail beyond is
    the fitted one), on the pack's FMR points until then. The registry scores a person as an
    identity (the normalised mean of their captures), as a site does, so it calibrates at that
    level and a search's N is the number of people; the FMR points (per comparison) then count
    one comparison per person. Above the exact limit its IVF shortlists people by their
    captures, then scores them by identity (registry/national_search.py).
    """

    pack_id: str
    dimension: int
    fmr_threshold: float
    target_fmr: float
    target_fpir: float | None = None
    open_set: OpenSetThresholds | None = None
    gallery: GalleryIndex | None = None

    @classmethod
    def for_pack(
        cls,
        pack_id: str,
        target_fmr: float,
        calibration: Path | None,
        target_fpir: float | None = None,
        min_people: int = 1_000,
    ) -> MatchPolicy:
        """Dimension from the pack manifest, thresholds from its calibration."""
        pack = load_packs()[pack_id]
        path = calibration or SHIPPED_CALIBRATIONS / f"{pack_id}.json"
        loaded = Calibration.load(path)
        open_set = None
        if target_fpir is not None:
            points = tuple((p.target_fmr, p.threshold) for p in loaded.operating_points)
            fallback = OpenSetCalibration(
                PointsTail(points), (), "fmr-points", loaded.dataset, loaded.n_identities
            )
            open_set = OpenSetThresholds(fallback, {"national_duplicate": target_fpir}, min_people)
        return cls(
            pack_id,
            pack.embedding_dim,
            loaded.threshold_for(target_fmr),
            target_fmr,
            target_fpir,
            open_set,
        )

    def follow(self, gallery: GalleryIndex) -> None:
        """Calibrate on the national gallery as it changes."""
        self.gallery = gallery
        if self.open_set is not None:
            self.open_set.follow(gallery)

    @property
    def threshold(self) -> float:
        """The duplicate threshold now: for the target FPIR at the gallery's size, or the
        per-comparison one without a target."""
        setting = self.setting()
        return self.fmr_threshold if setting is None else setting.threshold

    def cost(self) -> dict[str, Any] | None:
        """What the target costs at the gallery's size now (threshold, false cases per 100
        enrolments of new people, expected misses, usable), for the health answer."""
        setting = self.setting()
        if setting is None or self.open_set is None:
            return None
        return self.open_set.current.cost("national_duplicate", setting.target_fpir, setting.people)

    def setting(self) -> OpenSetThreshold | None:
        """The open-set setting of a national search now (evidence), None without a target."""
        if self.open_set is None or self.gallery is None:
            return None
        # A national search scores everyone held, one identity each (erased people are gone).
        people = self.gallery.people()
        return self.open_set.for_search("national_duplicate", max(people, 1))


class NationalGallery:
    """The index of the policy's pack, kept in step with `national_templates`."""

    def __init__(
        self,
        policy: MatchPolicy,
        exact_limit: int = 1_000_000,
        vault: Any = None,
        fingers: NationalFingers | None = None,
    ) -> None:
        self.vault = vault  # registry.vault.RegistryVault: templates are stored sealed
        self.policy = policy
        self.fingers = fingers  # the search by fingers, None when switched off
        # The exact gallery stays the truth; above exact_limit an IVF snapshot proposes candidates.
        config = NationalIndexConfig(exact_limit=exact_limit)
        exact = GalleryIndex(policy.dimension)
        policy.follow(exact)
        self.index = NationalSearch(exact, config)

    def rebuild(self, tx: Connection) -> int:
        """Reload every template of the pack from the database; return how many."""
        entries = _entries(tx, self.vault, "t.pack_id = %s", (self.policy.pack_id,))
        self.index.rebuild(entries)
        if self.fingers is not None:
            log.info("national finger index rebuilt: %d records", self.fingers.rebuild(tx))
        return len(entries)

    def follow(self, tx: Connection, touched: dict[str, list[int]]) -> None:
        """After a commit: each touched person's status, and their new templates (by id)."""
        for identity_id, new_ids in touched.items():
            row = tx.execute(
                "SELECT status FROM national_identities WHERE id = %s", (identity_id,)
            ).fetchone()
            if row is None or row["status"] == "erased":
                self.index.remove_identity(identity_id)
                continue
            self.index.set_status(identity_id, row["status"])
            held = self.index.gallery.metadata_of(new_ids)  # a feed row applied twice adds nothing
            fresh = [tid for tid in new_ids if tid not in held]
            if fresh:
                where = "t.id = ANY(%s) AND t.pack_id = %s"
                self.index.add(_entries(tx, self.vault, where, (fresh, self.policy.pack_id)))
        if self.fingers is not None:
            self.fingers.follow(tx, touched)

    def calibrate(self) -> None:
        """Fit what is calibrated on the index now, in this thread (a start, outside any
        transaction and the write lock): the finger tail (the face's calibration follows its
        gallery by itself, gallery_sync/openset.py)."""
        if self.fingers is not None:
            self.fingers.calibrate()

    def moved(self) -> None:
        """After a write committed and released the write lock: refit in the background what
        is calibrated on the index, once it has moved enough."""
        if self.fingers is not None:
            self.fingers.moved()

    def search_pending(self, tx: Connection) -> tuple[int, list[int]]:
        """Search up to SEARCH_BATCH unsearched templates, opening a case per match.

        Returns (templates searched, ids of newly opened cases); call again while the first is
        SEARCH_BATCH. Templates this replica's index does not hold yet are left for later.
        """
        rows = tx.execute(
            "SELECT id, identity_id, vector FROM national_templates"
            " WHERE searched_at IS NULL AND pack_id = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (self.policy.pack_id, SEARCH_BATCH),
        ).fetchall()
        rows = self._held(tx, rows)
        opened: list[int] = []
        if rows:  # one FAISS call for all probes: BLAS does the batch far faster than a loop
            probes = np.stack([stored_vector(self.vault, r) for r in rows])
            found = self.index.search(probes.astype(np.float32), SEARCH_K)
            for row, candidates in zip(rows, found, strict=True):
                own = str(row["identity_id"])
                for other, score in self._matches(tx, own, candidates):
                    opened.extend(self._open_case(tx, own, other, score))
        tx.execute(
            "UPDATE national_templates SET searched_at = now() WHERE id = ANY(%s)",
            ([r["id"] for r in rows],),
        )
        return len(rows), sorted(set(opened))

    def search_pending_fingers(self, tx: Connection) -> tuple[int, list[int]]:
        """The search by fingers' pending batch (see NationalFingers.search_pending)."""
        return (0, []) if self.fingers is None else self.fingers.search_pending(tx)

    def _held(self, tx: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows this index holds or never will (erased people): those it may search now.

        Another replica may commit a template this one has not read from the feed yet; searched
        here it would miss the people of its own batch, so it is left unsearched for a replica
        that holds it (this one, after its next catch-up). Templates of people no longer in the
        gallery (erased) are searched as before: nobody will ever hold them.
        """
        held = self.index.gallery.metadata_of([int(r["id"]) for r in rows])
        missing = [r for r in rows if int(r["id"]) not in held]
        if not missing:
            return rows
        live = {
            str(r["id"])
            for r in tx.execute(
                "SELECT id FROM national_identities WHERE id = ANY(%s::uuid[]) AND status <> 'erased'",
                (sorted({str(r["identity_id"]) for r in missing}),),
            ).fetchall()
        }
        return [r for r in rows if int(r["id"]) in held or str(r["identity_id"]) not in live]

    def _matches(self, tx: Connection, own: str, found: list[Candidate]) -> list[tuple[str, float]]:
        """Other people (merged ones resolved to their survivor) scoring at or above threshold."""
        hits = [c for c in found if c.score >= self.policy.threshold and c.identity_id != own]
        if not hits:
            return []
        roots = survivors_of(tx, [own, *(c.identity_id for c in hits)])
        own_root = roots.get(own, own)
        best: dict[str, float] = {}
        for candidate in hits:
            person = roots.get(candidate.identity_id, candidate.identity_id)
            if person != own_root and candidate.score > best.get(person, -2.0):
                best[person] = candidate.score
        return sorted(best.items(), key=lambda item: -item[1])

    def _open_case(self, tx: Connection, one: str, other: str, score: float) -> list[int]:
        """Open the pair's face case (or raise its score); its id if newly opened."""
        target = self.policy.target_fpir if self.policy.open_set is not None else None
        evidence = CaseEvidence("face", score, self.policy.threshold, self.policy.pack_id,
                                target, self.index.gallery.people())  # fmt: skip
        return open_case(tx, one, other, evidence)


def stored_vector(vault: Any, row: dict[str, Any]) -> np.ndarray:
    """A template row's vector, opened (bound to its person)."""
    aad = aad_for("national_templates", "vector", str(row["identity_id"]))
    plain = vault.open_or_plain(row["vector"], aad) if vault else bytes(row["vector"])
    return np.frombuffer(plain, dtype="<f4").astype(np.float32)


def _entries(
    tx: Connection, vault: Any, where: str, params: tuple[object, ...]
) -> list[GalleryEntry]:
    """Gallery entries of the templates matching a condition, with their person's role/status."""
    rows = tx.execute(
        (
            "SELECT t.id, t.identity_id, i.role, i.status, t.vector FROM national_templates t"
            f" JOIN national_identities i ON i.id = t.identity_id WHERE {where} AND i.status <> 'erased'"
        ).encode(),
        params,
    ).fetchall()
    return [
        GalleryEntry(
            int(r["id"]), str(r["identity_id"]), r["role"], r["status"],
            stored_vector(vault, r),
        )
        for r in rows
    ]  # fmt: skip
