"""The errors the face engine raises: unreadable or unusable images, and models that cannot load.

InputError (kernel)
├─ ImageMissing          422 image_missing          an empty upload where a photo is required
├─ InvalidImage          400 image_invalid          the bytes are not a readable JPEG/PNG/WebP/TIFF
├─ UnsupportedMediaType  415 media_type_unsupported the content type is not an image we accept
├─ ImageTooLarge         413 image_too_large        bytes or pixels above the configured cap
├─ ImageTooSmall         422 image_too_small        fewer pixels than any face could need
├─ NoFaceFound           422 face_not_found
├─ MultipleFaces         422 face_multiple          several faces of similar size when one is required
├─ LowQualityFace        422 face_low_quality       details carry the reasons an officer can act on
└─ BundleRejected        422 model_bundle_rejected  a model bundle whose manifest or a digest does not hold
Unavailable (kernel)
├─ ModelNotReady         503 model_not_ready        a model file is missing or not yet converted
└─ ModelLoadError        503 model_load_failed      a file is present but corrupt, wrong digest or unloadable
   └─ DigestMismatch     503 model_digest_mismatch  the file's sha256 differs from the pack manifest
"""

from __future__ import annotations

from kernel.errors import InputError, Message, TooLarge, Unavailable


class ImageMissing(InputError):
    code = "image_missing"
    message = Message(
        "Foto tidak terkirim (berkas kosong). Periksa kamera lalu ambil ulang.",
        "No photo was sent (the file is empty). Check the camera and take the photo again.",
    )


class InvalidImage(InputError):
    code = "image_invalid"
    status = 400
    message = Message(
        "Berkas bukan gambar yang dapat dibaca (JPEG, PNG, WebP). Ambil ulang foto.",
        "The file is not a readable image (JPEG, PNG, WebP). Take the photo again.",
    )

    @classmethod
    def because(cls, reason: str) -> InvalidImage:
        return cls(reason=reason)


class UnsupportedMediaType(InputError):
    code = "media_type_unsupported"
    status = 415
    message = Message(
        "Jenis berkas tidak didukung. Kirim foto JPEG, PNG atau WebP.",
        "This file type is not supported. Send a JPEG, PNG or WebP photo.",
    )

    @classmethod
    def for_type(cls, content_type: str, accepted: list[str]) -> UnsupportedMediaType:
        return cls(content_type=content_type, accepted=accepted)


class ImageTooLarge(TooLarge):
    code = "image_too_large"
    message = Message(
        "Gambar terlalu besar. Kecilkan resolusi kamera atau ukuran berkas.",
        "The image is too large. Lower the camera resolution or the file size.",
    )

    @classmethod
    def exceeding(cls, what: str, value: int, limit: int) -> ImageTooLarge:
        return cls(limit_kind=what, value=value, limit=limit)


class ImageTooSmall(InputError):
    code = "image_too_small"
    message = Message(
        "Gambar terlalu kecil untuk mengenali wajah. Gunakan resolusi lebih tinggi.",
        "The image is too small to recognise a face. Use a higher resolution.",
    )

    @classmethod
    def below(cls, width: int, height: int, minimum: int) -> ImageTooSmall:
        return cls(width=width, height=height, minimum_side=minimum)


class NoFaceFound(InputError):
    code = "face_not_found"
    message = Message(
        "Tidak ada wajah terdeteksi. Hadapkan wajah ke kamera dengan cahaya cukup.",
        "No face was found. Face the camera in good light.",
    )

    @classmethod
    def in_image(cls) -> NoFaceFound:
        return cls()


class MultipleFaces(InputError):
    code = "face_multiple"
    message = Message(
        "Terdeteksi lebih dari satu wajah. Pastikan hanya satu orang di depan kamera.",
        "More than one face was found. Only one person may stand before the camera.",
    )

    @classmethod
    def counted(cls, count: int) -> MultipleFaces:
        return cls(faces=count)


class LowQualityFace(InputError):
    code = "face_low_quality"
    message = Message(
        "Kualitas foto wajah kurang. Ikuti petunjuk lalu ambil ulang.",
        "The face photo is not good enough. Follow the hints and capture again.",
    )

    @classmethod
    def with_reasons(cls, reasons: list[dict[str, str]]) -> LowQualityFace:
        return cls(reasons=reasons)


class ModelNotReady(Unavailable):
    code = "model_not_ready"
    message = Message(
        "Model pengenal wajah belum tersedia. Hubungi admin situs.",
        "The face model is not available yet. Call the site administrator.",
    )

    @classmethod
    def missing(cls, role: str, path: str, how_to_fix: str) -> ModelNotReady:
        return cls(role=role, path=path, fix=how_to_fix)


class ModelLoadError(Unavailable):
    code = "model_load_failed"
    message = Message(
        "Model wajah rusak atau tidak dapat dimuat. Hubungi admin situs.",
        "The face model is damaged or cannot be loaded. Call the site administrator.",
    )

    @classmethod
    def for_file(cls, path: str, reason: str) -> ModelLoadError:
        return cls(path=path, reason=reason)


class DigestMismatch(ModelLoadError):
    code = "model_digest_mismatch"
    message = Message(
        "Berkas model tidak sesuai sidik (sha256). Model ditolak demi keamanan.",
        "The model file does not match its sha256 digest. It was refused for safety.",
    )

    @classmethod
    def for_file_digests(cls, path: str, expected: str, actual: str) -> DigestMismatch:
        return cls(path=path, expected_sha256=expected, actual_sha256=actual)


class BundleRejected(InputError):
    code = "model_bundle_rejected"
    message = Message(
        "Berkas paket model rusak atau telah diubah; tidak ada yang dipasang. Buat ulang paket di"
        " komputer yang memiliki model lalu salin kembali.",
        "The model bundle is damaged or was altered; nothing was installed. Make the bundle again"
        " on a machine that has the models and copy it again.",
    )

    @classmethod
    def because(cls, bundle: str, reason: str, **details: object) -> BundleRejected:
        return cls(bundle=bundle, reason=reason, **details)

    @classmethod
    def missing(cls, bundle: str) -> BundleRejected:
        """No file at that path: a typo or an unmounted USB stick, not a damaged bundle."""
        return cls(
            Message(
                "Berkas paket model tidak ditemukan di alamat itu; tidak ada yang dipasang. Periksa"
                " nama berkas dan apakah media USB sudah terpasang.",
                "There is no model bundle at that path; nothing was installed. Check the file name"
                " and that the USB stick is mounted.",
            ),
            bundle=bundle,
            reason="the file does not exist",
        )
