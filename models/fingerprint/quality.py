"""Is an impression good enough to enrol? Minutiae count, their reliability, and contact area,
each with a reason an officer (and the person at the reader) can act on; and the name of each
ISO finger position in both languages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernel.errors import Message
from models.fingerprint.minutiae import MinutiaeTemplate

REASONS = {
    "too_few_minutiae": Message(
        "Tekan jari lebih rata dan sedikit lebih lama.",
        "Press the finger flatter and a little longer.",
    ),
    "low_reliability": Message(
        "Bersihkan jari dan kaca sensor, lalu ulangi.",
        "Clean the finger and the sensor glass, then try again.",
    ),
    "small_contact": Message(
        "Letakkan jari di tengah sensor, menutupi kaca.",
        "Place the finger in the centre, covering the glass.",
    ),
}


@dataclass(frozen=True)
class FingerQualityRules:
    """Enrolment thresholds, set just below the worst of the 160 FVC2002 dev impressions
    (minutiae 15, mean reliability 21.5, contact 0.21; medians 40, 39.5, 0.57): they refuse only
    captures clearly worse than a poor but usable print."""

    min_minutiae: int = 15
    min_mean_reliability: float = 20.0  # mean MINDTCT reliability x100 of the minutiae
    min_contact: float = 0.2  # fraction of 16x16 blocks with ridge contrast


@dataclass(frozen=True)
class FingerQuality:
    """The measures and the verdict."""

    minutiae: int
    mean_reliability: float
    contact: float
    reasons: list[str]

    @property
    def accepted(self) -> bool:
        return not self.reasons

    @property
    def score(self) -> float:
        """0..100 for ranking impressions: reliability weighted by how much of the finger is seen."""
        return round(self.mean_reliability * min(1.0, self.contact / 0.6), 2)

    def reason_messages(self) -> list[dict[str, str]]:
        """Reasons as the API shows them."""
        return [{"code": r, **REASONS[r].as_dict()} for r in self.reasons]


def contact_area(image: npt.NDArray[np.uint8], block: int = 16) -> float:
    """Fraction of blocks with ridge-like contrast (a finger on glass, not the blank sensor)."""
    height, width = image.shape
    rows, cols = height // block, width // block
    blocks = (
        image[: rows * block, : cols * block].astype(np.float32).reshape(rows, block, cols, block)
    )
    return float((blocks.std(axis=(1, 3)) > 12.0).mean())


def assess(
    image: npt.NDArray[np.uint8], template: MinutiaeTemplate, rules: FingerQualityRules
) -> FingerQuality:
    """Measure an impression and say what, if anything, is wrong with it."""
    reliability = float(template.minutiae[:, 3].mean()) if template.count else 0.0
    contact = contact_area(image)
    reasons = []
    if template.count < rules.min_minutiae:
        reasons.append("too_few_minutiae")
    if reliability < rules.min_mean_reliability:
        reasons.append("low_reliability")
    if contact < rules.min_contact:
        reasons.append("small_contact")
    return FingerQuality(template.count, round(reliability, 2), round(contact, 3), reasons)


_HANDS = (Message("kanan", "right"), Message("kiri", "left"))
_FINGERS = (
    Message("Ibu jari", "thumb"),
    Message("Telunjuk", "index finger"),
    Message("Jari tengah", "middle finger"),
    Message("Jari manis", "ring finger"),
    Message("Kelingking", "little finger"),
)


def finger_name(position: int) -> Message:
    """The ISO/IEC 19794-2 finger position (1 right thumb ... 10 left little) in both languages."""
    if not 1 <= position <= 10:
        raise ValueError(f"finger position {position} is outside 1..10")
    hand, finger = _HANDS[(position - 1) // 5], _FINGERS[(position - 1) % 5]
    return Message(f"{finger.id} {hand.id}", f"{hand.en} {finger.en}")
