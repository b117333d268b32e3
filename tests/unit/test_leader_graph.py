"""The LEADER converter: Keras 3 weights file -> ONNX, checked without TensorFlow.

Structure on a generated weights file (the real file's layer shapes, seeded values, so the
test owns the numbers): every layer is read from the key Keras 3 gives it, and the graph runs.
Equivalence with pyfing's own Keras network on a generated print: the fixture
tests/fixtures/leader_synthetic.npz, made by scripts/leader_fixture.py in a TensorFlow venv.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import onnxruntime as ort
import pytest

from models.fingerprint import leader
from models.fingerprint.leader_graph import (
    CONVERTER_VERSION,
    KERAS_ORDER,
    LeaderNetwork,
    keras_class,
    weights_by_layer,
)
from models.manifest import sha256_of
from models.obtain import convert, package_resource
from models.store import ModelStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "leader_synthetic.npz"


@pytest.fixture(scope="module")
def source() -> Path:
    path = package_resource("pyfing", "models/LEADER.weights.h5")
    if not path.is_file():
        pytest.skip("pyfing 0.7.3 is not installed (pip install -e .)")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("models"), tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def extractor(source: Path, store: ModelStore) -> leader.LeaderExtractor:
    del source  # only for its skip
    return leader.load_extractor(store, threads=1)


def _generated(source: Path, target: Path) -> dict[str, list[np.ndarray]]:
    """A weights file laid out like the real one, with seeded values; the values by layer."""
    rng = np.random.default_rng(3)
    expected: dict[str, list[np.ndarray]] = {}
    counts: dict[str, int] = {}
    with h5py.File(source, "r") as real, h5py.File(target, "w") as fake:
        for name in KERAS_ORDER.split():
            kind = keras_class(name)
            key = f"layers/{kind}{'_' + str(counts[kind]) if counts.get(kind) else ''}/vars"
            counts[kind] = counts.get(kind, 0) + 1
            arrays = [rng.normal(0, 0.2, real[key][str(i)].shape).astype(np.float32)
                      for i in range(len(real[key]))]  # fmt: skip
            for i, array in enumerate(arrays):
                fake[f"{key}/{i}"] = array
            expected[name] = arrays
    return expected


def test_every_layer_is_read_from_the_key_keras_gave_it(source: Path, tmp_path: Path) -> None:
    expected = _generated(source, tmp_path / "fake.weights.h5")
    read = weights_by_layer(tmp_path / "fake.weights.h5")
    assert read.keys() == expected.keys()
    for name, arrays in expected.items():
        assert len(read[name]) == len(arrays), name
        for got, want in zip(read[name], arrays, strict=True):
            np.testing.assert_array_equal(got, want)


def test_the_real_file_gives_pyfings_layer_shapes(source: Path) -> None:
    weights = weights_by_layer(source)
    assert weights["stem0_conv"][0].shape == (5, 5, 1, 8)
    assert weights["head_conv_pos"][0].shape == (5, 5, 4, 1)
    assert weights["head_conv_dir"][0].shape == (5, 5, 4, 2)
    assert weights["nms_Gaussian_blur"][0].shape == (5, 5, 1, 1)  # no bias
    assert weights["dec1_0_conv_adj"][0].shape == (1, 1, 106, 20)
    # The blur is OpenCV's 5-tap kernel (1 4 6 4 1)/16 squared, as pyfing sets it.
    taps = np.array([1, 4, 6, 4, 1]) / 16
    np.testing.assert_allclose(weights["nms_Gaussian_blur"][0][:, :, 0, 0], np.outer(taps, taps))


def test_a_generated_network_runs_and_keeps_its_map_contract(source: Path, tmp_path: Path) -> None:
    _generated(source, tmp_path / "fake.weights.h5")
    model = LeaderNetwork(weights_by_layer(tmp_path / "fake.weights.h5")).build()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(1).integers(0, 256, (1, 1, 64, 96)).astype(np.float32)
    (maps,) = session.run(None, {"image": image})
    assert maps.shape == (1, 4, 64, 96)
    assert np.all((maps[0, 0] >= 0) & (maps[0, 0] <= 1)) and np.all(np.abs(maps[0, 1]) <= np.pi)
    kept = maps[0, 3] > 0
    assert np.all(maps[0, 3][kept] <= maps[0, 0].max() + 1e-6)


def test_convert_pins_the_onnx_file_with_a_sidecar(source: Path, store: ModelStore) -> None:
    file = leader.leader_file()
    assert file.conversion is not None and file.role == "finger_extractor"
    assert sha256_of(source) == file.conversion.source_sha256
    target = convert(store, file)
    assert store.status(file).state == "verified"
    sidecar = json.loads(store.sidecar_of(file).read_text())
    assert (sidecar["converter"], sidecar["converter_version"]) == ("leader", CONVERTER_VERSION)
    assert target.stat().st_mode & 0o044 == 0o044  # readable by the service's user


def test_onnx_maps_equal_pyfings_keras_maps_on_a_generated_print(
    extractor: leader.LeaderExtractor,
) -> None:
    fixture = np.load(FIXTURE)
    image, keras_maps = fixture["image"], fixture["maps"].transpose(2, 0, 1)
    maps = extractor.session.run(None, {"image": image[None, None].astype(np.float32)})[0][0]
    for channel in (0, 2, 3):
        np.testing.assert_allclose(maps[channel], keras_maps[channel], atol=1e-4)
    turn = np.angle(np.exp(1j * (maps[1] - keras_maps[1])))  # directions compared on the circle
    assert np.abs(turn).max() < 1e-3
    ours, keras = leader.minutiae_from_maps(maps), leader.minutiae_from_maps(keras_maps)
    assert len(ours) >= 3
    np.testing.assert_array_equal(ours[:, [0, 1, 4]], keras[:, [0, 1, 4]])
