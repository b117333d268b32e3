"""Fingerprint use cases: enrol impressions with quality feedback, verify 1:1 against a claimed
identity at a calibrated threshold, and search 1:N: a shortlist, or a decision at a target FPIR.

1:N runs on a FingerIndex (models/fingerprint/index.py), a projection of finger_templates like
the face gallery: rebuilt on start (Site.start), brought in line with the table before each search
when the table's change counter moved (templates enrolled, synced in or erased since are added or
dropped; triggers keep the counter), so no writer has to tell it and an unchanged table costs one
row read.

The master record is the lossless image; the template is an ISO/IEC 19794-2 record, so it can be
exported to other systems and re-extracted when a better extractor comes. Several impressions of
a finger are compared best-of-N, which raises the false-match rate about N-fold, so the
threshold is taken at the target FMR divided by the number of comparisons made.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from enrollment.audit import now_iso
from enrollment.db import Database
from enrollment.keyring import SealBroken
from enrollment.unit_of_work import unit_of_work
from enrollment.vault import Vault, aad_for
from kernel.errors import InputError, Message
from models.calibration import Calibration
from models.fingerprint import iso19794, mcc
from models.fingerprint.extractors import NBIS, FingerExtractor, judged
from models.fingerprint.gallery import calibrated_threshold, fpir_threshold, search_people
from models.fingerprint.identify import Candidate, person_scores
from models.fingerprint.index import FingerIndex
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fingerprint.quality import FingerQuality, FingerQualityRules
from models.fingerprint.tail import FingerTail

Matcher = Callable[[MinutiaeTemplate, MinutiaeTemplate], float]
Screen = Callable[[MinutiaeTemplate], dict[str, Any]]  # a kept impression -> audit details
MIN_FINGERS, MIN_IMPRESSIONS = 2, 3
log = logging.getLogger(__name__)


class FingerNotEnrolled(InputError):
    code = "finger_not_enrolled"
    status = 409
    message = Message(
        "Sidik jari orang ini belum terdaftar.",
        "This person's fingerprints are not enrolled.",
    )


@dataclass(frozen=True)
class FingerFeedback:
    """What the desk shows after each impression."""

    accepted: bool
    position: int
    quality: FingerQuality
    impressions: int  # accepted impressions of this finger so far
    complete: bool  # the identity has enough fingers and impressions


@dataclass(frozen=True)
class FingerDecision:
    """A 1:1 fingerprint answer and its evidence."""

    match: bool
    score: float
    threshold: float
    target_fmr: float
    comparisons: int
    position: int | None
    matcher: str


@dataclass(frozen=True)
class FingerIdentification:
    """A 1:N fingerprint answer: people above the threshold for the target FPIR, best first."""

    candidates: list[Candidate]  # everyone shortlisted, with their fused (max) score
    matches: list[Candidate]  # those at or above the threshold: the decision
    threshold: float
    target_fpir: float
    calibrated_fmr_point: float  # per-comparison FMR of the calibrated threshold used
    templates_searched: int
    position: int | None
    # the calibration reaches the per-comparison FMR the target needs: counted, or in the fitted
    # tail when there is one (FingerService.fpir_threshold)
    strict_enough: bool


def png_bytes(image: npt.NDArray[np.uint8]) -> bytes:
    """Lossless master copy of a grey impression."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class FingerService:
    """Fingerprint enrolment, verification and shortlisting over the site database."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        calibration: Callable[[], Calibration],
        matcher: Matcher = mcc.compare_minutiae,
        matcher_name: str = "mcc-lss-r",
        rules: FingerQualityRules | None = None,
        tail: Callable[[], FingerTail | None] = lambda: None,
        extractor: FingerExtractor = NBIS,
    ) -> None:
        self.db, self.vault, self._calibration = db, vault, calibration
        self.extractor = extractor  # makes every template and probe; names the calibrations
        self._tail = tail  # the extractor's fitted impostor tail (finger-*.openset.json)
        self.matcher, self.matcher_name = matcher, matcher_name
        self.rules = rules or FingerQualityRules()
        # Decoded templates with their MCC cylinders, by template id: building cylinders costs
        # 6-13 ms each, so a shortlist over every stored impression must not rebuild them.
        # by (template id, image id, extractor): a re-extracted template keeps its id and image,
        # and a deleted newest row's id comes back with another image
        self._cache: dict[tuple[int, int, str], MinutiaeTemplate] = {}
        self.index = FingerIndex()
        self._owners: dict[int, tuple[str, int]] = {}  # template id -> (identity, position)
        # indexed: id -> (image, identity, position, extractor); the extractor changes in place
        # when a template is re-extracted (enrollment/reextraction.py)
        self._rows: dict[int, tuple[int, str, int, str]] = {}
        self._generation = -1  # finger_changes.generation the index reflects; -1: not read yet
        self._index_lock = threading.Lock()

    def enrol(
        self,
        identity_id: str,
        position: int,
        image: npt.NDArray[np.uint8],
        ppi: int,
        actor: str,
        screen: Screen | None = None,
    ) -> FingerFeedback:
        """Check one impression; keep it (image + ISO template) only if it is good enough.

        `screen` sees a kept impression's template before it is stored; what it returns joins the
        audit event of the enrolment (the desk's duplicate check, enrollment/finger_duplicates.py).
        """
        if not 1 <= position <= 10:
            raise InputError(
                Message(
                    "Posisi jari harus 1-10 (kode ISO).", "Finger position must be 1-10 (ISO code)."
                ),
                {"position": position},
            )
        quality, template = judged(self.extractor, image, ppi, self.rules)
        if template is not None:
            noted = screen(template) if screen else {}
            self._store(identity_id, position, image, template, quality, actor, noted)
        count = self._impressions(identity_id).get(position, 0)
        return FingerFeedback(
            quality.accepted, position, quality, count, self.is_complete(identity_id)
        )

    def _store(self, identity_id: str, position: int, image: npt.NDArray[np.uint8], template: MinutiaeTemplate,
               quality: FingerQuality, actor: str, noted: dict[str, Any]) -> None:  # fmt: skip
        png, record = png_bytes(image), iso19794.encode([(position, template)])
        with unit_of_work(self.db, self.vault) as uow:
            tx = uow.connection
            uow.identities.get(identity_id)
            impression = (
                1
                + tx.execute(
                    "SELECT COUNT(*) FROM finger_images WHERE identity_id = ? AND position = ?",
                    (identity_id, position),
                ).fetchone()[0]
            )
            image_id = tx.execute(
                "INSERT INTO finger_images (identity_id, position, impression, sha256, data, width, height,"
                " resolution_ppi, captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (identity_id, position, impression, hashlib.sha256(png).hexdigest(),
                 self.vault.seal(png, aad_for("finger_images", "data", identity_id)),
                 image.shape[1], image.shape[0], template.resolution_ppi, now_iso()),
            ).lastrowid  # fmt: skip
            tx.execute(
                "INSERT INTO finger_templates (image_id, identity_id, position, extractor, iso_record, minutiae,"
                " quality, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (image_id, identity_id, position, template.extractor,
                 self.vault.seal(record, aad_for("finger_templates", "iso_record", identity_id)), template.count,
                 quality.score, now_iso()),
            )  # fmt: skip
            body = {"position": position, "impression": impression, "extractor": template.extractor,
                    "iso_record_b64": base64.b64encode(record).decode(), "quality": quality.score}  # fmt: skip
            details = {**{k: v for k, v in body.items() if k != "iso_record_b64"}, **noted}
            uow.record("finger.enrolled", identity_id, body, actor, details)

    def _impressions(self, identity_id: str) -> dict[int, int]:
        with self.db.reading() as tx:
            rows = tx.execute(
                "SELECT position, COUNT(*) FROM finger_templates WHERE identity_id = ? GROUP BY position",
                (identity_id,),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def status(self, identity_id: str) -> dict[str, Any]:
        """Impressions per finger, and whether enrolment is complete."""
        counts = self._impressions(identity_id)
        return {"fingers": {str(p): n for p, n in sorted(counts.items())}, "complete": self._complete(counts),
                "required": {"fingers": MIN_FINGERS, "impressions_each": MIN_IMPRESSIONS}}  # fmt: skip

    def is_complete(self, identity_id: str) -> bool:
        """At least two fingers with several good impressions each."""
        return self._complete(self._impressions(identity_id))

    @staticmethod
    def _complete(counts: dict[int, int]) -> bool:
        return sum(1 for n in counts.values() if n >= MIN_IMPRESSIONS) >= MIN_FINGERS

    def templates(
        self, identity_id: str, position: int | None = None
    ) -> list[tuple[int, MinutiaeTemplate]]:
        """(position, template) of an identity's stored impressions."""
        sql = (
            "SELECT id, image_id, position, iso_record, extractor FROM finger_templates"
            " WHERE identity_id = ?"
        )
        args: list[str | int] = [identity_id]
        if position is not None:
            sql, args = sql + " AND position = ?", [*args, position]
        with self.db.reading() as tx:
            rows = tx.execute(sql + " ORDER BY id", args).fetchall()
        return [(p, self._template((tid, img, ext), identity_id, blob))
                for tid, img, p, blob, ext in rows]  # fmt: skip

    def _template(
        self, key: tuple[int, int, str], identity_id: str, sealed: bytes
    ) -> MinutiaeTemplate:
        """A stored template, decoded once and carrying its MCC cylinders; keyed by id, image and
        extractor, so a reused id (a deleted newest row) never finds another person's."""
        if key not in self._cache:
            record = self.vault.open(sealed, aad_for("finger_templates", "iso_record", identity_id))
            decoded = iso19794.decode(record)[0][1]
            self._cache[key] = mcc.with_cylinders(decoded)
        return self._cache[key]

    def verify(self, identity_id: str, image: npt.NDArray[np.uint8], ppi: int, target_fmr: float,
               position: int | None = None) -> FingerDecision:  # fmt: skip
        """Best-of-N against the claimed identity's impressions (of one finger, or all)."""
        stored = self.templates(identity_id, position)
        if not stored:
            raise FingerNotEnrolled(identity_id=identity_id, position=position)
        probe = self.probe(image, ppi)
        score = max(self.matcher(probe, template) for _, template in stored)
        threshold, point = self.threshold(target_fmr, len(stored))
        return FingerDecision(
            score >= threshold, score, threshold, point, len(stored), position, self.matcher_name
        )

    def probe(self, image: npt.NDArray[np.uint8], ppi: int) -> mcc.MinutiaeWithCylinders:
        """A presented impression as an MCC probe, by the site's extractor."""
        return mcc.with_cylinders(self.extractor.extract(image, ppi))

    def threshold(self, target_fmr: float, comparisons: int) -> tuple[float, float]:
        """(threshold, per-comparison FMR it is for) so that FMR times the comparisons made meets
        the target (models/fingerprint/gallery.calibrated_threshold)."""
        return calibrated_threshold(self._calibration(), target_fmr, comparisons, self._tail())

    @property
    def generation(self) -> int:
        """finger_changes.generation as the index last read it (-1: not read yet): it counts
        every write to finger_templates."""
        return self._generation

    def stored_generation(self) -> int:
        """finger_changes.generation as the database has it now (one row read)."""
        return int(self.db.query("SELECT generation FROM finger_changes")[0][0])

    def held(self) -> list[tuple[int, str, int, str, Packed]]:
        """Every indexed template as the index holds it (packed cylinders): (id, person,
        position, extractor label, packed), one snapshot. Nothing is opened or decoded."""
        with self._index_lock:
            rows = [(tid, row, self.index.held(tid)) for tid, row in self._rows.items()]
        return [(tid, person, position, extractor, packed)
                for tid, (_, person, position, extractor), packed in rows
                if packed is not None]  # fmt: skip

    def refresh_index(self) -> int:
        """Bring the 1:N index in line with finger_templates; return the templates indexed.

        One row read when nothing changed: finger_changes.generation, which triggers bump on
        every write to finger_templates (migration 026). When it moved, the rows are diffed by
        (id, image id, extractor): a deleted newest row's id comes back on the next insert, with a
        new image, and a re-extracted template keeps its id and image.
        """
        with self._index_lock:
            with self.db.reading() as tx:  # one snapshot: the generation and the rows agree
                generation = tx.execute("SELECT generation FROM finger_changes").fetchone()[0]
                if generation == self._generation:
                    return len(self.index)
                rows = tx.execute(
                    "SELECT id, image_id, identity_id, position, extractor FROM finger_templates"
                ).fetchall()
            current = {
                int(tid): (int(img), str(iid), int(pos), str(ext))
                for tid, img, iid, pos, ext in rows
            }
            gone = [tid for tid, row in self._rows.items() if current.get(tid) != row]
            self.index.remove_many(gone)
            for tid in gone:
                self._cache.pop((tid, self._rows[tid][0], self._rows[tid][3]), None)
                del self._rows[tid], self._owners[tid]
            self._index_new([tid for tid in current if tid not in self._rows], current)
            self._generation = generation
            return len(self.index)

    def _index_new(self, new: list[int], current: dict[int, tuple[int, str, int, str]]) -> None:
        """Decode and index templates not yet indexed, 500 rows a read; damaged ones are logged."""
        for start in range(0, len(new), 500):
            chunk = new[start : start + 500]
            with self.db.reading() as tx:
                blobs = tx.execute(
                    "SELECT id, iso_record FROM finger_templates WHERE id IN"
                    f" ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            built = []
            for tid, blob in blobs:
                try:
                    aad = aad_for("finger_templates", "iso_record", current[tid][1])
                    decoded = iso19794.decode(self.vault.open(blob, aad))[0][1]
                except (ValueError, InputError, SealBroken) as exc:  # damaged: skip, say so
                    log.error("finger template %s not indexed: %s", tid, exc)
                    continue
                built.append((tid, mcc.with_cylinders(decoded).cylinders))
            self.index.add_many(built)
            for tid, _ in built:
                self._rows[tid] = current[tid]
                self._owners[tid] = current[tid][1:3]

    def _search(
        self, image: npt.NDArray[np.uint8], ppi: int, position: int | None, shortlist: int | None
    ) -> tuple[list[Candidate], int]:
        """Index search fused per person, and how many templates were searched."""
        return self.search_probe(self.probe(image, ppi), position, shortlist)

    def search_probe(
        self, probe: mcc.MinutiaeWithCylinders, position: int | None, shortlist: int | None = None
    ) -> tuple[list[Candidate], int]:
        """_search for a probe already extracted (with cylinders): a fused search extracts once."""
        self.refresh_index()
        with self._index_lock:
            hits = self.index.search(probe.cylinders, shortlist)
            owners = dict(self._owners)
        searched = sum(1 for _, p in owners.values() if position is None or p == position)
        scored = [(h.key, h.score) for h in hits]
        return person_scores(scored, owners, position), searched

    def shortlist(
        self, image: npt.NDArray[np.uint8], ppi: int, limit: int = 5
    ) -> list[tuple[str, float]]:
        """The identities whose fingers score highest (full MCC on the index's shortlist)."""
        found, _ = self._search(image, ppi, None, None)
        return [(str(c.person), c.score) for c in found[:limit]]

    def identify(
        self,
        image: npt.NDArray[np.uint8],
        ppi: int,
        target_fpir: float,
        position: int | None = None,
    ) -> FingerIdentification:
        """1:N that decides: people whose best finger reaches the threshold for the target FPIR.

        A search that compares the probe with T templates (max-fused into people) false-matches
        with probability at most about T x FMR, so the threshold is the one for the
        per-comparison FMR fmr_for_fpir(target, T) (see fpir_threshold).
        """
        candidates, searched = self._search(image, ppi, position, None)
        threshold, point, strict_enough = self.fpir_threshold(target_fpir, searched)
        matches = [c for c in candidates if c.score >= threshold]
        return FingerIdentification(
            candidates, matches, threshold, target_fpir, point, searched, position, strict_enough
        )

    def fpir_threshold(self, target_fpir: float, templates: int) -> tuple[float, float, bool]:
        """(threshold, FMR point, strict enough) for a 1:N over `templates` impressions
        (models/fingerprint/gallery.fpir_threshold: the fitted tail, else the operating points)."""
        return fpir_threshold(self._calibration(), target_fpir, templates, self._tail())

    def search_among(
        self, probe: mcc.MinutiaeWithCylinders, among: Callable[[str], bool]
    ) -> tuple[list[Candidate], dict[int, tuple[str, int]]]:
        """1:N over the people `among` accepts, every finger: the people best first, and the
        templates searched (id -> (identity, position)), from one snapshot of the index."""
        self.refresh_index()
        with self._index_lock:
            return search_people(self.index, self._owners, probe.cylinders, among)

    def iso_export(self, identity_id: str) -> bytes:
        """All of an identity's impressions as one ISO/IEC 19794-2:2005 record."""
        stored = self.templates(identity_id)
        if not stored:
            raise FingerNotEnrolled(identity_id=identity_id, position=None)
        # The format holds one image size and resolution per record: impressions from another
        # reader (a different size) would need a record of their own.
        first = stored[0][1]
        same_reader = [
            (p, t)
            for p, t in stored
            if (t.width, t.height, t.resolution_ppi)
            == (first.width, first.height, first.resolution_ppi)
        ]
        return iso19794.encode(same_reader)
