"""The national duplicate search by fingers (issue 12): each finger record a site sends is searched
against every other person's national fingers; a match opens a duplicate case marked `finger`.

The face search misses most East-Asian duplicates with the licence-clean recogniser; fingers do
not share that weakness. As for faces, `national_fingers` is the truth and the MCC index
(models/fingerprint/gallery.py, the one the sites' searches use) a projection of it: rebuilt on
start, following the gallery feed after each commit, and each record searched once after it sits
in the index (`searched_at`), so two people arriving in one batch still find each other. The
search reads the record as the index holds it (byte cylinders): it is opened and decoded once, to
index it.

A record is compared with every finger of every other person (a finger given as another position
at a second enrolment must still be found), never with its own person's. The threshold is read
for the national target FPIR over the templates searched off the finger impostor tail serving now
(registry/national_finger_tail.py: the national fingers' own once enough people hold them, the
shipped one until then; people in an undecided case and merged people are not its impostors,
`not_impostors`), else the calibration's points (FingerPolicy); when no calibrated point is
that strict the strictest is used and the case's audit event says so (`strict_enough`), as it
names the tail (`finger_calibration`). Memory: about 55 KB per record in the index (4-bit cylinders).

A received exchange transaction's prints (`registry exchange import`, registry/exchange_search.py)
are searched the same way against everyone (`search_received`); they open no case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrollment.vault import aad_for
from kernel.errors import GerbangError
from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.fingerprint import iso19794, mcc
from models.fingerprint.extractors import calibration_id
from models.fingerprint.gallery import FingerGallery, Owner, fpir_threshold
from models.fingerprint.mcc_template import MccTemplate
from models.fingerprint.tail import FingerTail, load_tail
from registry.cases import CaseEvidence, open_case, survivors_of, undecided_people
from registry.db import Connection, RegistryDatabase
from registry.national_finger_tail import NationalFingerTail

log = logging.getLogger(__name__)

FINGER_BATCH = 50  # records searched per transaction: each costs a full-MCC shortlist
MATCHER = calibration_id("nbis")  # the default; a policy names the one it was loaded for


@dataclass(frozen=True)
class FingerPolicy:
    """The national target FPIR of the search by fingers and the matcher's calibration."""

    target_fpir: float
    calibration: Calibration
    tail: FingerTail | None = None
    matcher: str = MATCHER  # the calibration id: what the sites' templates were extracted by

    @classmethod
    def load(
        cls, target_fpir: float, path: Path | None = None, extractor: str = "nbis"
    ) -> FingerPolicy:
        """The shipped MCC calibration of the sites' extractor unless a file is given, and the
        shipped fitted tail (models/fingerprint/extractors.py names both)."""
        matcher = calibration_id(extractor)
        calibration = Calibration.load(path or SHIPPED_CALIBRATIONS / f"{matcher}.json")
        tail = load_tail(SHIPPED_CALIBRATIONS / f"{matcher}.openset.json")
        return cls(target_fpir, calibration, tail, matcher)

    def threshold(
        self, templates: int, tail: FingerTail | None = None
    ) -> tuple[float, float, bool]:
        """(threshold, FMR point, strict enough) for a search over `templates`: the site's rule
        (models/fingerprint/gallery.fpir_threshold), off `tail` when given, else the shipped
        fitted tail when there is one."""
        return fpir_threshold(self.calibration, self.target_fpir, templates, tail or self.tail)

    def calibration_of(self, tail: FingerTail | None) -> str:
        """What a threshold was read off: the tail's dataset, else the calibration's points."""
        if tail is not None:
            return tail.dataset
        return f"operating points of {self.matcher} ({self.calibration.dataset})"


@dataclass(frozen=True)
class FingerMatch:
    """A national person a received print matched: their best score and which prints gave it."""

    identity_id: str
    score: float
    threshold: float
    position: int | None  # the national finger matched
    view: int  # the received print's finger position (9.006 FGP; 0 unknown)


@dataclass(frozen=True)
class FingerSetting:
    """What a search of received prints was decided at."""

    threshold: float
    calibrated_fmr_point: float
    strict_enough: bool
    target_fpir: float
    templates_searched: int
    views_searched: int
    calibration: str  # the tail (its dataset) or points the threshold was read off


class NationalFingers:
    """The MCC index of every live person's national finger records, and their search."""

    def __init__(
        self, policy: FingerPolicy, db: RegistryDatabase, vault: Any = None, min_people: int = 200
    ) -> None:
        self.policy, self.db = policy, db
        self.vault = vault  # registry.vault.RegistryVault: records are stored sealed
        self.gallery = FingerGallery()
        self.tails = NationalFingerTail(
            self.gallery, policy.tail, self._not_impostors, self._serving, min_people
        )

    def threshold(self, templates: int) -> tuple[float, float, bool]:
        """(threshold, FMR point, strict enough) of a search over `templates` now."""
        return self.policy.threshold(templates, self.tails.state().tail)

    def health(self) -> dict[str, Any]:
        """What the index holds, the setting a search over all of it decides in now, and the
        tail it is read off."""
        records, state = len(self.gallery), self.tails.state()
        threshold, point, strict = self.policy.threshold(records, state.tail)
        return {"records": records, "people": self.gallery.people(),
                "index_bytes": self.gallery.nbytes, "target_fpir": self.policy.target_fpir,
                "threshold": threshold, "calibrated_fmr_point": point, "strict_enough": strict,
                "calibration": state.report()}  # fmt: skip

    def rebuild(self, tx: Connection) -> int:
        """Reload every live person's finger records; return how many are indexed."""
        rows = tx.execute(
            "SELECT f.id, f.identity_id, f.position, f.iso_record FROM national_fingers f"
            " JOIN national_identities i ON i.id = f.identity_id WHERE i.status <> 'erased'"
            " ORDER BY f.id"
        ).fetchall()
        self.gallery.replace(self._decoded(rows))
        return len(self.gallery)

    def follow(self, tx: Connection, touched: Iterable[str]) -> None:
        """After a commit: drop erased people's records and those replaced (a re-extraction),
        index the touched people's new ones."""
        for identity_id in touched:
            row = tx.execute(
                "SELECT status FROM national_identities WHERE id = %s", (identity_id,)
            ).fetchone()
            if row is None or row["status"] == "erased":
                self.gallery.remove_person(identity_id)
                continue
            rows = tx.execute(
                "SELECT id, identity_id, position, iso_record FROM national_fingers"
                " WHERE identity_id = %s ORDER BY id",
                (identity_id,),
            ).fetchall()
            self.gallery.remove_gone(identity_id, {int(r["id"]) for r in rows})
            self.gallery.add(self._decoded([r for r in rows if int(r["id"]) not in self.gallery]))

    def calibrate(self) -> None:
        """Fit the tail on the records held now, in this thread (the start, outside any
        transaction and the write lock)."""
        self.tails.fit()

    def moved(self) -> None:
        """After a write committed and released the write lock: the tail is fitted again in
        the background once the records held have moved enough."""
        self.tails.changed()

    def search_pending(self, tx: Connection) -> tuple[int, list[int]]:
        """Search up to FINGER_BATCH unsearched records, opening a case per match.

        Returns (records read, ids of newly opened cases); call again while the first is
        FINGER_BATCH. A record the index holds is searched as held (its byte cylinders: no
        vault, no decoding); a live person's record this replica does not hold yet is left for
        later (see NationalGallery._held); a damaged one is marked searched, as nothing can hold it.
        """
        rows = tx.execute(
            "SELECT id, identity_id, position, iso_record FROM national_fingers"
            " WHERE searched_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (FINGER_BATCH,),
        ).fetchall()
        opened: list[int] = []
        done: list[int] = []
        for row in rows:
            probe = self.gallery.template(int(row["id"]))
            if probe is None:
                decoded = self._decoded([row])
                if decoded and _live(tx, row["identity_id"]):
                    continue
                probe = decoded[0][2] if decoded else None
            done.append(int(row["id"]))
            if probe is not None:
                opened.extend(self._search(tx, str(row["identity_id"]), probe))
        tx.execute("UPDATE national_fingers SET searched_at = now() WHERE id = ANY(%s)", (done,))
        return len(rows), sorted(set(opened))

    def search_received(
        self, probes: list[tuple[int, MccTemplate]]
    ) -> tuple[list[FingerMatch], FingerSetting]:
        """Received prints (position, cylinders) against every national finger, nobody left out,
        each at the threshold over the templates searched: each person at or above it, with
        their best print, best first."""
        best: dict[str, FingerMatch] = {}
        templates, tail = len(self.gallery), self.tails.state().tail  # one tail for the search
        for view, probe in probes:
            found, searched = self.gallery.search_among(probe, lambda _: True)
            templates = len(searched)
            threshold = self.policy.threshold(templates, tail)[0]
            for c in found:
                person = str(c.person)
                if c.score >= threshold and c.score > getattr(best.get(person), "score", -1.0):
                    best[person] = FingerMatch(person, c.score, threshold, c.position, view)
        threshold, point, strict = self.policy.threshold(templates, tail)
        setting = FingerSetting(threshold, point, strict, self.policy.target_fpir, templates,
                                len(probes), self.policy.calibration_of(tail))  # fmt: skip
        return sorted(best.values(), key=lambda m: -m.score), setting

    def _search(self, tx: Connection, own: str, probe: MccTemplate) -> list[int]:
        """One record against every other person's fingers; the cases it opened."""
        found, searched = self.gallery.search_among(probe, lambda person: person != own)
        tail = self.tails.state().tail
        threshold, point, strict = self.policy.threshold(len(searched), tail)
        hits = {str(c.person): c for c in found if c.score >= threshold}
        if not hits:
            return []
        roots = survivors_of(tx, [own, *hits])
        opened: list[int] = []
        for person, candidate in hits.items():
            if roots.get(person, person) == roots.get(own, own):
                continue  # merged into the same survivor: already one person
            details = {"position": candidate.position, "calibrated_fmr_point": point,
                       "strict_enough": strict, "people_searched": len(set(searched.values())),
                       "finger_calibration": self.policy.calibration_of(tail)}  # fmt: skip
            evidence = CaseEvidence("finger", candidate.score, threshold, self.policy.matcher,
                                    self.policy.target_fpir, len(searched), details)  # fmt: skip
            opened.extend(open_case(tx, own, person, evidence))
        return opened

    def _not_impostors(self) -> set[str]:
        """Who a fit leaves out of the impostor set, as the database says now."""
        with self.db.transaction() as tx:
            return not_impostors(tx)

    def _serving(self, templates: int) -> float:
        """The threshold a search over `templates` records decides at now."""
        return self.threshold(templates)[0]

    def _decoded(self, rows: list[dict[str, Any]]) -> list[tuple[int, Owner, MccTemplate]]:
        """(id, owner, cylinders) of the records that open and decode; damaged ones are logged."""
        out = []
        for row in rows:
            identity_id = str(row["identity_id"])
            try:
                aad = aad_for("national_fingers", "iso_record", identity_id)
                stored = row["iso_record"]
                record = self.vault.open_or_plain(stored, aad) if self.vault else bytes(stored)
                template = iso19794.decode(record)[0][1]
            except (ValueError, IndexError, GerbangError) as exc:
                log.error("national finger record %s not searchable: %s", row["id"], exc)
                continue
            owner = (identity_id, int(row["position"]))
            out.append((int(row["id"]), owner, mcc.with_cylinders(template).cylinders))
        return out


def not_impostors(tx: Connection) -> set[str]:
    """People whose records are nobody's impostors in a fit: merged into another (they are the
    survivor's person) and both people of every undecided duplicate case (perhaps one person)."""
    rows = tx.execute("SELECT id FROM national_identities WHERE status = 'merged'").fetchall()
    return {str(r["id"]) for r in rows} | undecided_people(tx)


def _live(tx: Connection, identity_id: Any) -> bool:
    """Whether the person is held by the registry (not erased)."""
    row = tx.execute(
        "SELECT 1 FROM national_identities WHERE id = %s AND status <> 'erased'", (identity_id,)
    ).fetchone()
    return row is not None
