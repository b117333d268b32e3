"""Keras layers as ONNX nodes with Keras's exact semantics, in NCHW (channels on axis 1).

Keras works in NHWC; ONNX Runtime's CPU kernels are fastest in NCHW, so every layer here is the
Keras layer with its kernel transposed once at conversion time and its channel axis moved from
-1 to 1. Spatial sizes stay symbolic: a caller pads the image to a multiple of 32, so the 2x2
poolings never meet an odd side and Keras's "same" padding adds nothing there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 20  # the first with a Gelu operator (exact erf form), so no erf subgraph is needed
IR_VERSION = 9  # the one that goes with opset 20
Array = npt.NDArray[np.float32]


class KerasGraph:
    """Accumulates ONNX nodes and initializers; each method appends one Keras layer."""

    def __init__(self, input_name: str, channels: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.input_name, self.input_channels = input_name, channels

    def constant(self, array: npt.ArrayLike, dtype: type = np.float32) -> str:
        """An initializer holding `array`; its name."""
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> list[str]:
        """Append one node; the names of its outputs."""
        base = f"{op.lower()}_{len(self.nodes)}"
        names = [base] if outputs == 1 else [f"{base}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=base, **attrs))
        return names

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        """Append a single-output node; its output's name."""
        return self.node(op, list(inputs), **attrs)[0]

    def conv(self, x: str, kernel: Array, bias: Array | None, dilation: int = 1) -> str:
        """Conv2D, padding "same": kernel (kh, kw, in, out) as Keras stores it."""
        weights = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        return self._conv(x, weights, bias, dilation, group=1)

    def depthwise(self, x: str, kernel: Array, bias: Array | None = None) -> str:
        """DepthwiseConv2D (multiplier 1), padding "same": kernel (kh, kw, channels, 1)."""
        weights = np.ascontiguousarray(kernel.transpose(2, 3, 0, 1))
        return self._conv(x, weights, bias, 1, group=kernel.shape[2])

    def separable(self, x: str, depthwise: Array, pointwise: Array, bias: Array) -> str:
        """SeparableConv2D: the depthwise kernel without bias, then the 1x1 pointwise with it."""
        return self.conv(self.depthwise(x, depthwise), pointwise, bias)

    def _conv(self, x: str, weights: Array, bias: Array | None, dilation: int, group: int) -> str:
        kh, kw = weights.shape[2:]
        # "same" with an odd kernel: the same padding both sides, dilation times half the kernel.
        ph, pw = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
        inputs = [x, self.constant(weights)]
        if bias is not None:
            inputs.append(self.constant(bias))
        return self.op(
            "Conv", *inputs, kernel_shape=[kh, kw], dilations=[dilation, dilation],
            pads=[ph, pw, ph, pw], group=group,
        )  # fmt: skip

    def layer_norm(self, x: str, gamma: Array, beta: Array, epsilon: float = 1e-3) -> str:
        """LayerNormalization over channels (Keras's axis -1, epsilon 1e-3 by default).

        ONNX's LayerNormalization normalises the last axes, so channels go last and back. Measured
        on a 416x384 input, one thread: 10% faster than the same sums as ReduceMean, Sub, Mul,
        Sqrt, Div in NCHW, and the same minutiae on one print of each FVC set."""
        last = self.op("Transpose", x, perm=[0, 2, 3, 1])
        normalised = self.op(
            "LayerNormalization", last, self.constant(gamma), self.constant(beta),
            axis=-1, epsilon=epsilon,
        )  # fmt: skip
        return self.op("Transpose", normalised, perm=[0, 3, 1, 2])

    def gelu(self, x: str) -> str:
        """Keras's default GELU, the exact erf form (approximate=False)."""
        return self.op("Gelu", x, approximate="none")

    def pool(self, x: str, kind: str, size: int = 2, stride: int = 2) -> str:
        """Max or average pooling; "same" padding only for odd windows at stride 1 (the NMS)."""
        pad = (size - 1) // 2 if stride == 1 else 0
        op = "MaxPool" if kind == "max" else "AveragePool"
        return self.op(op, x, kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4)

    def upsample(self, x: str) -> str:
        """UpSampling2D(2), nearest: every pixel becomes a 2x2 block."""
        scales = self.constant([1.0, 1.0, 2.0, 2.0])
        return self.op(
            "Resize", x, "", scales, mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )  # fmt: skip

    def split(self, x: str, sizes: list[int]) -> list[str]:
        """Channel slices x[..., :a], x[..., a:] ... as one Split."""
        return self.node("Split", [x, self.constant(sizes, np.int64)], len(sizes), axis=1)

    def concat(self, *xs: str) -> str:
        """Concatenate along channels."""
        return self.op("Concat", *xs, axis=1)

    def atan2(self, y: str, x: str) -> str:
        """atan2(y, x) in (-pi, pi], as tf.math.atan2: ONNX has no Atan2, so Atan of y/x corrected
        by quadrant. x = 0 needs no branch: y/0 is +-inf and Atan gives +-pi/2."""
        zero = self.constant(0.0)
        base = self.op("Atan", self.op("Div", y, x))
        half_turn = self.op(
            "Where", self.op("Less", y, zero), self.constant(-math.pi), self.constant(math.pi)
        )
        shifted = self.op("Add", base, half_turn)
        angle = self.op("Where", self.op("Less", x, zero), shifted, base)
        # 0/0 is NaN; tf gives 0 there (and pi for x < 0, which the branch above already has).
        both_zero = self.op("And", self.op("Equal", x, zero), self.op("Equal", y, zero))
        return self.op("Where", both_zero, zero, angle)  # fmt: skip

    def non_maximum(self, x: str, window: int) -> str:
        """Keep a value where it is the maximum of its window (stride 1), zero elsewhere."""
        peaks = self.pool(x, "max", window, 1)
        keep = self.op("Cast", self.op("Equal", x, peaks), to=TensorProto.FLOAT)
        return self.op("Mul", peaks, keep)

    def to_model(self, output: str, output_name: str, channels: int, name: str) -> onnx.ModelProto:
        """Close the graph: rename the last output and declare N x C x H x W with H, W symbolic."""
        for node in self.nodes:
            node.output[:] = [output_name if o == output else o for o in node.output]
        dims_in = ["N", self.input_channels, "H", "W"]
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(self.input_name, TensorProto.FLOAT, dims_in)],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", channels, "H", "W"])],
            initializer=self.initializers,
        )  # fmt: skip
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gerbang"
        )
        model.ir_version = IR_VERSION
        return model
