"""Convert pyfing's LEADER minutiae network (Keras 3 weights file) to ONNX, without TensorFlow.

LEADER (Cappelli and Ferrara; pyfing 0.7.3, MIT) maps a 500 ppi grey fingerprint to four maps:
minutia probability, direction, type and the probability kept by non-maximum suppression. The
architecture below is pyfing's `Leader._build_model` layer for layer (the layer names are
pyfing's); the weights come from `LEADER.weights.h5` read with h5py.

Graph contract, relied on by models/fingerprint/leader.py: input ``image`` float32 [N, 1, H, W],
pixel values 0..255, H and W multiples of 32; output ``maps`` float32 [N, 4, H, W]: channel 0
minutia probability (sigmoid), 1 direction atan2 in (-pi, pi], 2 type (>= 0.5 ridge ending),
3 the Gaussian-blurred probability where it is the maximum of its 7x7 window, else 0.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import h5py
import numpy as np
import onnx

from models.fingerprint.leader_layers import Array, KerasGraph

INPUT_NAME, OUTPUT_NAME, OUTPUT_CHANNELS = "image", "maps", 4

# A Keras 3 weights file names each layer by class and its rank among that class's layers in
# the functional model's layer order (by depth from the output, ties in traversal order), not
# by the layer's own name. This is that order for LEADER, printed from pyfing's own model with
# Keras 3.15 (`[l.name for l in Leader._build_model().layers if l.weights]`).
KERAS_ORDER = (
    """
stem0_conv stem0_dilated_conv stem0_ln enc0_0_conv enc0_0_ln enc0_1_conv enc0_1_ln enc0_2_conv
enc0_2_ln enc0_3_conv enc0_3_ln dec0_3_conv dec0_3_ln dec0_2_conv dec0_2_ln dec0_1_conv
dec0_1_ln dec0_0_conv dec0_0_ln stem1_conv stem1_dilated_conv attention_conv_d1
attention_conv_d3 attention_conv_d6 stem1_ln attention_s
"""
    + "".join(
        f" enc1_{i}_depthwise_conv enc1_{i}_ln enc1_{i}_conv_exp enc1_{i}_conv_red enc1_{i}_conv_adj"
        for i in range(4)
    )
    + "".join(
        f" dec1_{i}_depthwise_conv dec1_{i}_ln dec1_{i}_conv_exp dec1_{i}_conv_red dec1_{i}_conv_adj"
        for i in reversed(range(4))
    )
    + """
head_0_ibc_depthwise_conv head_0_ibc_ln head_0_ibc_conv_exp head_1_ibc_depthwise_conv
head_0_ibc_conv_red head_1_ibc_ln head_2_ibc_depthwise_conv head_1_ibc_conv_exp head_2_ibc_ln
head_0_ibc_conv_adj head_1_ibc_conv_red head_2_ibc_conv_exp head_2_ibc_conv_red
head_1_ibc_conv_adj head_0_conv1 head_2_ibc_conv_adj head_0_ln head_0_conv2 head_1_conv1
head_conv_pos head_1_ln head_2_conv1 head_1_conv2 head_2_ln nms_Gaussian_blur head_conv_dir
head_2_conv2 head_conv_typ
"""
)


def keras_class(name: str) -> str:
    """The snake-case Keras class a LEADER layer name belongs to (the weights file's prefix)."""
    if name.endswith("_ln"):
        return "layer_normalization"
    if name.endswith("depthwise_conv"):
        return "depthwise_conv2d"
    if re.fullmatch(r"(enc0|dec0)_\d_conv", name):
        return "separable_conv2d"
    return "conv2d"


def weights_by_layer(source: Path) -> dict[str, list[Array]]:
    """Each LEADER layer's weight arrays, read from the Keras 3 `.weights.h5` file."""
    counts: dict[str, int] = {}
    weights: dict[str, list[Array]] = {}
    with h5py.File(source, "r") as h5:
        for name in KERAS_ORDER.split():
            kind = keras_class(name)
            rank = counts.get(kind, 0)
            counts[kind] = rank + 1
            group = h5[f"layers/{kind}{'_' + str(rank) if rank else ''}/vars"]
            weights[name] = [np.asarray(group[str(i)], np.float32) for i in range(len(group))]
    return weights


class LeaderNetwork:
    """Walks pyfing's LEADER architecture, appending each block's nodes to a KerasGraph."""

    def __init__(self, weights: dict[str, list[Array]]) -> None:
        self.w, self.g = weights, KerasGraph(INPUT_NAME, 1)

    def _conv(self, name: str, x: str, dilation: int = 1) -> str:
        kernel, *bias = self.w[name]
        return self.g.conv(x, kernel, bias[0] if bias else None, dilation)

    def _ln(self, name: str, x: str) -> str:
        return self.g.layer_norm(x, *self.w[name])

    def stem(self, name: str, x: str, max_pooling: bool) -> str:
        both = self.g.concat(
            self._conv(f"{name}_conv", x), self._conv(f"{name}_dilated_conv", x, 2)
        )
        return self.g.pool(
            self.g.gelu(self._ln(f"{name}_ln", both)), "max" if max_pooling else "avg"
        )

    def sep_conv(self, name: str, x: str) -> str:
        return self.g.gelu(self._ln(f"{name}_ln", self.g.separable(x, *self.w[f"{name}_conv"])))

    def inverse_bottleneck(self, name: str, x: str) -> str:
        y = self._ln(f"{name}_ln", self.g.depthwise(x, self.w[f"{name}_depthwise_conv"][0]))
        y = self._conv(f"{name}_conv_red", self.g.gelu(self._conv(f"{name}_conv_exp", y)))
        return self._conv(f"{name}_conv_adj", self.g.op("Add", x, y))

    def downsample(self, x: str, channels: int) -> str:
        low, high = self.g.split(x, [channels // 2, channels - channels // 2])
        return self.g.concat(self.g.pool(low, "max"), self.g.pool(high, "avg"))

    def head(self, name: str, x: str) -> str:
        x = self.g.upsample(self.inverse_bottleneck(f"{name}_ibc", x))
        x = self._ln(f"{name}_ln", self._conv(f"{name}_conv1", x))
        return self.g.gelu(self._conv(f"{name}_conv2", x))

    def _width(self, name: str) -> int:
        return int(self.w[name][-1].shape[0])  # a layer's bias: its output channels

    def context(self, x: str) -> str:
        """Context encoder-decoder, on the max-pooled stem."""
        skips = []
        for i in range(4):
            x = self.sep_conv(f"enc0_{i}", x)
            skips.append(x)
            x = self.downsample(x, self._width(f"enc0_{i}_conv"))
        for i in reversed(range(4)):
            x = self.g.concat(self.g.upsample(self.sep_conv(f"dec0_{i}", x)), skips[i])
        return x

    def refinement(self, x: str) -> str:
        """Refinement encoder-decoder of inverse bottlenecks."""
        skips = []
        for i in range(4):
            x = self.inverse_bottleneck(f"enc1_{i}", x)
            skips.append(x)
            x = self.downsample(x, self._width(f"enc1_{i}_conv_adj"))
        for i in reversed(range(4)):
            x = self.g.concat(self.g.upsample(self.inverse_bottleneck(f"dec1_{i}", x)), skips[i])
        return x

    def build(self) -> onnx.ModelProto:
        """The whole network, input to the four output maps."""
        g, image = self.g, INPUT_NAME
        x, x1 = self.context(self.stem("stem0", image, True)), self.stem("stem1", image, False)
        dilated = [g.gelu(self._conv(f"attention_conv_d{d}", x, d)) for d in (1, 3, 6)]
        gate = g.op("Sigmoid", self._conv("attention_s", g.concat(*dilated)))
        x = self.refinement(g.concat(g.op("Mul", x, gate), x1))
        heads = [self.head(f"head_{k}", x) for k in range(3)]
        pos = g.op("Sigmoid", self._conv("head_conv_pos", heads[0]))
        cos_sin = g.split(self._conv("head_conv_dir", heads[1]), [1, 1])
        direction = g.atan2(cos_sin[1], cos_sin[0])
        kind = g.op("Sigmoid", self._conv("head_conv_typ", heads[2]))
        nms = g.non_maximum(self._conv("nms_Gaussian_blur", pos), 7)
        maps = g.concat(pos, direction, kind, nms)
        return g.to_model(maps, OUTPUT_NAME, OUTPUT_CHANNELS, "pyfing_leader")


def build_leader(source: Path) -> onnx.ModelProto:
    """The ONNX model of the LEADER weights file at `source`, checked by onnx."""
    model = LeaderNetwork(weights_by_layer(source)).build()
    onnx.checker.check_model(model)
    return model


# Raise it (and models/store.py's CONVERTER_VERSIONS) with any change to the ONNX written:
# sites then convert again instead of loading a cache made by the old code.
CONVERTER_VERSION = 1


def convert_leader(source: Path, target: Path) -> None:
    """Write the ONNX conversion of `source` to `target`, atomically (converter "leader")."""
    model = build_leader(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        onnx.save(model, temporary)
        temporary.chmod(0o644)  # mkstemp's 0600 would hide the model from the service user
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
