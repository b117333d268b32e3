"""Liveness pre-processing, session reading and fusion, on tiny ONNX graphs built here.

Each stand-in model averages its input over H and W (ReduceMean) and multiplies the three
channel means by a constant matrix (MatMul), so the colour of the crop decides which class
wins. That checks the crop, BGR order, the raw 0..255 scale, softmax and the mean fusion.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.faces import DetectedFace
from models.liveness import (
    DEFAULT_THRESHOLD,
    V1SE_SCALE,
    V2_SCALE,
    AntiSpoofBranch,
    LivenessModel,
    antispoof_window,
    crop_for_antispoof,
    shrink_for_antispoof,
    softmax,
    to_input_tensor,
)

# Rows are input channels (B, G, R), columns the classes (spoof, live, spoof).
GREEN_IS_LIVE = np.array([[0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05]], dtype=np.float32)
RED_IS_LIVE = np.array([[0.05, 0, 0], [0, 0, 0], [0, 0.05, 0]], dtype=np.float32)

GREEN, RED = (0, 255, 0), (0, 0, 255)


def tiny_session(
    weights: np.ndarray,
    shape: tuple[int | str, ...] = (1, 3, 80, 80),
    input_name: str = "input",
) -> ort.InferenceSession:
    """A few-hundred-byte anti-spoof stand-in: logits = mean_hw(input) @ weights."""
    pixels = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(shape))
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [shape[0], 3])
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_antispoof", [pixels], [logits], [numpy_helper.from_array(weights, "weights")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def scene(face_colour: tuple[int, int, int], size: tuple[int, int] = (400, 400)) -> np.ndarray:
    """A uniformly coloured frame: every crop of it has that colour."""
    image = np.zeros((*size, 3), dtype=np.uint8)
    image[:] = face_colour
    return image


def a_face(box=(150.0, 150.0, 250.0, 250.0)) -> DetectedFace:
    return DetectedFace(box, np.zeros((5, 2), dtype=np.float32), 0.9)


def expected_live(weights: np.ndarray, colour: tuple[int, int, int]) -> float:
    logits = np.asarray(colour, dtype=np.float32)[None] @ weights
    return float(softmax(logits)[0, 1])


# --- crop geometry ---------------------------------------------------------------------------


def test_window_is_the_box_scaled_about_its_centre():
    assert antispoof_window((400, 400), (150, 150, 250, 250), 2.0) == (100, 100, 300, 300)


def test_window_near_the_top_left_is_shifted_inside_not_shrunk():
    x1, y1, x2, y2 = antispoof_window((1000, 1000), (0, 0, 100, 100), 2.7)
    assert (x1, y1) == (0, 0)
    assert (x2 - x1, y2 - y1) == (270, 270)


def test_window_near_the_bottom_right_is_shifted_inside_not_shrunk():
    x1, y1, x2, y2 = antispoof_window((600, 800), (740, 540, 800, 600), 4.0)
    assert (x2, y2) == (799, 599)
    assert (x2 - x1, y2 - y1) == (240, 240)


def test_scale_is_capped_so_the_window_fits_the_image():
    # H=200, W=300, a 100x100 box: 4.0 is capped to min(199/100, 299/100) = 1.99.
    x1, y1, x2, y2 = antispoof_window((200, 300), (100, 50, 200, 150), 4.0)
    assert (y1, y2) == (0, 199)
    assert x2 - x1 == 199
    assert x1 >= 0 and x2 <= 299


def test_crop_has_the_requested_size_and_keeps_bgr_uint8():
    image = scene(GREEN)
    crop = crop_for_antispoof(image, (150, 150, 250, 250), V2_SCALE, (80, 60))
    assert crop.shape == (60, 80, 3)
    assert crop.dtype == np.uint8
    assert (crop == GREEN).all()


def test_crop_sees_the_surroundings_at_larger_scale():
    image = scene(RED)
    image[150:250, 150:250] = GREEN  # the face box is green, the surroundings red
    tight = crop_for_antispoof(image, (150, 150, 250, 250), 1.0, (80, 80))
    wide = crop_for_antispoof(image, (150, 150, 250, 250), V1SE_SCALE, (80, 80))
    assert tight[..., 1].mean() > 240  # the window is inclusive: one edge row of red
    assert wide[..., 2].mean() > 100  # red context now fills most of the window


def test_input_tensor_is_nchw_float_raw_0_255_in_bgr_order():
    crop = np.zeros((80, 80, 3), dtype=np.uint8)
    crop[..., 0] = 255  # blue
    tensor = to_input_tensor([crop, crop])
    assert tensor.shape == (2, 3, 80, 80)
    assert tensor.dtype == np.float32
    assert tensor[:, 0].max() == 255.0  # no /255, no mean/std, no swap to RGB
    assert tensor[:, 2].max() == 0.0


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    probabilities = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 0] == pytest.approx(1.0)


def test_shrink_only_ever_shrinks_to_the_working_size():
    big, factor = shrink_for_antispoof(scene(GREEN, (1200, 1600)), 640)
    assert big.shape[:2] == (480, 640)
    assert factor == pytest.approx(0.4)
    small = scene(GREEN, (112, 92))
    same, one = shrink_for_antispoof(small, 640)
    assert same is small and one == 1.0


# --- session reading and fusion --------------------------------------------------------------


def test_branch_reads_input_name_and_size_from_the_session():
    branch = AntiSpoofBranch(tiny_session(GREEN_IS_LIVE, (1, 3, 64, 48), "pixels"), 2.7)
    assert branch.input_name == "pixels"
    assert branch.input_size == (48, 64)  # (width, height) from NCHW
    assert not branch.batches
    probabilities = branch.live_probabilities(scene(GREEN), [a_face().box])
    assert probabilities[0] == pytest.approx(expected_live(GREEN_IS_LIVE, GREEN), abs=1e-5)


def test_model_with_dynamic_spatial_size_is_refused_at_construction():
    session = tiny_session(GREEN_IS_LIVE, (1, 3, "height", "width"))
    with pytest.raises(ValueError, match="fixed H and W"):
        LivenessModel([AntiSpoofBranch(session, 2.7)])


def test_green_face_is_live_and_red_face_is_not():
    model = LivenessModel.from_sessions(tiny_session(GREEN_IS_LIVE), tiny_session(GREEN_IS_LIVE))
    assert model.live_score(scene(GREEN), a_face()) > 0.99
    assert model.live_score(scene(RED), a_face()) < 0.01
    assert model.is_live(scene(GREEN), a_face())
    assert not model.is_live(scene(RED), a_face())


def test_fused_score_is_the_mean_of_the_two_models():
    model = LivenessModel.from_sessions(tiny_session(GREEN_IS_LIVE), tiny_session(RED_IS_LIVE))
    colour = (40, 200, 120)
    per_model = model.model_scores(scene(colour), [a_face()])[:, 0]
    expected = [expected_live(GREEN_IS_LIVE, colour), expected_live(RED_IS_LIVE, colour)]
    assert per_model == pytest.approx(expected, abs=1e-5)
    assert model.live_score(scene(colour), a_face()) == pytest.approx(np.mean(expected), abs=1e-5)


def test_from_sessions_pairs_v2_with_2_7_and_v1se_with_4_0():
    v2, v1se = tiny_session(GREEN_IS_LIVE), tiny_session(RED_IS_LIVE)
    model = LivenessModel.from_sessions(v2, v1se)
    assert [(b.session, b.scale) for b in model.branches] == [(v2, 2.7), (v1se, 4.0)]


@pytest.mark.parametrize("batch_axis", [1, "N"])
def test_a_batch_of_faces_scores_like_one_face_at_a_time(batch_axis: int | str):
    session = tiny_session(GREEN_IS_LIVE, (batch_axis, 3, 80, 80))
    model = LivenessModel([AntiSpoofBranch(session, 2.7), AntiSpoofBranch(session, 4.0)])
    image = scene(RED, (400, 600))
    image[:, 300:] = GREEN  # left face red, right face green
    faces = [a_face((100, 150, 160, 210)), a_face((420, 150, 480, 210))]
    together = model.live_scores(image, faces)
    one_by_one = [model.live_score(image, face) for face in faces]
    assert model.branches[0].batches == (batch_axis == "N")
    assert together == pytest.approx(one_by_one, abs=1e-6)
    assert together[0] < 0.5 < together[1]


def test_no_faces_gives_an_empty_score_array():
    model = LivenessModel.from_sessions(tiny_session(GREEN_IS_LIVE), tiny_session(GREEN_IS_LIVE))
    assert model.model_scores(scene(GREEN), []).shape == (2, 0)


def test_large_frames_score_like_their_working_size_copy():
    model = LivenessModel.from_sessions(tiny_session(GREEN_IS_LIVE), tiny_session(RED_IS_LIVE))
    large = scene((30, 160, 90), (1600, 2400))
    small, factor = shrink_for_antispoof(large, 640)
    face = a_face((1000.0, 600.0, 1300.0, 950.0))
    assert model.live_score(large, face) == pytest.approx(
        model.live_score(small, face.scaled(factor)), abs=1e-5
    )


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1])
def test_threshold_outside_the_open_unit_interval_is_refused(threshold: float):
    with pytest.raises(ValueError, match="threshold"):
        LivenessModel.from_sessions(
            tiny_session(GREEN_IS_LIVE), tiny_session(GREEN_IS_LIVE), threshold
        )


def test_threshold_defaults_to_the_measured_value():
    model = LivenessModel.from_sessions(tiny_session(GREEN_IS_LIVE), tiny_session(GREEN_IS_LIVE))
    assert model.threshold == DEFAULT_THRESHOLD
