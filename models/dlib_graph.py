"""Translate dlib DNN layers, one at a time, into ONNX nodes with dlib's exact semantics.

Shapes are tracked here as (channels, rows, columns) because dlib's residual sum needs them:
``add_prev_`` adds tensors of different sizes by zero-padding the smaller one at the end of
every dimension, which in ONNX is an explicit Pad before the Add.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.dlib_format import DlibLayer

Shape = tuple[int, int, int]  # channels, rows, columns; the batch dimension stays dynamic


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    """dlib's output length for convolutions and pooling (floor division)."""
    return 1 + (size + 2 * pad - window) // stride


class GraphBuilder:
    """Accumulates ONNX nodes and initializers while walking a dlib network from the input up."""

    def __init__(self, input_name: str, input_shape: Shape) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.input_name, self.input_shape = input_name, input_shape
        self.tensor, self.shape = input_name, input_shape
        self._tags: dict[int, tuple[str, Shape]] = {}
        self._handlers: dict[str, Callable[[int, DlibLayer], None]] = {
            "con_4": self._conv,
            "relu_": self._relu,
            "max_pool_2": self._pool,
            "avg_pool_2": self._pool,
            "tag": self._tag,
            "skip": self._skip,
            "add_prev_": self._add_prev,
            "fc_2": self._fc,
        }

    def _constant(self, array: np.ndarray) -> str:
        name = f"const_{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def _node(self, op: str, inputs: list[str], shape: Shape, **attrs: Any) -> str:
        output = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.tensor, self.shape = output, shape
        return output

    def normalise_input(self, means: tuple[float, float, float]) -> None:
        """dlib's input layer: (pixel - channel mean) / 256, in float32 like dlib."""
        mean = np.array(means, dtype=np.float32).reshape(1, 3, 1, 1)
        self._node("Sub", [self.tensor, self._constant(mean)], self.shape)
        # 1/256 is a power of two, so this multiply rounds exactly like dlib's division.
        self._node(
            "Mul", [self.tensor, self._constant(np.array(1 / 256, dtype=np.float32))], self.shape
        )

    def apply(self, kind: str, tag: int, layer: DlibLayer) -> None:
        """Append the nodes for one layer (kinds: dlib's names, plus 'tag' and 'skip')."""
        handler = self._handlers.get(kind)
        if handler is None:
            raise ValueError(f"expected a layer kind in {sorted(self._handlers)}, found {kind!r}")
        handler(tag, layer)

    def _conv(self, _tag: int, layer: DlibLayer) -> None:
        weights, ints = layer.tensors["weights"], layer.ints
        if weights.shape[1] != self.shape[0]:
            raise ValueError(
                f"expected a con_ with {self.shape[0]} input channels, found {weights.shape[1]}"
            )
        pad_y, pad_x, stride_y, stride_x = (
            ints[k] for k in ("padding_y", "padding_x", "stride_y", "stride_x")
        )
        rows = _out_size(self.shape[1], ints["nr"], stride_y, pad_y)
        cols = _out_size(self.shape[2], ints["nc"], stride_x, pad_x)
        inputs = [self.tensor, self._constant(weights), self._constant(layer.tensors["bias"])]
        self._node(
            "Conv",
            inputs,
            (weights.shape[0], rows, cols),
            kernel_shape=[ints["nr"], ints["nc"]],
            strides=[stride_y, stride_x],
            pads=[pad_y, pad_x, pad_y, pad_x],
        )

    def _relu(self, _tag: int, _layer: DlibLayer) -> None:
        self._node("Relu", [self.tensor], self.shape)

    def _pool(self, _tag: int, layer: DlibLayer) -> None:
        ints = layer.ints
        # A window of 0 means "the whole input" (dlib's avg_pool_everything).
        win_y, win_x = ints["nr"] or self.shape[1], ints["nc"] or self.shape[2]
        pad_y, pad_x, stride_y, stride_x = (
            ints[k] for k in ("padding_y", "padding_x", "stride_y", "stride_x")
        )
        rows = _out_size(self.shape[1], win_y, stride_y, pad_y)
        cols = _out_size(self.shape[2], win_x, stride_x, pad_x)
        op = "MaxPool" if layer.kind == "max_pool_2" else "AveragePool"
        self._node(
            op,
            [self.tensor],
            (self.shape[0], rows, cols),
            kernel_shape=[win_y, win_x],
            strides=[stride_y, stride_x],
            pads=[pad_y, pad_x, pad_y, pad_x],
        )

    def _tag(self, tag: int, _layer: DlibLayer) -> None:
        # Later tags with the same id shadow earlier ones, as dlib's layer<tag> finds the nearest.
        self._tags[tag] = (self.tensor, self.shape)

    def _skip(self, tag: int, _layer: DlibLayer) -> None:
        self.tensor, self.shape = self._tags[tag]

    def _padded(self, tensor: str, shape: Shape, target: Shape) -> str:
        """Zero-pad at the end of channels, rows and columns, as dlib's tt::add does."""
        if shape == target:
            return tensor
        extra = [t - s for s, t in zip(shape, target, strict=True)]
        pads = self._constant(np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64))
        return self._node("Pad", [tensor, pads], target)

    def _add_prev(self, tag: int, _layer: DlibLayer) -> None:
        (near, near_shape), (far, far_shape) = (self.tensor, self.shape), self._tags[tag]
        target: Shape = tuple(max(a, b) for a, b in zip(near_shape, far_shape, strict=True))  # type: ignore[assignment]
        inputs = [self._padded(near, near_shape, target), self._padded(far, far_shape, target)]
        self._node("Add", inputs, target)

    def _fc(self, _tag: int, layer: DlibLayer) -> None:
        weights = layer.tensors["weights"]
        flat = math.prod(self.shape)
        if weights.shape[0] != flat:
            raise ValueError(f"expected an fc_ layer with {flat} inputs, found {weights.shape[0]}")
        self._node("Flatten", [self.tensor], (flat, 1, 1), axis=1)
        self._node("MatMul", [self.tensor, self._constant(weights)], (weights.shape[1], 1, 1))

    def to_model(self, output_name: str, width: int, opset: int, producer: str) -> onnx.ModelProto:
        """Close the graph: rename the last output, declare a dynamic batch, build the model."""
        if self.shape != (width, 1, 1):
            raise ValueError(f"expected a final output of {width} values, found {self.shape}")
        self.nodes[-1].output[0] = output_name
        batch = "N"
        inputs = [
            helper.make_tensor_value_info(
                self.input_name, TensorProto.FLOAT, [batch, *self.input_shape]
            )
        ]
        outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, width])]
        graph = helper.make_graph(
            self.nodes,
            "dlib_face_recognition_resnet_model_v1",
            inputs,
            outputs,
            initializer=self.initializers,
        )
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name=producer,
            producer_version="1",
        )
