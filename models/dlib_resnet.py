"""Convert dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1) to ONNX.

Graph contract, relied on by the embedder: input ``chip`` float32 [N, 3, 150, 150] holding RGB
pixel values 0..255 of a dlib-aligned chip (``dlib.get_face_chip``, size 150, padding 0.25);
output ``descriptor`` float32 [N, 128], not L2-normalised, as dlib returns it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from models.dlib_format import WRAPPER, DlibLayer, DlibNetwork, read_dlib_network
from models.dlib_graph import GraphBuilder

INPUT_NAME, OUTPUT_NAME = "chip", "descriptor"
CHIP_SIZE, DESCRIPTOR_SIZE = 150, 128
OPSET, IR_VERSION = 17, 8  # IR 8 is the one that goes with opset 17: older runtimes load it
PRODUCER = "gerbang"
_CONV_MODE, _FC_NO_BIAS = 0, 1  # dlib's layer_mode and fc_bias_mode enum values


def source_model_path() -> Path:
    """The dlib ResNet file shipped inside the installed face_recognition_models package."""
    root = importlib.resources.files("face_recognition_models")
    return Path(str(root / "models" / "dlib_face_recognition_resnet_model_v1.dat"))


@dataclass(frozen=True)
class _Spec:
    """One layer of the expected architecture: kind, required settings, tag id."""

    kind: str
    ints: Mapping[str, int] = field(default_factory=dict)
    tag: int = 0


_Step = tuple[_Spec, DlibLayer]  # a layer from the file with its place in the architecture


def _window(window: int, stride: int) -> dict[str, int]:
    # dlib's template default: no padding when strided, otherwise "same" padding.
    pad = 0 if stride != 1 else window // 2
    return {
        "nr": window,
        "nc": window,
        "stride_y": stride,
        "stride_x": stride,
        "padding_y": pad,
        "padding_x": pad,
    }


def _con(filters: int, window: int, stride: int) -> _Spec:
    return _Spec("con_4", {"num_filters": filters, **_window(window, stride)})


_AFFINE, _RELU = _Spec("affine_", {"mode": _CONV_MODE}), _Spec("relu_")


def _block(filters: int, stride: int) -> list[_Spec]:
    return [_con(filters, 3, stride), _AFFINE, _RELU, _con(filters, 3, 1), _AFFINE]


def _ares(filters: int) -> list[_Spec]:
    return [_Spec("tag", tag=1), *_block(filters, 1), _Spec("add_prev_", tag=1), _RELU]


def _ares_down(filters: int) -> list[_Spec]:
    shortcut = [_Spec("tag", tag=2), _Spec("skip", tag=1), _Spec("avg_pool_2", _window(2, 2))]
    return [_Spec("tag", tag=1), *_block(filters, 2), *shortcut, _Spec("add_prev_", tag=2), _RELU]


def _architecture() -> list[_Spec]:
    """dnn_face_recognition_ex.cpp's anet_type, listed from the input upward."""
    layers = [_con(32, 7, 2), _AFFINE, _RELU, _Spec("max_pool_2", _window(3, 2))]
    layers += _ares(32) * 3
    layers += _ares_down(64) + _ares(64) * 3
    layers += _ares_down(128) + _ares(128) * 2
    layers += _ares_down(256) + _ares(256) * 2
    layers += _ares_down(256)
    fc = _Spec("fc_2", {"num_outputs": DESCRIPTOR_SIZE, "bias_mode": _FC_NO_BIAS})
    layers += [_Spec("avg_pool_2", _window(0, 1)), fc]  # avg_pool_everything, fc_no_bias
    return layers


def _check_layer(index: int, spec: _Spec, layer: DlibLayer) -> None:
    expected_kind = WRAPPER if spec.kind in ("tag", "skip") else spec.kind
    if layer.kind != expected_kind:
        raise ValueError(
            f"layer {index} from the input: expected {expected_kind!r}, found {layer.kind!r}"
        )
    found = {name: layer.ints.get(name) for name in spec.ints}
    if found != dict(spec.ints):
        raise ValueError(f"layer {index} ({layer.kind}): expected {dict(spec.ints)}, found {found}")


def _check_architecture(network: DlibNetwork, specs: list[_Spec]) -> None:
    """Refuse a file that is not exactly the network this converter knows how to translate."""
    if network.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(
            f"expected a {CHIP_SIZE}x{CHIP_SIZE} input layer, found {network.input_size}"
        )
    if len(network.layers) != len(specs):
        raise ValueError(
            f"expected {len(specs)} layers (tags included), found {len(network.layers)}"
        )
    for index, (spec, layer) in enumerate(zip(specs, network.layers, strict=True)):
        _check_layer(index, spec, layer)


def _fold_affine(conv: DlibLayer, affine: DlibLayer) -> DlibLayer:
    """A conv followed by per-channel x*gamma+beta is one conv with scaled filters and bias."""
    gamma = affine.tensors["gamma"].reshape(-1).astype(np.float64)
    beta = affine.tensors["beta"].reshape(-1).astype(np.float64)
    if gamma.size != conv.tensors["weights"].shape[0]:
        raise ValueError(
            f"expected an affine_ over {conv.ints['num_filters']} channels, found {gamma.size}"
        )
    weights = conv.tensors["weights"].astype(np.float64) * gamma[:, None, None, None]
    bias = conv.tensors["bias"].astype(np.float64) * gamma + beta
    tensors = {"weights": weights.astype(np.float32), "bias": bias.astype(np.float32)}
    return DlibLayer(conv.kind, conv.ints, tensors)


def _fold_affines(specs: list[_Spec], layers: tuple[DlibLayer, ...]) -> list[_Step]:
    """Pair specs with layers, merging every affine_ into the con_ it follows."""
    folded: list[_Step] = []
    for spec, layer in zip(specs, layers, strict=True):
        if layer.kind == "affine_":
            # The architecture check guarantees a con_ directly below every affine_.
            below_spec, below = folded.pop()
            folded.append((below_spec, _fold_affine(below, layer)))
        else:
            folded.append((spec, layer))
    return folded


def _source_digest(path: Path) -> str:
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _build_model(network: DlibNetwork, source: Path) -> onnx.ModelProto:
    specs = _architecture()
    _check_architecture(network, specs)
    graph = GraphBuilder(INPUT_NAME, (3, CHIP_SIZE, CHIP_SIZE))
    graph.normalise_input(network.channel_means)
    for spec, layer in _fold_affines(specs, network.layers):
        graph.apply(spec.kind, spec.tag, layer)
    model = graph.to_model(OUTPUT_NAME, DESCRIPTOR_SIZE, OPSET, PRODUCER)
    model.ir_version = IR_VERSION
    # The digest ties the ONNX file to the exact weights it came from (a pack manifest pins both).
    helper.set_model_props(model, {"source": source.name, "source_sha256": _source_digest(source)})
    return model


def _write_atomically(path: Path, payload: bytes) -> None:
    """Readers see the old file or the whole new one, never a half-written model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(0o644)  # mkstemp creates 0600; the service user must be able to read it
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# Raise it (and models/store.py's CONVERTER_VERSIONS) with any change to the ONNX written:
# sites then convert again instead of loading a cache made by the old code.
CONVERTER_VERSION = 1


def convert_dlib_resnet(dat_path: Path, onnx_path: Path) -> None:
    """Convert dlib's face-recognition ResNet file to a checked, deterministic ONNX model."""
    network = read_dlib_network(Path(dat_path))
    model = _build_model(network, Path(dat_path))
    onnx.checker.check_model(model, full_check=True)
    _write_atomically(Path(onnx_path), model.SerializeToString(deterministic=True))
