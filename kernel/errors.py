"""The base of every error Gerbang returns: a stable code, an HTTP status and a bilingual message.

GerbangError                      500 internal_error
├─ InputError                     422 input_invalid
│  └─ TooLarge                    413 too_large          a body, file or field above its cap
├─ Unauthenticated                401 unauthenticated    no, unknown or expired credentials
├─ Forbidden                      403 forbidden          the caller's role may not do this
├─ NotFound                       404 not_found
├─ Conflict                       409 conflict
└─ Unavailable                    503 unavailable

Each package declares its own leaves beside the code that raises them, always under one of these
branches (models/errors.py: image and model errors; enrollment/, edge/gate/, registry/errors.py),
so one handler renders them all alike. `kernel.catalogue.all_error_classes()` walks the tree.

An error is declarative: `code`, `status` and `message` (Indonesian first, then English, saying
what an officer should do) are class attributes; details are keyword arguments:

    class NoFaceFound(InputError):
        code = "face_not_found"
        message = Message("Tidak ada wajah terdeteksi...", "No face was found...")

    raise NoFaceFound(faces=0)

A message that must carry a number may be passed per instance: `WeakPassword(Message(...))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """One officer-facing sentence in both languages."""

    id: str
    en: str

    def as_dict(self) -> dict[str, str]:
        """Both languages, keyed by IETF tag."""
        return {"id": self.id, "en": self.en}


class GerbangError(Exception):
    """Base of every error Gerbang raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    message: Message = Message(
        "Terjadi kesalahan pada sistem. Hubungi admin situs.",
        "Something went wrong in the system. Call the site administrator.",
    )

    def __init__(
        self,
        message: Message | None = None,
        details: Mapping[str, Any] | None = None,
        /,
        **more_details: Any,
    ) -> None:
        if message is not None:
            self.message = message
        self.details: dict[str, Any] = {**(details or {}), **more_details}
        super().__init__(f"{self.code}: {self.message.en}")

    def __str__(self) -> str:
        return f"{self.code}: {self.message.en}"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, GerbangError)
            and (other.message, other.details) == (self.message, self.details)
        )

    __hash__ = Exception.__hash__

    def to_payload(self) -> dict[str, Any]:
        """The JSON body every error response carries."""
        return {
            "error": {
                "code": self.code,
                "message": self.message.as_dict(),
                "details": self.details,
            }
        }


class InputError(GerbangError):
    code = "input_invalid"
    status = 422
    message = Message(
        "Data yang dikirim tidak valid. Periksa isian lalu kirim ulang.",
        "The request is not valid. Check what was entered and send it again.",
    )


class TooLarge(InputError):
    code = "too_large"
    status = 413
    message = Message(
        "Data yang dikirim terlalu besar.",
        "What was sent is too large.",
    )


class Unauthenticated(GerbangError):
    code = "unauthenticated"
    status = 401
    message = Message("Silakan masuk terlebih dahulu.", "Please sign in first.")

    @classmethod
    def because(cls, reason: str) -> Unauthenticated:
        return cls(reason=reason)

    @classmethod
    def device_key_refused(cls) -> Unauthenticated:
        """A terminal's key the site does not know, or revoked: a terminal has no one to sign in."""
        return cls(
            Message(
                "Kunci perangkat terminal ini tidak dikenal atau sudah dicabut. Minta admin situs"
                " membuat kunci baru (gerbang devices rekey NAMA-TERMINAL; nama dari gerbang"
                " devices list) dan masukkan di pengaturan terminal.",
                "This terminal's device key is unknown or revoked. Ask the site admin for a new"
                " key (gerbang devices rekey TERMINAL-NAME; names from gerbang devices list) and"
                " enter it in the terminal's setup.",
            ),
            reason="device key unknown or revoked",
        )

    @classmethod
    def wrong_credentials(cls) -> Unauthenticated:
        return cls(
            Message("Nama pengguna atau kata sandi salah.", "Wrong username or password."),
            reason="wrong username or password",
        )


class Forbidden(GerbangError):
    code = "forbidden"
    status = 403
    message = Message(
        "Peran Anda tidak berwenang untuk tindakan ini.", "Your role may not do this."
    )

    @classmethod
    def for_action(cls, action: str, role: str) -> Forbidden:
        return cls(action=action, role=role)


class NotFound(GerbangError):
    code = "not_found"
    status = 404
    message = Message("Data tidak ditemukan.", "Not found.")


class Conflict(GerbangError):
    code = "conflict"
    status = 409
    message = Message(
        "Permintaan bertentangan dengan keadaan data saat ini.",
        "The request conflicts with the current state of the data.",
    )


class Unavailable(GerbangError):
    code = "unavailable"
    status = 503
    message = Message(
        "Layanan belum siap. Coba lagi sebentar lagi.",
        "The service is not ready. Try again shortly.",
    )
