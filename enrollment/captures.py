"""Capture sessions: frames in, quality feedback out, the best N accepted captures kept.

A session lives in the database, so a desk that loses power mid-capture finds it again; nothing
of it becomes an identity until the commit, which is one transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from enrollment.audit import now_iso
from enrollment.packs import require_active
from enrollment.repository import blob_to_vector, vector_to_blob
from enrollment.vault import Vault, aad_for
from kernel.errors import Conflict, GerbangError, InputError, Message, NotFound
from models.engine import FaceAnalysis
from models.imaging import sniff_media_type


class FaceAnalyser(Protocol):
    """The part of the face engine enrolment needs."""

    pack_id: str

    def analyse_bytes(self, data: bytes) -> FaceAnalysis: ...


@dataclass(frozen=True)
class CapturePolicy:
    """How many captures an enrolment needs and keeps, and what counts as live."""

    keep_best: int = 5
    min_captures: int = 3
    liveness_threshold: float = 0.5
    require_liveness: bool = True


class SessionNotFound(NotFound):
    code = "capture_session_not_found"
    message = Message(
        "Sesi pengambilan foto tidak ditemukan.",
        "No such capture session.",
    )


class SessionClosed(Conflict):
    code = "capture_session_closed"
    message = Message(
        "Sesi ini sudah selesai. Mulai sesi baru.",
        "This session is finished. Start a new one.",
    )


class NotEnoughCaptures(InputError):
    code = "captures_insufficient"
    message = Message(
        "Foto yang baik belum cukup. Ambil foto lagi.", "Not enough good photos yet. Capture more."
    )

    @classmethod
    def counted(cls, have: int, need: int) -> NotEnoughCaptures:
        return cls(
            Message(
                f"Baru {have} foto yang baik; perlu {need}. Ambil foto lagi.",
                f"Only {have} good photos so far; {need} are needed. Capture more.",
            ),
            have=have,
            need=need,
        )


LIVENESS_REASON = {
    "code": "not_live",
    "id": "Wajah tampak seperti foto atau layar. Orangnya sendiri harus di depan kamera.",
    "en": "The face looks like a photo or a screen. The person must stand before the camera.",
}


@dataclass(frozen=True)
class CaptureFeedback:
    """What the desk shows after each frame."""

    accepted: bool
    reasons: list[dict[str, str]]
    quality: dict[str, Any]
    live_score: float | None
    kept: int
    needed: int
    capture_id: int | None = None
    error: dict[str, Any] | None = field(default=None)

    @property
    def ready(self) -> bool:
        """Enough good captures to commit."""
        return self.kept >= self.needed


@dataclass(frozen=True)
class StoredCapture:
    """A kept capture: its image, template and quality."""

    id: int
    data: bytes
    media_type: str
    sha256: str
    vector: np.ndarray
    quality: float
    captured_at: str


class CaptureStore:
    """Capture sessions and their kept captures, inside the caller's transaction."""

    def __init__(self, connection: sqlite3.Connection, vault: Vault) -> None:
        self.db = connection
        self.vault = vault

    def open_session(self, role: str, operator: str, target_identity_id: str | None) -> str:
        session_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO capture_sessions (id, role, operator, target_identity_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, role, operator, target_identity_id, now_iso()),
        )
        return session_id

    def session(self, session_id: str, must_be_open: bool = True) -> sqlite3.Row:
        row = self.db.execute(
            "SELECT * FROM capture_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise SessionNotFound(session_id=session_id)
        if must_be_open and row["state"] != "open":
            raise SessionClosed(session_id=session_id, state=row["state"])
        return row

    def keep(
        self, session_id: str, data: bytes, analysis: FaceAnalysis, pack_id: str, keep_best: int
    ) -> int | None:
        """Store an accepted capture, then drop the worst beyond keep_best; None if it was the worst.

        Refused (PackChanged) when the site has switched away from `pack_id`: the capture's
        template could never be committed.
        """
        require_active(self.db, pack_id)
        cursor = self.db.execute(
            "INSERT INTO captures (session_id, sha256, media_type, data, vector, pack_id, quality, live_score, captured_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id, hashlib.sha256(data).hexdigest(), sniff_media_type(data) or "application/octet-stream",
                self.vault.seal(data, aad_for("captures", "data", session_id)),
                self.vault.seal(vector_to_blob(analysis.template), aad_for("captures", "vector", session_id)), pack_id,
                analysis.quality.score, analysis.live_score, now_iso(),
            ),
        )  # fmt: skip
        new_id = int(cursor.lastrowid or 0)
        self.db.execute(
            "DELETE FROM captures WHERE session_id = ? AND id NOT IN"
            " (SELECT id FROM captures WHERE session_id = ? ORDER BY quality DESC, id LIMIT ?)",
            (session_id, session_id, keep_best),
        )
        return new_id if self._exists(new_id) else None

    def _exists(self, capture_id: int) -> bool:
        return (
            self.db.execute("SELECT 1 FROM captures WHERE id = ?", (capture_id,)).fetchone()
            is not None
        )

    def count(self, session_id: str) -> int:
        return int(
            self.db.execute(
                "SELECT COUNT(*) FROM captures WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
        )

    def kept(self, session_id: str) -> list[StoredCapture]:
        """The kept captures, best first."""
        rows = self.db.execute(
            "SELECT id, data, media_type, sha256, vector, quality, captured_at FROM captures"
            " WHERE session_id = ? ORDER BY quality DESC, id",
            (session_id,),
        )
        return [
            StoredCapture(
                r[0],
                self.vault.open(r[1], aad_for("captures", "data", session_id)),
                r[2],
                r[3],
                blob_to_vector(self.vault.open(r[4], aad_for("captures", "vector", session_id))),
                r[5],
                r[6],
            )
            for r in rows
        ]

    def close(self, session_id: str, state: str) -> None:
        """Mark a session committed or abandoned and drop its captures (they now live as images)."""
        self.db.execute("UPDATE capture_sessions SET state = ? WHERE id = ?", (state, session_id))
        self.db.execute("DELETE FROM captures WHERE session_id = ?", (session_id,))


def judge_frame(analysis: FaceAnalysis, policy: CapturePolicy) -> list[dict[str, str]]:
    """Reasons to refuse a frame (empty when it is good enough to keep)."""
    reasons = (
        [r.as_dict() for r in analysis.quality.reasons] if not analysis.quality.accepted else []
    )
    live = analysis.live_score
    if policy.require_liveness and live is not None and live < policy.liveness_threshold:
        reasons.append(dict(LIVENESS_REASON))
    return reasons


def error_feedback(exc: GerbangError, kept: int, needed: int) -> CaptureFeedback:
    """Feedback for a frame the engine could not use at all (no face, two faces, bad image)."""
    payload = exc.to_payload()["error"]
    reason = {"code": exc.code, **payload["message"]}
    return CaptureFeedback(False, [reason], {}, None, kept, needed, None, payload)
