"""Export a person, or every admission and release since a date, as ANSI/NIST-ITL transactions.

An export is an officer's explicit act: the file is written inside the transaction that appends
its audit event (who, whom, which case, which file and its sha256, how it was sealed), so there is
no export without its record and no record of an export that failed to write. Files are sealed for
their receiver (`sealing.py`) and created readable by their owner only.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from enrollment.db import Database
from enrollment.exchange import iso19794_4, iso19794_5
from enrollment.exchange.sealing import PLAIN, Protection
from enrollment.exchange.transaction import FaceImage, FingerImage, PersonText, Transaction, build
from enrollment.exchange.type9 import MinutiaeView
from enrollment.records import Identity
from enrollment.repository import StoredFingerImage
from enrollment.unit_of_work import reading, unit_of_work
from enrollment.vault import Vault, aad_for
from kernel.errors import InputError, Message
from models.fingerprint import iso19794


class NothingToExport(InputError):
    code = "exchange_nothing_to_export"
    status = 409
    message = Message(
        "Orang ini tidak punya foto wajah tersimpan (dihapus atau belum direkam); tidak ada yang bisa diekspor.",
        "This person has no stored face image (erased or never captured); there is nothing to export.",
    )


@dataclass(frozen=True)
class ExportResult:
    """One written transaction."""

    identity_id: str
    path: Path
    sha256: str
    faces: int
    fingers: int
    paths: list[Path]


def _person(identity: Identity, case_ref: str | None) -> PersonText:
    return PersonText(
        full_name=identity.full_name, role=identity.role, birth_date=identity.birth_date,
        sex=identity.sex, aliases=tuple(identity.aliases), registration_number=identity.registration_number,
        nik=identity.nik, nip=identity.nip, identity_id=identity.id, status=identity.status,
        case_ref=case_ref,
    )  # fmt: skip


def _finger(stored: StoredFingerImage, compression: str) -> FingerImage:
    data = stored.png
    if compression == "NONE":
        with Image.open(io.BytesIO(stored.png)) as image:
            data = image.convert("L").tobytes()
    quality = None if stored.quality is None else round(stored.quality)
    return FingerImage(stored.position, data, stored.width, stored.height, stored.ppi,
                       stored.captured_at, quality, compression)  # fmt: skip


class ExchangeExporter:
    """Writes transactions from one site's database, through its vault."""

    def __init__(self, db: Database, vault: Vault, site_id: str, receiver: str = "SPPT-TI") -> None:
        self.db, self.vault, self.site_id, self.receiver = db, vault, site_id, receiver

    def person(self, identity_id: str, out: Path, actor: str, case_ref: str | None = None,
               finger_compression: str = "PNG", form: str = "ansi-nist",
               protection: Protection = PLAIN, minutiae: bool = False) -> ExportResult:  # fmt: skip
        """Write one person's transaction to `out` (or, `form="iso"`, the ISO/IEC 19794-5 and
        19794-4 records to OUT.face.iso and OUT.finger.iso), sealed as `protection` says, with
        Type-9 minutiae beside the finger images when `minutiae`, and audit it, as one step."""
        with unit_of_work(self.db, self.vault) as uow:
            repo = uow.identities
            identity = repo.get(identity_id)
            faces = [
                FaceImage(data, media, captured)
                for image_id, media, captured in repo.image_ids(identity_id)
                if (data := repo.image_bytes(image_id)) is not None
            ]
            if not faces:
                raise NothingToExport(identity_id=identity_id)
            stored = repo.finger_images(identity_id)
            fingers = [_finger(f, finger_compression) for f in stored]
            views = _minutiae(uow.connection, self.vault, identity_id, stored) if minutiae else []
            if form == "iso":
                plain = _iso_files(out, identity, faces, fingers, finger_compression)
            else:
                person = _person(identity, case_ref)
                t = Transaction(self.site_id, self.receiver, person, faces, fingers, views)
                plain = {out: build(t)}
            files = {path: protection.wrap(data, {"content": "exchange", "sender": self.site_id})
                     for path, data in plain.items()}  # fmt: skip
            digests = {path.name: hashlib.sha256(data).hexdigest() for path, data in files.items()}
            uow.audit(actor, "exchange.exported", identity_id, {
                "files": digests, "format": form, "case_ref": case_ref, "receiver": self.receiver,
                "faces": len(faces), "fingers": len(fingers), "finger_compression": finger_compression,
                "minutiae": len(views), **protection.described,
            })  # fmt: skip
            for path, data in files.items():  # a failed write rolls the audit event back
                write_private(path.with_name(path.name + ".partial"), data)
        for path in files:  # after the commit: no file without its audit event
            os.replace(path.with_name(path.name + ".partial"), path)
        first = next(iter(files))
        return ExportResult(identity_id, first, digests[first.name], len(faces), len(fingers),
                            list(files))  # fmt: skip

    def since(self, day: str, out_dir: Path, actor: str, case_ref: str | None = None,
              finger_compression: str = "PNG", form: str = "ansi-nist",
              protection: Protection = PLAIN, minutiae: bool = False) -> list[ExportResult]:  # fmt: skip
        """One file per inmate admitted or released on or after `day` (ISO date)."""
        with reading(self.db) as uow:
            ids = [r[0] for r in uow.connection.execute(
                "SELECT id FROM identities WHERE role = 'inmate' AND (created_at >= ?"
                " OR (status = 'released' AND updated_at >= ?)) ORDER BY created_at, id",
                (day, day),
            )]  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        results = []
        for identity_id in ids:
            try:
                name = f"{identity_id}.an2" if form == "ansi-nist" else identity_id
                results.append(self.person(identity_id, out_dir / name, actor, case_ref,
                                           finger_compression, form, protection, minutiae))  # fmt: skip
            except NothingToExport:
                continue  # an erased record has nothing to send; the officer sees the count
        return results


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, from its first byte."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _minutiae(connection: sqlite3.Connection, vault: Vault, identity_id: str,
              stored: list[StoredFingerImage]) -> list[MinutiaeView]:  # fmt: skip
    """One Type-9 view per exported impression: the newest template extracted from its image."""
    views = []
    for image in stored:
        row = connection.execute(
            "SELECT t.iso_record FROM finger_templates t JOIN finger_images f ON f.id = t.image_id"
            " WHERE f.identity_id = ? AND f.position = ? AND f.impression = ?"
            " ORDER BY t.id DESC LIMIT 1",
            (identity_id, image.position, image.impression),
        ).fetchone()
        if row is None:
            raise NothingToExport(identity_id=identity_id, reason="an impression has no minutiae")
        record = vault.open(row[0], aad_for("finger_templates", "iso_record", identity_id))
        position, template = iso19794.decode(record)[0]
        views.append(MinutiaeView(position or image.position, template))
    return views


def _iso_files(out: Path, identity: Identity, faces: list[FaceImage], fingers: list[FingerImage],
               compression: str) -> dict[Path, bytes]:  # fmt: skip
    """The 19794-5 record of the JPEG faces and the 19794-4 record of one reader's impressions."""
    files = {}
    jpegs = [f.data for f in faces if f.media_type == "image/jpeg"]
    if jpegs:
        files[out.with_name(out.name + ".face.iso")] = iso19794_5.encode(jpegs, identity.sex)
    if fingers:
        ppi = fingers[0].ppi  # one record holds one resolution: the first reader's impressions
        views, seen = [], dict[int, int]()
        for f in (f for f in fingers if f.ppi == ppi):
            seen[f.position] = seen.get(f.position, 0) + 1
            views.append(iso19794_4.FingerView(f.position, seen[f.position], f.data, f.width,
                                               f.height, f.quality))  # fmt: skip
        files[out.with_name(out.name + ".finger.iso")] = iso19794_4.encode(views, ppi, compression)
    if not files:
        raise NothingToExport(
            identity_id=identity.id, reason="no JPEG face image for ISO/IEC 19794-5"
        )
    return files
