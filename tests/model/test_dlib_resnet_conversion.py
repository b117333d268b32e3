"""The ONNX conversion of dlib's face-recognition ResNet gives dlib's own descriptors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest

from models.dlib_resnet import convert_dlib_resnet, source_model_path

pytestmark = pytest.mark.model

dlib = pytest.importorskip("dlib")
ort = pytest.importorskip("onnxruntime")
face_models = pytest.importorskip("face_recognition_models")

Chip = npt.NDArray[np.uint8]
CHIPS_WANTED = 20
# Measured on the dev chips: max |difference| about 3e-7, cosine 1 - 1e-8. These bounds leave
# room for other BLAS builds but still catch any real mistake (a wrong pad moves values by >1e-2).
MAX_ABS_DIFFERENCE = 1e-4
MIN_COSINE = 0.99999


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as_input(chips: list[Chip]) -> npt.NDArray[np.float32]:
    """HWC RGB uint8 chips to the graph's NCHW float32 pixel values."""
    return np.stack([chip.transpose(2, 0, 1) for chip in chips]).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dlib_resnet") / "dlib_resnet.onnx"
    convert_dlib_resnet(source_model_path(), path)
    return path


@pytest.fixture(scope="module")
def session(onnx_path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def chips(dev_faces: Path) -> list[Chip]:
    """Aligned 150x150 chips cut by dlib's own pipeline, one photo per identity first."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_models.pose_predictor_five_point_model_location())
    photos = sorted(dev_faces.glob("*/*.jpg"), key=lambda p: (int(p.stem), p.parent.name))
    found: list[Chip] = []
    for photo in photos:
        image = dlib.load_rgb_image(str(photo))
        faces = detector(image, 1)
        if len(faces) == 1:
            shape = predictor(image, faces[0])
            found.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        if len(found) == CHIPS_WANTED:
            return found
    pytest.fail(f"only {len(found)} faces found in {dev_faces}, wanted {CHIPS_WANTED}")
    return found  # unreachable


def test_onnx_descriptors_match_dlib_on_real_aligned_chips(
    session: ort.InferenceSession, chips: list[Chip]
) -> None:
    recogniser = dlib.face_recognition_model_v1(str(source_model_path()))
    expected = np.array([recogniser.compute_face_descriptor(chip) for chip in chips])
    (found,) = session.run(["descriptor"], {"chip": _as_input(chips)})
    worst = float(np.abs(found - expected).max())
    cosines = np.sum(found * expected, axis=1) / (
        np.linalg.norm(found, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert found.shape == (CHIPS_WANTED, 128)
    assert worst < MAX_ABS_DIFFERENCE, f"max |onnx - dlib| = {worst:.3g}"
    assert cosines.min() > MIN_COSINE, f"min cosine = {cosines.min():.9f}"


def test_descriptors_are_not_normalised_like_dlibs(
    session: ort.InferenceSession, chips: list[Chip]
) -> None:
    (found,) = session.run(["descriptor"], {"chip": _as_input(chips[:4])})
    assert not np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-3)


def test_a_batch_gives_the_same_rows_as_single_runs(
    session: ort.InferenceSession, chips: list[Chip]
) -> None:
    batch = _as_input(chips[:8])
    (together,) = session.run(["descriptor"], {"chip": batch})
    alone = np.concatenate([session.run(["descriptor"], {"chip": row[None]})[0] for row in batch])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)


def test_the_graph_keeps_its_contract(onnx_path: Path) -> None:
    model = onnx.load(str(onnx_path))
    (chip,), (descriptor,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in chip.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in descriptor.type.tensor_type.shape.dim]
    assert (chip.name, dims) == ("chip", ["N", 3, 150, 150])
    assert (descriptor.name, out_dims) == ("descriptor", ["N", 128])
    assert model.producer_name == "gerbang"
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]


def test_conversion_is_deterministic(onnx_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.onnx"
    convert_dlib_resnet(source_model_path(), again)
    assert _sha256(again) == _sha256(onnx_path)


def test_a_truncated_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(source_model_path().read_bytes()[:4096])
    with pytest.raises(ValueError, match="truncated"):
        convert_dlib_resnet(truncated, tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truncated.dat"]


def test_a_file_with_an_unknown_layer_kind_is_refused(tmp_path: Path) -> None:
    original = source_model_path().read_bytes()
    corrupted = tmp_path / "corrupted.dat"
    corrupted.write_bytes(original.replace(b"\x05con_4", b"\x05con_9", 1))
    with pytest.raises(ValueError, match="found 'con_9'"):
        convert_dlib_resnet(corrupted, tmp_path / "out.onnx")


def test_a_file_that_is_not_dlib_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "photo.dat"
    other.write_bytes(b"\xff\xd8\xff\xe0 not a dlib network")
    with pytest.raises(ValueError, match="expected a dlib integer"):
        convert_dlib_resnet(other, tmp_path / "out.onnx")
