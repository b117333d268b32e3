"""What the person at a reader is told about the impression just taken: which finger, whether it is
good enough to enrol, and what to do if not (press flatter, centre it, too dry, too wet).

The enrolment checks (minutiae, reliability, contact) are models/fingerprint/quality.py's, the
same the enrolment API applies, so the page's verdict is the one the enrolment will give. The
moisture hints are advice only, never a refusal: the share of ridge pixels in the print's blocks
(ridge darker than the block's mid-grey) is low when ridges break up (a dry finger) and high
when they run together (a wet one). On the 160 FVC2002/2004 dev impressions it runs from 0.08
(db1 109_6, visibly dry) to 0.70 (db3 108_5, visibly smeared), median 0.36; the thresholds put
about one impression in twenty at each end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernel.errors import Message
from models.fingerprint import nbis
from models.fingerprint.quality import FingerQuality, FingerQualityRules, assess

DRY_BELOW = 0.13
WET_ABOVE = 0.62
BLOCK = 16
FOREGROUND_STD = 12.0  # the contact-area test's contrast: a block with ridges in it

HINTS = {
    "too_dry": Message(
        "Jari terlalu kering: hembuskan napas ke ujung jari atau usap sedikit, lalu tekan lagi.",
        "The finger is too dry: breathe on the fingertip or rub it a little, then press again.",
    ),
    "too_wet": Message(
        "Jari terlalu basah atau berminyak: lap jari dan kaca sensor, lalu tekan lagi.",
        "The finger is too wet or oily: wipe the finger and the sensor glass, then press again.",
    ),
}


def ridge_share(image: npt.NDArray[np.uint8]) -> float | None:
    """Share of ridge pixels in the blocks with ridges in them; None when there are none."""
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    blocks = image[: rows * BLOCK, : cols * BLOCK].astype(np.float32)
    blocks = blocks.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    ridged = blocks[blocks.std(axis=2) > FOREGROUND_STD]
    if not len(ridged):
        return None
    middle = (ridged.max(axis=1) + ridged.min(axis=1)) / 2
    return float((ridged < middle[:, None]).mean())


def moisture_hint(share: float | None) -> str | None:
    """The moisture hint: too_dry, too_wet or None."""
    if share is None:
        return None
    if share < DRY_BELOW:
        return "too_dry"
    return "too_wet" if share > WET_ABOVE else None


@dataclass(frozen=True)
class ImpressionFeedback:
    """The enrolment verdict on one impression and the hints shown with it."""

    quality: FingerQuality
    ridge_share: float | None
    hint: str | None

    @property
    def usable(self) -> bool:
        """Good enough to enrol (the enrolment API will keep it)."""
        return self.quality.accepted

    def messages(self) -> list[dict[str, str]]:
        """Refusal reasons, then the moisture hint, as coded bilingual messages."""
        hints = [] if self.hint is None else [{"code": self.hint, **HINTS[self.hint].as_dict()}]
        return [*self.quality.reason_messages(), *hints]


def impression_feedback(
    image: npt.NDArray[np.uint8], ppi: int, rules: FingerQualityRules
) -> ImpressionFeedback:
    """Extract minutiae (NBIS) and judge the impression as the enrolment would."""
    quality = assess(image, nbis.extract(image, ppi), rules)
    share = ridge_share(image)
    return ImpressionFeedback(
        quality, None if share is None else round(share, 3), moisture_hint(share)
    )
