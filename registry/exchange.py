"""The national records in the SPPT-TI exchange: a person out as an ANSI/NIST-ITL transaction, a
received transaction in as a national search held for an adjudicator.

Out: Type-2 from the national record, Type-10 when a photo was delivered (photos travel only on
request), and Type-9 minutiae from the ISO/IEC 19794-2 records the sites sent (the registry holds
no finger images, so no Type-14). Sealed for the receiver as at a site (enrollment/exchange/
sealing.py), written 0600, and audited in the registry's chain with who, whom, which case.

In: the registry enrols nobody (people are enrolled at a site). A received file is checked whole
(a face image or Type-9 minutiae suffice), its faces embedded with the registry's pack and searched
against the national gallery, its minutiae searched against the national finger index
(registry/exchange_search.py); a file with neither a usable face nor a usable print is refused
whole. The import is recorded with its sender and candidates, one per national identity: `score`
(the face's when the face found them, else the finger's; rows from before fingers were searched
hold identity_id and score only), `found_by` and each modality's score and threshold. An
adjudicator answers it: `same` names the national identity it is (one of the candidates), `none`
says nobody here. Nothing biometric from the file is stored: only its sha256, the descriptive text
and the candidates.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from enrollment.exchange.exports import write_private
from enrollment.exchange.sealing import Protection
from enrollment.exchange.transaction import FaceImage, PersonText, Transaction, build, parse
from enrollment.exchange.type9 import MinutiaeView
from enrollment.vault import aad_for
from kernel.errors import Conflict, InputError, Message
from models.engine import FaceEngine
from models.fingerprint import iso19794
from registry.db import Connection
from registry.errors import RegistryNotFound
from registry.journal import audit

NATIONAL_CANDIDATES = 10  # people each modality names
MODALITIES = ("face", "finger")


class NothingToExportNationally(InputError):
    code = "registry_exchange_nothing_to_export"
    status = 409
    message = Message(
        "Registri tidak menyimpan foto maupun sidik jari orang ini; minta foto dari situs pemiliknya dulu.",
        "The registry holds neither a photo nor fingerprints of this person; ask the owning site for a photo first.",
    )


class ExchangeAlreadyReceived(Conflict):
    code = "registry_exchange_already_received"
    message = Message(
        "Transaksi ini (pengirim dan nomor kontrol yang sama) sudah pernah diimpor ke registri.",
        "This transaction (same sender and control number) was already imported into the registry.",
    )


class ExchangeImportDecided(Conflict):
    code = "registry_exchange_import_decided"
    message = Message(
        "Impor ini sudah diputuskan; keputusannya ada di jejak audit.",
        "This import was already decided; the decision is in the audit trail.",
    )


class ExchangeNotCandidate(InputError):
    code = "registry_exchange_not_candidate"
    message = Message(
        "Identitas itu bukan kandidat impor ini; pilih salah satu kandidat atau 'tidak ada'.",
        "That identity is not a candidate of this import; choose one of the candidates or 'none'.",
    )


@dataclass(frozen=True)
class NationalExport:
    """One written transaction."""

    identity_id: str
    path: Path
    sha256: str
    faces: int
    minutiae: int


def _person(identity_id: str, role: str, status: str, record: dict[str, Any],
            case_ref: str | None) -> PersonText:  # fmt: skip
    aliases = record.get("aliases") or []
    return PersonText(
        full_name=str(record.get("full_name") or ""), role=role, birth_date=record.get("birth_date"),
        sex=record.get("sex"), aliases=tuple(str(a) for a in aliases),
        registration_number=record.get("registration_number"), nik=record.get("nik"),
        nip=record.get("nip"), identity_id=identity_id, status=status, case_ref=case_ref,
    )  # fmt: skip


def _record(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str | bytes) else value)


def national_transaction(tx: Connection, identity_id: str, sender: str, receiver: str,
                         case_ref: str | None, vault: Any = None) -> Transaction:  # fmt: skip
    """The transaction of one national identity, from what the registry holds of them."""
    row = tx.execute(
        "SELECT role, status, record FROM national_identities WHERE id = %s", (identity_id,)
    ).fetchone()
    if row is None or row["status"] in ("erased", "merged"):
        raise RegistryNotFound(identity_id=identity_id, status=row["status"] if row else None)
    person = _person(identity_id, row["role"], row["status"], _record(row["record"]), case_ref)
    photo = tx.execute(
        "SELECT content_type, image, received_at FROM national_photos WHERE identity_id = %s",
        (identity_id,),
    ).fetchone()
    faces = []
    if photo is not None:
        taken = photo["received_at"]
        day = taken.isoformat() if isinstance(taken, datetime) else str(taken)
        image = _opened(vault, photo["image"], "national_photos", "image", identity_id)
        faces.append(FaceImage(image, photo["content_type"], day))
    fingers = tx.execute(
        "SELECT position, iso_record FROM national_fingers WHERE identity_id = %s"
        " ORDER BY position, impression, id",
        (identity_id,),
    ).fetchall()
    views = [_view(int(f["position"]), _opened(vault, f["iso_record"], "national_fingers",
                                               "iso_record", identity_id)) for f in fingers]  # fmt: skip
    if not faces and not views:
        raise NothingToExportNationally(identity_id=identity_id)
    return Transaction(sender, receiver, person, faces, [], views)


def _opened(vault: Any, value: Any, table: str, column: str, owner: str) -> bytes:
    """A stored biometric opened by the registry's vault (as it is when not sealed yet)."""
    return vault.open_or_plain(value, aad_for(table, column, owner)) if vault else bytes(value)


def _view(position: int, record: bytes) -> MinutiaeView:
    decoded_position, template = iso19794.decode(record)[0]
    return MinutiaeView(decoded_position or position, template)


def export_person(tx: Connection, identity_id: str, out: Path, officer: str, sender: str,
                  receiver: str, case_ref: str | None, protection: Protection,
                  vault: Any = None) -> NationalExport:  # fmt: skip
    """Write and audit one national record in `tx`; the file appears only after the commit
    (the caller moves OUT.partial into place)."""
    t = national_transaction(tx, identity_id, sender, receiver, case_ref, vault)
    data = protection.wrap(build(t), {"content": "exchange", "sender": sender})
    digest = hashlib.sha256(data).hexdigest()
    audit(tx, officer, "exchange.exported", identity_id, {
        "file": out.name, "sha256": digest, "case_ref": case_ref, "receiver": receiver,
        "faces": len(t.faces), "minutiae": len(t.minutiae), **protection.described,
    })  # fmt: skip
    write_private(out.with_name(out.name + ".partial"), data)
    return NationalExport(identity_id, out, digest, len(t.faces), len(t.minutiae))


def finish(export: NationalExport) -> None:
    """After the commit: no file without its audit event."""
    os.replace(export.path.with_name(export.path.name + ".partial"), export.path)


def probes(engine: FaceEngine, faces: list[FaceImage]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Unit templates of the faces the engine can use (possibly none), and those it refused."""
    rows, refused = [], []
    for number, face in enumerate(faces, start=1):
        try:
            analysis = engine.analyse_bytes(face.data)
        except InputError as exc:  # no face, a poor one, an unreadable image
            refused.append({"face": number, "reason": exc.code})
            continue
        template = np.asarray(analysis.template, dtype=np.float32)
        rows.append(template / np.linalg.norm(template))
    return (np.stack(rows) if rows else np.zeros((0, 0), np.float32)), refused


def received(data: bytes) -> tuple[Transaction, str]:
    """A received file checked whole (MalformedTransaction otherwise; IncompleteTransaction with
    neither a face image nor Type-9 minutiae), and its sha256."""
    return parse(data, fingers_suffice=True), hashlib.sha256(data).hexdigest()


def stored(candidate: dict[str, Any]) -> dict[str, Any]:
    """What exchange_imports.candidates keeps of a candidate: the finding, no names. Rows from
    before fingers were searched hold identity_id and score (a face's) only."""
    kept = {"identity_id": candidate["identity_id"], "score": candidate["score"],
            "found_by": candidate.get("found_by", ["face"])}  # fmt: skip
    return kept | {m: candidate[m] for m in MODALITIES if m in candidate}


def record_import(tx: Connection, t: Transaction, digest: str, officer: str, case_ref: str | None,
                  candidates: list[dict[str, Any]], finger_views: int = 0) -> str:  # fmt: skip
    """Keep the import (no biometrics) and its audit event, with how many received prints were
    searched; its id."""
    if tx.execute("SELECT 1 FROM exchange_imports WHERE sender = %s AND tcn = %s",
                  (t.sender, t.tcn)).fetchone():  # fmt: skip
        raise ExchangeAlreadyReceived(sender=t.sender, tcn=t.tcn)
    import_id = str(uuid.uuid4())
    person = {"full_name": t.person.full_name, "role": t.person.role, "birth_date": t.person.birth_date,
              "nik": t.person.nik, "registration_number": t.person.registration_number}  # fmt: skip
    found = [stored(c) for c in candidates]
    tx.execute(
        "INSERT INTO exchange_imports (id, sender, tcn, case_ref, file_sha256, person, candidates,"
        " imported_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (import_id, t.sender, t.tcn, case_ref, digest, json.dumps(person), json.dumps(found), officer),
    )  # fmt: skip
    audit(tx, officer, "exchange.imported", import_id, {
        "sender": t.sender, "tcn": t.tcn, "case_ref": case_ref, "sha256": digest,
        "faces": len(t.faces), "finger_views": finger_views,
        "finger_views_received": len(t.minutiae), "candidates": found,
    })  # fmt: skip
    return import_id


def decide(tx: Connection, import_id: str, same: str | None, reason: str, officer: str) -> None:
    """An adjudicator's answer to an import: the candidate it is, or nobody held nationally."""
    row = tx.execute(
        "SELECT candidates, decision FROM exchange_imports WHERE id = %s", (import_id,)
    ).fetchone()
    if row is None:
        raise RegistryNotFound(import_id=import_id)
    if row["decision"] is not None:
        raise ExchangeImportDecided(import_id=import_id, decision=row["decision"])
    candidates = [c["identity_id"] for c in json.loads(row["candidates"])]
    if same is not None and same not in candidates:
        raise ExchangeNotCandidate(identity_id=same, candidates=candidates)
    decision = "same" if same else "none"
    tx.execute(
        "UPDATE exchange_imports SET decision = %s, identity_id = %s, reason = %s, decided_by = %s,"
        " decided_at = %s WHERE id = %s",
        (decision, same, reason, officer, datetime.now(UTC), import_id),
    )
    audit(tx, officer, "exchange.decided", import_id,
          {"decision": decision, "identity_id": same, "reason": reason})  # fmt: skip


def pending(tx: Connection) -> list[dict[str, Any]]:
    """Imports waiting for an adjudicator, oldest first."""
    rows = tx.execute(
        "SELECT id, sender, tcn, case_ref, candidates, received_at FROM exchange_imports"
        " WHERE decision IS NULL ORDER BY received_at, id"
    ).fetchall()
    return [dict(r) for r in rows]
