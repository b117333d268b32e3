"""Reads the site's pages and API answer with: each one consistent snapshot, no side effects.

Use cases change things (enrollment/service.py and friends); these only look. Routes call them so
that no route opens a transaction or writes SQL of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from enrollment.db import Database
from enrollment.records import Identity
from enrollment.unit_of_work import reading
from enrollment.vault import Vault
from kernel.access import Principal
from kernel.errors import Message, NotFound


class PhotoNotFound(NotFound):
    code = "photo_not_found"
    message = Message(
        "Identitas ini tidak punya foto (belum ada atau sudah dihapus).",
        "This identity has no photo (none yet, or erased).",
    )


@dataclass(frozen=True)
class Photo:
    """The photo of record's bytes and media type."""

    data: bytes
    media_type: str


def identity(db: Database, vault: Vault, identity_id: str) -> Identity:
    """One identity, or IdentityNotFound."""
    with reading(db, vault) as uow:
        return uow.identities.get(identity_id)


def search_identities(
    db: Database, vault: Vault, filters: dict[str, Any], limit: int
) -> list[Identity]:
    """Identities by exact fields and a part of the name or an alias."""
    with reading(db, vault) as uow:
        return uow.identities.search(filters, limit)


def photo_of(db: Database, vault: Vault, identity_id: str) -> Photo:
    """The identity's photo of record, or PhotoNotFound (none yet, or erased)."""
    with reading(db, vault) as uow:
        found = uow.identities.get(identity_id)
        image_id = found.photo_image_id
        data = uow.identities.image_bytes(image_id) if image_id else None
        row = uow.connection.execute(
            "SELECT media_type FROM images WHERE id = ?", (image_id,)
        ).fetchone()
    if data is None:
        raise PhotoNotFound(identity_id=identity_id)
    return Photo(data, row[0] if row else "image/jpeg")


def full_names(db: Database, identity_ids: list[str]) -> dict[str, str]:
    """Full names for candidate ids (one query)."""
    if not identity_ids:
        return {}
    marks = ",".join("?" * len(identity_ids))
    with db.reading() as tx:
        rows = tx.execute(
            f"SELECT id, full_name FROM identities WHERE id IN ({marks})", identity_ids
        )
        return {r[0]: r[1] for r in rows}


def session_role(db: Database, session_id: str) -> str | None:
    """The role a capture session enrols, or None for an unknown session."""
    with db.reading() as tx:
        row = tx.execute("SELECT role FROM capture_sessions WHERE id = ?", (session_id,)).fetchone()
    return row[0] if row else None


def templates_in_gallery(db: Database, pack_id: str) -> int:
    """How many templates of `pack_id` the live gallery should hold (erased people have none)."""
    with db.reading() as tx:
        return int(
            tx.execute(
                "SELECT COUNT(*) FROM templates t JOIN identities i ON i.id = t.identity_id"
                " WHERE t.pack_id = ? AND i.status != 'erased'",
                (pack_id,),
            ).fetchone()[0]
        )


def active_inmates(db: Database, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Active Warga Binaan whose registration number starts with, or name contains, `text`.

    For the desk's visited-inmate picker: the officer types what the visitor says, never an id.
    """
    part = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if not part:
        return []
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT id, full_name, registration_number, details FROM identities"
            " WHERE role = 'inmate' AND status = 'active' AND (registration_number LIKE ? ESCAPE '\\'"
            " OR full_name LIKE ? ESCAPE '\\' OR aliases LIKE ? ESCAPE '\\')"
            " ORDER BY registration_number LIKE ? ESCAPE '\\' DESC, full_name LIMIT ?",
            (f"{part}%", f"%{part}%", f"%{part}%", f"{part}%", limit),
        ).fetchall()
    return [
        {"identity_id": r[0], "full_name": r[1], "registration_number": r[2],
         "cell_block": json.loads(r[3] or "{}").get("cell_block")}
        for r in rows
    ]  # fmt: skip


def operator_for_token(db: Database, vault: Vault, token: str) -> Principal:
    """The signed-in operator behind a session token (Unauthenticated when there is none)."""
    with reading(db, vault) as uow:
        principal, _ = uow.accounts.operator_session(token)
    return principal
