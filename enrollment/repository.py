"""SQL for identities, images and templates, on a connection inside the caller's transaction.

The repository never commits: the use case opens one transaction, and the identity, its images,
templates, outbox row and audit event land together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from enrollment.audit import now_iso
from enrollment.packs import require_active
from enrollment.records import Identity, IdentityDraft
from enrollment.vault import Vault, aad_for
from kernel.errors import Message, NotFound


class IdentityNotFound(NotFound):
    code = "identity_not_found"
    message = Message(
        "Identitas tidak ditemukan.",
        "No such identity.",
    )


@dataclass(frozen=True)
class StoredTemplate:
    """A template row as the gallery needs it."""

    template_id: int
    identity_id: str
    role: str
    status: str
    vector: np.ndarray


@dataclass(frozen=True)
class StoredFingerImage:
    """A fingerprint impression's lossless master (PNG) and what was measured of it."""

    position: int
    impression: int
    png: bytes
    width: int
    height: int
    ppi: int
    captured_at: str
    quality: float | None


def vector_to_blob(vector: np.ndarray) -> bytes:
    """float32 little-endian bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    """The inverse of vector_to_blob."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _identity(row: sqlite3.Row) -> Identity:
    return Identity(
        id=row["id"],
        role=row["role"],
        status=row["status"],
        full_name=row["full_name"],
        birth_date=row["birth_date"],
        sex=row["sex"],
        aliases=json.loads(row["aliases"]),
        nik=row["nik"],
        nip=row["nip"],
        registration_number=row["registration_number"],
        details=json.loads(row["details"]),
        origin_site=row["origin_site"],
        merged_into=row["merged_into"],
        photo_image_id=row["photo_image_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


class IdentityRepository:
    """Identities, images and templates of one site database."""

    def __init__(self, connection: sqlite3.Connection, vault: Vault) -> None:
        self.db = connection
        self.vault = vault

    def insert(self, draft: IdentityDraft, site: str) -> str:
        """Store a new identity (with visits and consent); return its UUID."""
        identity_id, now = str(uuid.uuid4()), now_iso()
        self.db.execute(
            "INSERT INTO identities (id, role, full_name, aliases, birth_date, sex, nik, nip,"
            " registration_number, details, origin_site, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                identity_id, draft.role, draft.full_name.strip(), json.dumps(list(draft.aliases)),
                draft.birth_date.isoformat() if draft.birth_date else None, draft.sex,
                draft.nik, draft.nip, draft.registration_number,
                json.dumps(draft.details, sort_keys=True, default=str), site, now, now,
            ),
        )  # fmt: skip
        for link in draft.visits:
            self.db.execute(
                "INSERT INTO visitor_links VALUES (?, ?, ?)",
                (identity_id, link.inmate_id, link.relationship),
            )
        if draft.consent:
            c = draft.consent
            self.db.execute(
                "INSERT INTO consents (identity_id, purpose, recorded_by, given_at) VALUES (?, ?, ?, ?)",
                (identity_id, c.purpose, c.recorded_by, c.given_at),
            )
        return identity_id

    def get(self, identity_id: str) -> Identity:
        """One identity, or IdentityNotFound."""
        row = self.db.execute("SELECT * FROM identities WHERE id = ?", (identity_id,)).fetchone()
        if row is None:
            raise IdentityNotFound(identity_id=identity_id)
        return _identity(row)

    def search(self, filters: dict[str, Any], limit: int = 50) -> list[Identity]:
        """Identities matching exact fields (role, status, nik, nip, registration_number) and a name part."""
        clauses, values = [], []
        for column in ("role", "status", "nik", "nip", "registration_number"):
            if filters.get(column):
                clauses.append(f"{column} = ?")
                values.append(filters[column])
        if filters.get("name"):
            clauses.append("(full_name LIKE ? ESCAPE '\\' OR aliases LIKE ? ESCAPE '\\')")
            part = filters["name"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            values += [f"%{part}%"] * 2  # `%` and `_` typed by an officer are plain characters
        where = " AND ".join(clauses) or "1 = 1"
        rows = self.db.execute(
            f"SELECT * FROM identities WHERE {where} ORDER BY full_name LIMIT ?",
            (*values, limit),
        )
        return [_identity(r) for r in rows]

    def set_status(self, identity_id: str, status: str, merged_into: str | None = None) -> None:
        """Change a status, bumping the version."""
        cursor = self.db.execute(
            "UPDATE identities SET status = ?, merged_into = ?, updated_at = ?, version = version + 1"
            " WHERE id = ?",
            (status, merged_into, now_iso(), identity_id),
        )
        if cursor.rowcount == 0:
            raise IdentityNotFound(identity_id=identity_id)

    def update_fields(self, identity_id: str, fields: dict[str, Any]) -> None:
        """Update plain fields (name, aliases, details, photo); the caller validated them."""
        allowed = {"full_name", "aliases", "details", "photo_image_id", "birth_date", "sex"}
        sets = {
            k: (json.dumps(v) if k in ("aliases", "details") else v)
            for k, v in fields.items()
            if k in allowed
        }
        if not sets:
            return
        assignments = ", ".join(f"{k} = ?" for k in sets)
        cursor = self.db.execute(
            f"UPDATE identities SET {assignments}, updated_at = ?, version = version + 1 WHERE id = ?",
            (*sets.values(), now_iso(), identity_id),
        )
        if cursor.rowcount == 0:
            raise IdentityNotFound(identity_id=identity_id)

    def add_image(
        self, identity_id: str, data: bytes, media_type: str, captured_at: str
    ) -> tuple[int, str]:
        """Keep an enrolment image (sealed); return (image id, sha256 of the plain bytes)."""
        digest = hashlib.sha256(data).hexdigest()
        cursor = self.db.execute(
            "INSERT INTO images (identity_id, sha256, media_type, data, captured_at) VALUES (?, ?, ?, ?, ?)",
            (
                identity_id,
                digest,
                media_type,
                self.vault.seal(data, aad_for("images", "data", identity_id)),
                captured_at,
            ),
        )
        return int(cursor.lastrowid or 0), digest

    def image_bytes(self, image_id: int) -> bytes | None:
        """The plain bytes of an image, or None when erased or absent."""
        row = self.db.execute(
            "SELECT data, identity_id FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        if not row or row[0] is None:
            return None
        return self.vault.open(row[0], aad_for("images", "data", row[1]))

    def image_ids(self, identity_id: str) -> list[tuple[int, str, str]]:
        """(image id, media type, captured at) of an identity's kept face images, oldest first."""
        rows = self.db.execute(
            "SELECT id, media_type, captured_at FROM images WHERE identity_id = ?"
            " AND data IS NOT NULL ORDER BY id",
            (identity_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def finger_images(self, identity_id: str) -> list[StoredFingerImage]:
        """An identity's fingerprint masters (opened), by finger and impression, with quality."""
        rows = self.db.execute(
            "SELECT f.position, f.impression, f.data, f.width, f.height, f.resolution_ppi,"
            " f.captured_at, MAX(t.quality) FROM finger_images f"
            " LEFT JOIN finger_templates t ON t.image_id = f.id"
            " WHERE f.identity_id = ? AND f.data IS NOT NULL"
            " GROUP BY f.id ORDER BY f.position, f.impression",
            (identity_id,),
        )
        return [
            StoredFingerImage(p, i, self._finger_image(d, identity_id), w, h, ppi, at, q)
            for p, i, d, w, h, ppi, at, q in rows
        ]

    def _finger_image(self, sealed: bytes, identity_id: str) -> bytes:
        return self.vault.open(sealed, aad_for("finger_images", "data", identity_id))

    def add_template(
        self,
        identity_id: str,
        image_id: int,
        image_sha256: str,
        pack_id: str,
        vector: np.ndarray,
        quality: float,
        captured_at: str,
        *,
        staged: bool = False,
    ) -> int:
        """Store a template (sealed); return its id (the gallery's key).

        Only for the site's active pack (PackChanged otherwise), unless `staged`: a re-embed
        writes the templates of the pack it is about to switch to.
        """
        if not staged:
            require_active(self.db, pack_id)
        cursor = self.db.execute(
            "INSERT INTO templates (identity_id, image_id, image_sha256, pack_id, vector, quality, captured_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                identity_id,
                image_id,
                image_sha256,
                pack_id,
                self.vault.seal(
                    vector_to_blob(vector), aad_for("templates", "vector", identity_id)
                ),
                quality,
                captured_at,
            ),
        )
        return int(cursor.lastrowid or 0)

    def template_ids(self, identity_id: str, pack_id: str | None = None) -> list[int]:
        """Ids of an identity's templates (of one pack, if given)."""
        sql, args = "SELECT id FROM templates WHERE identity_id = ?", [identity_id]
        if pack_id:
            sql, args = sql + " AND pack_id = ?", [*args, pack_id]
        return [r[0] for r in self.db.execute(sql, args)]

    def delete_templates(self, template_ids: list[int]) -> None:
        """Remove templates by id."""
        self.db.executemany("DELETE FROM templates WHERE id = ?", [(t,) for t in template_ids])

    def templates_for_pack(
        self, pack_id: str, identity_id: str | None = None
    ) -> Iterator[StoredTemplate]:
        """Templates of a pack (all, or one identity's) with role and status: what the gallery projects."""
        sql = (
            "SELECT t.id, t.identity_id, i.role, i.status, t.vector FROM templates t"
            " JOIN identities i ON i.id = t.identity_id WHERE t.pack_id = ?"
        )
        args: tuple[str, ...] = (pack_id,)
        if identity_id is not None:  # uses the (pack_id, identity_id) index: one person, not all
            sql, args = sql + " AND t.identity_id = ?", (pack_id, identity_id)
        rows = self.db.execute(sql + " ORDER BY t.id", args)
        for tid, iid, role, status, blob in rows:
            plain = self.vault.open(blob, aad_for("templates", "vector", iid))
            yield StoredTemplate(tid, iid, role, status, blob_to_vector(plain))

    def erase_biometrics(self, identity_id: str) -> tuple[int, int]:
        """Delete an identity's templates and image bytes; the row and audit stay. Return counts."""
        templates = self.db.execute(
            "DELETE FROM templates WHERE identity_id = ?", (identity_id,)
        ).rowcount
        templates += self.db.execute(
            "DELETE FROM finger_templates WHERE identity_id = ?", (identity_id,)
        ).rowcount
        self.db.execute(
            "UPDATE finger_images SET data = NULL WHERE identity_id = ?", (identity_id,)
        )
        # Changes not yet pushed must not carry the biometrics out after the erasure, and pushed
        # ones must not keep a copy here either (secure_delete overwrites the freed bytes).
        self.db.execute(
            "UPDATE outbox SET payload = json_remove(payload, '$.templates', '$.iso_record_b64',"
            " '$.image_b64', '$.sealed_b64')"
            " WHERE entity_id = ?",
            (identity_id,),
        )
        images = self.db.execute(
            "UPDATE images SET data = NULL WHERE identity_id = ? AND data IS NOT NULL",
            (identity_id,),
        ).rowcount
        return templates, images
