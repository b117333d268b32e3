"""Small builders shared by tests: tiny ONNX graphs, fake detectors, encoded images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from models.faces import DetectedFace


def tiny_recogniser(path: Path, size: int = 150, dim: int = 8, seed: int = 0) -> Path:
    """An ONNX graph chip [N,3,size,size] → [N,dim]: per-channel means times a fixed matrix.

    Real sessions, real batching, milliseconds to build; distinct colours give distinct vectors.
    """
    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(rng.normal(size=(3, dim)).astype(np.float32), "w")
    nodes = [
        helper.make_node("GlobalAveragePool", ["chip"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["descriptor"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", dim])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def face_at(x: float, y: float, size: float, score: float = 0.9) -> DetectedFace:
    """A frontal face whose box starts at (x, y) with landmarks where a real face has them."""
    relative = np.array(
        [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], dtype=np.float32
    )
    landmarks = relative * size + np.array([x, y], dtype=np.float32)
    return DetectedFace((x, y, x + size, y + size), landmarks.astype(np.float32), score)


class BrightSquareDetector:
    """Finds every white square on a dark image: a stand-in detector with real geometry."""

    def __init__(self, min_size: int = 8) -> None:
        self.min_size = min_size
        self.seen_shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        import cv2

        self.seen_shapes.append(image.shape)
        mask = (image.min(axis=2) > 200).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        faces = []
        for x, y, w, h, _area in stats[1:count]:
            if min(w, h) >= self.min_size:
                faces.append(face_at(float(x), float(y), float(max(w, h))))
        return faces


def encode(image: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode an RGB or gray array with PIL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def dense_recogniser(path: Path, size: int = 112, dim: int = 8, seed: int = 0) -> Path:
    """An ONNX graph chip [N,3,size,size] → [N,dim]: every pixel times a fixed random matrix.

    Unlike `tiny_recogniser` it tells a chip from its mirror image (flip tests), and it stands in
    for an ArcFace-class export in the pack plumbing tests (fetch, verify, calibrate, re-embed).
    """
    rng = np.random.default_rng(seed)
    flat = 3 * size * size
    weights = numpy_helper.from_array(rng.normal(size=(flat, dim)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.asarray([-1, flat], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["chip", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["descriptor"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", dim])],
        [weights, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
