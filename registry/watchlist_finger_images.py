"""Watchlist fingers from images: the registry extracts their minutiae as a site's enrolment does.

An adjudicator holding a banned person's fingerprint scans (the police file) has images, not
ISO/IEC 19794-2 records. Each image is judged and extracted by `models.fingerprint.extractors.judged`,
the function a site's enrolment runs: MINDTCT's image checks and quality rules (the sites'
enrolment floor), then the template of REGISTRY_FINGER_EXTRACTOR, the extractor every site runs
(EDGE_MATCH__FINGER_EXTRACTOR, LEADER by default), so a gate compares a record of the kind its own
enrolments hold. The record keeps that extractor's name and the impression's quality score, as a
site's `finger.enrolled` does, and then goes the way of `POST /v1/watchlist`'s records
(registry/watchlist_fingers.py). Images are read at 500 ppi, the enrolment API's default.

One bad image refuses the whole entry (WatchlistFingerInvalid naming the image, its finger and
why; nothing is stored). No NBIS library, or LEADER's network neither converted nor convertible
(into REGISTRY_MODEL_CACHE_DIR, on first use, as at a site): RegistryFingersUnavailable.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import Message
from models.fingerprint import extractors, iso19794, nbis
from models.fingerprint.leader import FingerprintModelMissing
from models.fingerprint.quality import FingerQuality, FingerQualityRules, finger_name
from models.store import ModelStore
from registry.errors import RegistryFingersUnavailable, WatchlistFingerInvalid
from registry.watchlist_fingers import WatchlistFinger

MAX_FINGER_IMAGES = 10
MAX_FINGER_IMAGE_BYTES = 4 * 1024 * 1024  # an uncompressed 2000 x 2000 grey scan (nbis.MAX_SIDE)
RESOLUTION_PPI = 500

# Why an image is refused, said of a file an officer chose (not of a finger on a reader).
IMAGE_REASONS = {
    "unreadable": Message("berkas bukan gambar yang terbaca", "the file is not a readable image"),
    "not_greyscale": Message(
        "gambar tidak dapat dijadikan abu-abu", "the image cannot be made grey"
    ),
    "too_small": Message(
        "gambar terlalu kecil untuk sidik jari", "the image is too small for a print"
    ),
    "too_large": Message(
        "gambar terlalu besar untuk satu jari", "the image is too large for one finger"
    ),
    "no_ridges": Message("tidak tampak alur sidik jari", "no fingerprint ridges can be seen"),
    "extractor_failed": Message("minutiae tidak dapat diambil", "no minutiae could be extracted"),
    "too_few_minutiae": Message("terlalu sedikit minutiae", "too few minutiae"),
    "low_reliability": Message("minutiae kurang jelas", "the minutiae are not clear enough"),
    "small_contact": Message(
        "bagian jari yang tampak terlalu kecil", "too little of the finger shows"
    ),
}
_UNKNOWN_REASON = Message("gambar tidak dapat dipakai", "the image cannot be used")


@dataclass(frozen=True)
class FingerImage:
    """One uploaded fingerprint image and the ISO finger position (1-10) the officer gave it."""

    position: int
    data: bytes


class WatchlistFingerImages:
    """Turns officers' fingerprint images into the ISO records a site's enrolment would make."""

    def __init__(self, extractor: str, model_dir: Path, cache_dir: Path) -> None:
        self.extractor = extractors.named(extractor, ModelStore(model_dir, cache_dir), threads=1)
        self.rules = FingerQualityRules()  # the sites' enrolment rules

    def fingers(self, images: list[FingerImage]) -> list[WatchlistFinger]:
        """One finger per image, in order; the first image no site would enrol refuses them all."""
        return [self._finger(index, image) for index, image in enumerate(images)]

    def _finger(self, index: int, image: FingerImage) -> WatchlistFinger:
        if len(image.data) > MAX_FINGER_IMAGE_BYTES:
            raise _refused(
                index, image.position, "too_large", {"max_bytes": MAX_FINGER_IMAGE_BYTES}
            )
        try:
            pixels = nbis.read_image(image.data)
            quality, template = extractors.judged(
                self.extractor, pixels, RESOLUTION_PPI, self.rules
            )
        except nbis.FingerprintImageInvalid as exc:
            raise _refused(index, image.position, str(exc.details.get("reason", "")), exc.details) from exc  # fmt: skip
        except (nbis.FingerprintExtractorMissing, FingerprintModelMissing) as exc:
            raise RegistryFingersUnavailable(
                None, {**exc.details, "extractor": self.extractor.name, "cause": exc.code}
            ) from exc
        if template is None:
            raise _refused(index, image.position, quality.reasons[0], _measures(quality))
        record = iso19794.encode([(image.position, template)])
        return WatchlistFinger(
            position=image.position,
            iso_record_b64=base64.b64encode(record).decode(),
            extractor=template.extractor,
            quality=quality.score,
        )


def _refused(
    index: int, position: int, reason: str, measured: Mapping[str, Any]
) -> WatchlistFingerInvalid:
    """The refusal of image `index`, its measures (minutiae, sizes...) kept in the details."""
    why = IMAGE_REASONS.get(reason, _UNKNOWN_REASON)
    extra = {k: v if not isinstance(v, str) else v[:300] for k, v in measured.items()
             if k != "reason" and isinstance(v, int | float | str | list)}  # fmt: skip
    return WatchlistFingerInvalid.image(index, position, reason or "unreadable", why, finger_name(position), **extra)  # fmt: skip


def _measures(quality: FingerQuality) -> dict[str, Any]:
    """What the quality rules measured and every rule it failed, for the refusal's details."""
    return {"minutiae": quality.minutiae, "mean_reliability": quality.mean_reliability,
            "contact": quality.contact, "reasons": quality.reasons}  # fmt: skip
