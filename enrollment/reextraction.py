"""Making a site's finger templates again from their master images when the extractor changes.

The lossless image is the master record and the template is what one extractor made of it
(enrollment/fingers.py). Thresholds are calibrated per extractor (models/fingerprint/extractors.py),
so a site moved to another extractor (EDGE_MATCH__FINGER_EXTRACTOR) re-extracts every template
that has its image here. Each template is replaced in its own unit of work: the new record sealed
in its row, an audit event and an outbox change `finger.reextracted`, which the registry applies to
its copy (registry/appliers.apply_finger_reextracted), so the national search and later transfers
use the new record. A stopped run loses nothing and resumes where it stopped: rows already made
by the configured extractor are skipped. A template whose image the new extractor cannot use (too
few minutiae) keeps its old record and is reported. Templates pulled from the registry have no
image here (site_sync/pulled_fingers.py): they are counted, and are renewed when the site that
enrolled them re-extracts and the person is pulled again.

Until a run finishes, the site compares probes of the new extractor with the old templates too,
at the new extractor's thresholds: fewer genuine matches for those people, which is why the run
should follow the setting's change at once (`gerbang doctor` counts what is left).
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from enrollment.audit import now_iso
from enrollment.db import Database
from enrollment.unit_of_work import unit_of_work
from enrollment.vault import Vault, aad_for
from kernel.errors import GerbangError
from models.fingerprint import iso19794, nbis
from models.fingerprint.extractors import FingerExtractor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateCensus:
    """finger_templates by what made them, against the configured extractor."""

    extractor: str  # the configured extractor's label
    current: int  # made by it
    other: int  # made by another extractor and re-extractable (their image is here)
    without_image: int  # made by another extractor, no image here (pulled): cannot be redone

    @property
    def done(self) -> bool:
        """Nothing left that this site could re-extract."""
        return self.other == 0


@dataclass
class ReextractReport:
    """What a run did."""

    extractor: str
    replaced: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # template id → error code


def census(db: Database, extractor: FingerExtractor) -> TemplateCensus:
    """Count the site's live templates by whether the configured extractor made them."""
    with db.reading() as tx:
        return census_of(tx, extractor.label)


def census_of(tx: sqlite3.Connection, label: str) -> TemplateCensus:
    """`census` on an open connection (`gerbang doctor` reads the file without the service)."""
    rows = tx.execute(
        "SELECT t.extractor = ?, f.data IS NOT NULL, COUNT(*) FROM finger_templates t"
        " JOIN finger_images f ON f.id = t.image_id GROUP BY 1, 2",
        (label,),
    ).fetchall()
    counts = {(bool(same), bool(has_image)): n for same, has_image, n in rows}
    current = counts.get((True, True), 0) + counts.get((True, False), 0)
    return TemplateCensus(
        label, current, counts.get((False, True), 0), counts.get((False, False), 0)
    )


def reextract(
    db: Database, vault: Vault, extractor: FingerExtractor, actor: str,
    limit: int | None = None, progress: Callable[[int], None] = lambda _: None,
) -> ReextractReport:  # fmt: skip
    """Replace up to `limit` templates of another extractor (all when None), oldest first."""
    report = ReextractReport(extractor.label)
    for template_id in _pending(db, extractor, limit):
        try:
            if _replace(db, vault, extractor, template_id, actor):
                report.replaced += 1
        except GerbangError as exc:  # the image gives this extractor too little: keep the old
            report.failed[template_id] = exc.code
            log.warning("finger template %s not re-extracted: %s", template_id, exc.code)
        progress(1)
    return report


def _pending(db: Database, extractor: FingerExtractor, limit: int | None) -> list[int]:
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT t.id FROM finger_templates t JOIN finger_images f ON f.id = t.image_id"
            " WHERE t.extractor <> ? AND f.data IS NOT NULL ORDER BY t.id LIMIT ?",
            (extractor.label, -1 if limit is None else limit),
        ).fetchall()
    return [int(r[0]) for r in rows]


def _replace(
    db: Database, vault: Vault, extractor: FingerExtractor, template_id: int, actor: str
) -> bool:
    """One template made again from its image; False when it changed meanwhile (nothing done)."""
    with unit_of_work(db, vault) as uow:
        tx = uow.connection
        row = tx.execute(
            "SELECT t.identity_id, t.position, t.extractor, t.quality, f.impression, f.data,"
            " f.resolution_ppi FROM finger_templates t JOIN finger_images f ON f.id = t.image_id"
            " WHERE t.id = ?",
            (template_id,),
        ).fetchone()
        if row is None or row[2] == extractor.label or row[5] is None:
            return False  # erased, or made by this extractor, since the run listed it
        identity_id, position, old, quality, impression, sealed, ppi = row
        png = vault.open(sealed, aad_for("finger_images", "data", identity_id))
        template = extractor.extract(nbis.read_image(png), int(ppi))
        record = iso19794.encode([(int(position), template)])
        tx.execute(
            "UPDATE finger_templates SET extractor = ?, iso_record = ?, minutiae = ? WHERE id = ?",
            (template.extractor,
             vault.seal(record, aad_for("finger_templates", "iso_record", identity_id)),
             template.count, template_id),
        )  # fmt: skip
        body = {"position": position, "impression": impression, "extractor": template.extractor,
                "iso_record_b64": base64.b64encode(record).decode(), "quality": quality}  # fmt: skip
        details = {"position": position, "impression": impression, "from": old,
                   "extractor": template.extractor, "minutiae": template.count, "at": now_iso()}  # fmt: skip
        uow.record("finger.reextracted", identity_id, body, actor, details)
    return True
