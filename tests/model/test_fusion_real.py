"""The shipped fusion model on real photos and real prints: chimeric pairs, missing finger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge import wiring
from models.calibration import Calibration
from models.engine import FaceEngine
from models.fingerprint import nbis
from models.fusion import FusionModel

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("nbis_library")]

SHIPPED = wiring.SHIPPED_CALIBRATIONS / "fusion-open-yunet-dlib-nbis.json"
TARGETS = (1e-2, 1e-3)


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return FusionModel.load(SHIPPED)


@pytest.fixture(scope="module")
def face_score(default_engine: FaceEngine, dev_faces: Path):  # type: ignore[no-untyped-def]
    """Cosine score of two dev photos, each given as identity/n."""

    def score(a: str, b: str) -> float:
        first, second = (
            default_engine.analyse_bytes((dev_faces / f"{name}.jpg").read_bytes()).template
            for name in (a, b)
        )
        return float(np.dot(first, second))

    return score


@pytest.fixture(scope="module")
def finger_score(fingerprints: Path):  # type: ignore[no-untyped-def]
    """BOZORTH3 score of two FVC2002 DB1_B impressions, each given as finger_impression."""

    def score(a: str, b: str) -> float:
        first, second = (
            nbis.extract(
                nbis.read_image((fingerprints / "fvc2002-db1_b" / f"{name}.tif").read_bytes()), 500
            )
            for name in (a, b)
        )
        return nbis.bozorth3(first, second)

    return score


@pytest.mark.parametrize("target", TARGETS)
def test_a_genuine_chimeric_pair_fuses_above_the_threshold(
    model: FusionModel, face_score, finger_score, target: float
) -> None:
    decision = model.decide(face_score("facerec-obama/1", "facerec-obama/2"),
                            finger_score("101_1", "101_2"), target)  # fmt: skip
    assert decision.match and decision.used == ("face", "finger")
    assert decision.fused_score > decision.threshold


@pytest.mark.parametrize("target", TARGETS)
def test_an_impostor_chimeric_pair_fuses_below_the_threshold(
    model: FusionModel, face_score, finger_score, target: float
) -> None:
    decision = model.decide(face_score("facerec-obama/1", "facerec-steve_wozniak/1"),
                            finger_score("101_1", "102_1"), target)  # fmt: skip
    assert not decision.match and decision.fused_score < decision.threshold


def test_a_confident_face_outvotes_a_finger_that_failed_to_overlap(
    model: FusionModel, face_score, finger_score
) -> None:
    """103_4 and 103_5 are one finger placed so differently BOZORTH3 scores 0: alone the finger
    rejects its owner, fused the face carries the decision (the LLR floor at work)."""
    finger = finger_score("103_4", "103_5")
    assert finger < model.finger.threshold_for(1e-3)
    assert model.decide(face_score("facerec-obama/1", "facerec-obama/2"), finger, 1e-3).match


@pytest.mark.parametrize("target", TARGETS)
def test_with_the_finger_missing_the_face_decides_as_it_would_alone(
    model: FusionModel, face_score, target: float
) -> None:
    """Same decision as the face pack's own calibration, for a genuine and an impostor face."""
    own = Calibration.load(wiring.SHIPPED_CALIBRATIONS / "open-yunet-dlib.json")
    pairs = [("facerec-obama/1", "facerec-obama/2"), ("facerec-obama/1", "facerec-steve_wozniak/1"),
             ("orl-s01/1", "orl-s12/1")]  # fmt: skip
    outcomes = set()
    for a, b in pairs:
        score = face_score(a, b)
        decision = model.decide(score, None, target)
        assert decision.used == ("face",) and decision.reason == "finger_missing"
        assert decision.match is (score >= own.threshold_for(target))
        outcomes.add(decision.match)
    assert outcomes == {True, False}
