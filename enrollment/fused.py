"""Face + finger 1:1 verification fused at score level, with the documented fallback.

Each modality's score becomes a log-likelihood ratio learnt on the dev data (models/likelihood_ratio.py);
the fused score is their sum, compared with the fused threshold for the target FMR. When one
modality is missing or unusable (no face found, finger not enrolled or unreadable), the other
decides alone at its own calibrated threshold; a missing score is never treated as a low one.
The finger score is the best of the claimed person's stored impressions, while the LLR map was
learnt on single-impression pairs: best-of-N shifts scores up a little, which the fallback's
N-fold stricter finger threshold accounts for and the fused map does not yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from enrollment.fingers import FingerNotEnrolled, FingerService
from kernel.errors import GerbangError, InputError, Message
from models.fusion import FusedDecision, FusionModel


@dataclass(frozen=True)
class FingerProbe:
    """A presented fingerprint."""

    image: npt.NDArray[np.uint8]
    resolution_ppi: int = 500
    position: int | None = None


@dataclass(frozen=True)
class FusedVerification:
    """Both scores as measured, and the decision taken on them."""

    face_score: float | None
    finger_score: float | None
    finger_problem: str | None  # why the finger could not be used, if it could not
    decision: FusedDecision


class FusedVerifier:
    """Combines the face score the caller measured with a finger score it measures here."""

    def __init__(self, fingers: FingerService, model: Callable[[], FusionModel]) -> None:
        self.fingers = fingers
        self._model = model

    def finger_score(self, identity_id: str, probe: FingerProbe) -> tuple[float | None, str | None]:
        """Best-of-N MCC score against the claimed identity, or None and the reason code."""
        try:
            stored = self.fingers.templates(identity_id, probe.position)
            if not stored:
                raise FingerNotEnrolled(identity_id=identity_id, position=probe.position)
            extracted = self.fingers.probe(probe.image, probe.resolution_ppi)
        except (InputError, GerbangError) as exc:
            return None, exc.code
        return max(self.fingers.matcher(extracted, t) for _, t in stored), None

    def verify(
        self,
        identity_id: str,
        face_score: float | None,
        finger: FingerProbe | None,
        target_fmr: float,
    ) -> FusedVerification:
        """Decide on whatever is present; refuse only when neither modality can be used."""
        finger_score, problem = self.finger_score(identity_id, finger) if finger else (None, None)
        if face_score is None and finger_score is None:
            raise NothingToVerify(reason=problem or "no face and no fingerprint")
        decision = self._model().decide(face_score, finger_score, target_fmr)
        return FusedVerification(face_score, finger_score, problem, decision)


class NothingToVerify(InputError):
    code = "nothing_to_verify"
    message = Message(
        "Wajah dan sidik jari tidak dapat dipakai. Ambil ulang.",
        "Neither the face nor the fingerprint can be used. Capture again.",
    )
