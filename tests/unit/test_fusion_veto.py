"""Strong evidence against is not outvoted (issue 12), and fused thresholds at any FMR for 1:N,
on the shipped MCC fusion model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge import wiring
from enrollment.fused_search import decide_person
from models.fusion import P_FLOOR, STRONG_AGAINST_NATS, FusionModel, tail_evidence, tail_threshold

SHIPPED = wiring.SHIPPED_CALIBRATIONS / "fusion-open-yunet-dlib-mcc.json"
STRANGER_FACE = 0.84  # a clearly different face: the stranger
GENUINE_FACE = 0.97
GENUINE_FINGER = 0.2  # MCC: genuine impressions score 0.05-0.5, impostors below 0.03
FAILED_FINGER = 0.0  # one finger placed so differently that nothing overlaps


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return FusionModel.load(SHIPPED)


@pytest.mark.parametrize("target", [1e-2, 1e-3, 1e-4])
def test_a_strangers_face_with_a_genuine_finger_is_not_a_match(
    model: FusionModel, target: float
) -> None:
    # the bug: the plain LLR sum carries the stranger over the fused threshold
    assert float(model.fused_scores(STRANGER_FACE, GENUINE_FINGER)) >= model.threshold_for(target)
    decision = model.decide(STRANGER_FACE, GENUINE_FINGER, target)
    assert (decision.match, decision.reason, decision.used) == (
        False,
        "face_against",
        ("face", "finger"),
    )


def test_a_failed_genuine_finger_does_not_veto_a_confident_face(model: FusionModel) -> None:
    """The finger's data never says 100:1 against (its LLR floor is higher): it cannot veto."""
    assert model.finger.llr_floor > -STRONG_AGAINST_NATS
    decision = model.decide(GENUINE_FACE, FAILED_FINGER, 1e-3)
    assert decision.match and decision.reason == "fused"


def test_a_face_just_below_its_threshold_is_helped_by_a_genuine_finger(
    model: FusionModel,
) -> None:
    """Weak evidence against is still outvoted: the veto is for clearly different faces only."""
    face = model.face.threshold_for(1e-3) - 0.015
    assert not model.face.against(face)
    assert model.decide(face, GENUINE_FINGER, 1e-3).match


def test_fused_threshold_at_any_fmr_meets_the_stored_points_and_the_llr_bound(
    model: FusionModel,
) -> None:
    for point in model.operating_points:
        threshold, extrapolated = model.threshold_for_fmr(point.target_fmr)
        assert threshold == pytest.approx(point.threshold) and not extrapolated
    fmrs = [1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6, 1e-9]
    thresholds = [model.threshold_for_fmr(f)[0] for f in fmrs]
    assert thresholds == sorted(thresholds)  # stricter FMR, higher threshold
    assert model.threshold_for_fmr(1e-6)[1] is True
    assert all(t <= -math.log(f) for t, f in zip(thresholds, fmrs, strict=True))


def test_the_1_to_n_person_decision_vetoes_and_falls_back_like_1_to_1(
    model: FusionModel,
) -> None:
    face, fmr = (0.93, model.face.fmr_at), 1e-5
    stranger = decide_person(model, "p", (STRANGER_FACE, *face), (GENUINE_FINGER, 6), fmr)
    assert stranger.veto == "face_against" and not stranger.matches("fused")
    assert stranger.matches("either")  # an alarm still sounds on the finger alone
    assert not stranger.matches("both")
    genuine = decide_person(model, "p", (GENUINE_FACE, *face), (GENUINE_FINGER, 6), fmr)
    assert all(genuine.matches(rule) for rule in ("fused", "either", "both"))
    face_only = decide_person(model, "p", (0.95, *face), (None, 0), fmr)
    assert face_only.used == ("face",) and face_only.matches("fused")
    # no finger to compare: "both" falls back to the face (the gate itself refuses a *required*
    # finger that has nothing to compare against, as finger_not_enrolled)
    assert face_only.matches("both")
    weak_face = decide_person(model, "p", (0.90, *face), (None, 0), fmr)
    assert not weak_face.matches("both")
    finger_only = decide_person(model, "p", (None, *face), (GENUINE_FINGER, 6), fmr)
    assert finger_only.used == ("finger",) and finger_only.matches("fused")
    # the visitor exit's rule needs both modalities: a finger alone is not a visitor leaving
    assert not finger_only.matches("together") and not stranger.matches("together")
    assert genuine.matches("together") and face_only.matches("together")
    assert not weak_face.matches("together")


def test_together_passes_a_visitor_whose_face_is_below_its_own_threshold_on_a_genuine_finger(
    model: FusionModel,
) -> None:
    """The visitor exit's rule: face and finger fused for the same person, as `both` was not.
    A genuine but unremarkable face (below the face's own threshold, above the veto) with a
    genuine finger is the leaver; the same face with a stranger's finger is not."""
    face_threshold, fmr = 0.95, 1e-4
    tail = (face_threshold, lambda score: 1e-2 if score >= 0.92 else 0.5)
    leaver = decide_person(model, "p", (0.93, *tail), (GENUINE_FINGER, 6), fmr)
    assert not leaver.face_match and leaver.finger_match and leaver.veto is None
    assert leaver.matches("together") and not leaver.matches("both")
    impostor_finger = decide_person(model, "p", (0.93, *tail), (0.0, 6), fmr)
    assert not impostor_finger.matches("together")
    # a confident face does not carry a stranger's finger out: the finger must support the person
    confident = (face_threshold, lambda score: 1e-12)
    strangers_finger = decide_person(model, "p", (0.99, *confident), (0.01, 6), fmr)
    assert strangers_finger.fused_match and strangers_finger.finger_support is not None
    assert strangers_finger.finger_score < strangers_finger.finger_support
    assert not strangers_finger.matches("together")


def test_the_1_to_n_fused_threshold_holds_the_fmr_for_independent_impostor_tails() -> None:
    """-ln p1 - ln p2 of uniform p's exceeds tail_threshold(f) with probability f."""
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(2, 2_000_000))
    evidence = -np.log(p).sum(axis=0)
    for fmr in (1e-2, 1e-3, 1e-4):
        assert (evidence >= tail_threshold(fmr)).mean() == pytest.approx(fmr, rel=0.1)


def test_tail_probabilities_rise_to_one_below_the_loosest_point(model: FusionModel) -> None:
    for part in (model.face, model.finger):
        for point in part.operating_points:
            assert part.fmr_at(point.threshold) == pytest.approx(point.target_fmr, rel=1e-9)
        low = min(p.threshold for p in part.operating_points)
        assert part.fmr_at(low - 1.0) == 1.0
        assert tail_evidence(part.fmr_at(10.0)) == pytest.approx(-math.log(P_FLOOR))


def test_the_empirical_operating_point_lets_the_target_share_of_strangers_through() -> None:
    from edge.fused_eval import _empirical_fnir

    strangers = [float(v) for v in np.linspace(-10, 0, 1000)]  # best margins of 1,000 strangers
    mates = [-0.5, -0.02, 0.5, 1.0]
    # 1%: the 10 best strangers (down to -0.09) pass, and so do the mates from -0.02 up
    assert _empirical_fnir((mates, strangers), 0.01) == 0.25
    # 0.1%: only the best stranger (0.0) passes: the mate at -0.02 is missed too
    assert _empirical_fnir((mates, strangers), 0.001) == 0.5


def test_the_veto_reads_the_cosine_when_the_face_score_is_snorm(model: FusionModel) -> None:
    # an S-norm score (here 3.0, far above any cosine) must not hide a stranger's cosine
    face, fmr = (2.0, lambda score: 1e-9 if score >= 2.0 else 0.5), 1e-5
    stranger = decide_person(model, "p", (3.0, *face), (GENUINE_FINGER, 6), fmr, STRANGER_FACE)
    assert stranger.veto == "face_against" and stranger.face_cosine == STRANGER_FACE
    genuine = decide_person(model, "p", (3.0, *face), (GENUINE_FINGER, 6), fmr, GENUINE_FACE)
    assert genuine.veto is None and genuine.matches("both")
