"""Every error Gerbang can return, with a stable code, an HTTP status and a bilingual message.

EdgeError
├─ InputError 400/413/415/422
│  ├─ InvalidImage          image_invalid          the bytes are not a readable JPEG/PNG/WebP/TIFF
│  ├─ UnsupportedMediaType  media_type_unsupported 415: content type is not an image we accept
│  ├─ ImageTooLarge         image_too_large        413: bytes or pixels above the configured cap
│  ├─ ImageTooSmall         image_too_small        fewer pixels than any face could need
│  ├─ NoFaceFound           face_not_found
│  ├─ MultipleFaces         face_multiple          several faces of similar size when one is required
│  └─ LowQualityFace        face_low_quality       details carry the reasons an officer can act on
├─ NotFound 404
├─ Conflict 409
└─ Unavailable 503
   ├─ ModelNotReady         model_not_ready        a model file is missing or not yet converted
   └─ ModelLoadError        model_load_failed      a file is present but corrupt, wrong digest or unloadable
      └─ DigestMismatch     model_digest_mismatch  the file's sha256 differs from the pack manifest

This is the shared core. Each use case defines its own subclasses beside the code that raises them
(enrollment/identifiers.py: nik_invalid...; enrollment/service.py: possible_duplicate...;
edge/gate/records.py; models/fingerprint/nbis.py; enrollment/accounts.py: unauthenticated,
forbidden), always under one of these branches, so the one handler renders them all alike.

Messages are what an officer reads: Indonesian first, English second, and they say what to do.
This module imports nothing from FastAPI so that the model and use-case layers can raise these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """One officer-facing sentence in both languages."""

    id: str
    en: str

    def as_dict(self) -> dict[str, str]:
        """Both languages, keyed by IETF tag."""
        return {"id": self.id, "en": self.en}


@dataclass
class EdgeError(Exception):
    """Base of every error Gerbang raises on purpose."""

    message: Message
    details: dict[str, Any] = field(default_factory=dict)

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __str__(self) -> str:
        return f"{self.code}: {self.message.en}"

    def to_payload(self) -> dict[str, Any]:
        """The JSON body every error response carries."""
        return {
            "error": {
                "code": self.code,
                "message": self.message.as_dict(),
                "details": self.details,
            }
        }


class InputError(EdgeError):
    code = "input_invalid"
    status = 422


class InvalidImage(InputError):
    code = "image_invalid"
    status = 400

    @classmethod
    def because(cls, reason: str) -> InvalidImage:
        return cls(
            Message(
                "Berkas bukan gambar yang dapat dibaca (JPEG, PNG, WebP). Ambil ulang foto.",
                "The file is not a readable image (JPEG, PNG, WebP). Take the photo again.",
            ),
            {"reason": reason},
        )


class UnsupportedMediaType(InputError):
    code = "media_type_unsupported"
    status = 415

    @classmethod
    def for_type(cls, content_type: str, accepted: list[str]) -> UnsupportedMediaType:
        return cls(
            Message(
                "Jenis berkas tidak didukung. Kirim foto JPEG, PNG atau WebP.",
                "This file type is not supported. Send a JPEG, PNG or WebP photo.",
            ),
            {"content_type": content_type, "accepted": accepted},
        )


class ImageTooLarge(InputError):
    code = "image_too_large"
    status = 413

    @classmethod
    def exceeding(cls, what: str, value: int, limit: int) -> ImageTooLarge:
        return cls(
            Message(
                "Gambar terlalu besar. Kecilkan resolusi kamera atau ukuran berkas.",
                "The image is too large. Lower the camera resolution or the file size.",
            ),
            {"limit_kind": what, "value": value, "limit": limit},
        )


class ImageTooSmall(InputError):
    code = "image_too_small"

    @classmethod
    def below(cls, width: int, height: int, minimum: int) -> ImageTooSmall:
        return cls(
            Message(
                "Gambar terlalu kecil untuk mengenali wajah. Gunakan resolusi lebih tinggi.",
                "The image is too small to recognise a face. Use a higher resolution.",
            ),
            {"width": width, "height": height, "minimum_side": minimum},
        )


class NoFaceFound(InputError):
    code = "face_not_found"

    @classmethod
    def in_image(cls) -> NoFaceFound:
        return cls(
            Message(
                "Tidak ada wajah terdeteksi. Hadapkan wajah ke kamera dengan cahaya cukup.",
                "No face was found. Face the camera in good light.",
            )
        )


class MultipleFaces(InputError):
    code = "face_multiple"

    @classmethod
    def counted(cls, count: int) -> MultipleFaces:
        return cls(
            Message(
                "Terdeteksi lebih dari satu wajah. Pastikan hanya satu orang di depan kamera.",
                "More than one face was found. Only one person may stand before the camera.",
            ),
            {"faces": count},
        )


class LowQualityFace(InputError):
    code = "face_low_quality"

    @classmethod
    def with_reasons(cls, reasons: list[dict[str, str]]) -> LowQualityFace:
        return cls(
            Message(
                "Kualitas foto wajah kurang. Ikuti petunjuk lalu ambil ulang.",
                "The face photo is not good enough. Follow the hints and capture again.",
            ),
            {"reasons": reasons},
        )


class NotFound(EdgeError):
    code = "not_found"
    status = 404


class Conflict(EdgeError):
    code = "conflict"
    status = 409


class Unavailable(EdgeError):
    code = "unavailable"
    status = 503


class ModelNotReady(Unavailable):
    code = "model_not_ready"

    @classmethod
    def missing(cls, role: str, path: str, how_to_fix: str) -> ModelNotReady:
        return cls(
            Message(
                "Model pengenal wajah belum tersedia. Hubungi admin situs.",
                "The face model is not available yet. Call the site administrator.",
            ),
            {"role": role, "path": path, "fix": how_to_fix},
        )


class ModelLoadError(Unavailable):
    code = "model_load_failed"

    @classmethod
    def for_file(cls, path: str, reason: str) -> ModelLoadError:
        return cls(
            Message(
                "Model wajah rusak atau tidak dapat dimuat. Hubungi admin situs.",
                "The face model is damaged or cannot be loaded. Call the site administrator.",
            ),
            {"path": path, "reason": reason},
        )


class DigestMismatch(ModelLoadError):
    code = "model_digest_mismatch"

    @classmethod
    def for_file_digests(cls, path: str, expected: str, actual: str) -> DigestMismatch:
        return cls(
            Message(
                "Berkas model tidak sesuai sidik (sha256). Model ditolak demi keamanan.",
                "The model file does not match its sha256 digest. It was refused for safety.",
            ),
            {"path": path, "expected_sha256": expected, "actual_sha256": actual},
        )
