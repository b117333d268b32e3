"""Each Keras layer of the LEADER converter, as ONNX nodes, against a NumPy reference of Keras's
semantics (NHWC in Keras, NCHW here), on seeded tensors in tiny generated graphs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest

from models.fingerprint.leader_layers import KerasGraph

RNG = np.random.default_rng(7)


def _run(build: Callable[[KerasGraph, str], str], x: np.ndarray, out_channels: int) -> np.ndarray:
    """Build a graph of one layer over input [1, C, H, W], run it in onnxruntime."""
    graph = KerasGraph("x", x.shape[1])
    output = build(graph, "x")
    model = graph.to_model(output, "y", out_channels, "test")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x.astype(np.float32)})[0]


def _conv_reference(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, dilation: int
) -> np.ndarray:
    """Keras Conv2D "same" (odd kernel) written out: x [C, H, W], kernel (kh, kw, C, O)."""
    kh, kw, _, out = kernel.shape
    ph, pw = dilation * (kh // 2), dilation * (kw // 2)
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    height, width = x.shape[1:]
    result = np.zeros((out, height, width)) + bias[:, None, None]
    for i in range(kh):
        for j in range(kw):
            window = padded[
                :, i * dilation : i * dilation + height, j * dilation : j * dilation + width
            ]
            result += np.einsum("chw,co->ohw", window, kernel[i, j])
    return result


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_conv_matches_keras_same_padding_with_dilation(dilation: int) -> None:
    x = RNG.normal(size=(1, 3, 12, 10))
    kernel, bias = RNG.normal(size=(5, 5, 3, 4)).astype(np.float32), RNG.normal(size=4)
    got = _run(lambda g, t: g.conv(t, kernel, bias.astype(np.float32), dilation), x, 4)
    np.testing.assert_allclose(got[0], _conv_reference(x[0], kernel, bias, dilation), atol=1e-4)


def test_separable_is_depthwise_without_bias_then_pointwise() -> None:
    x = RNG.normal(size=(1, 3, 9, 11))
    depthwise = RNG.normal(size=(5, 5, 3, 1)).astype(np.float32)
    pointwise = RNG.normal(size=(1, 1, 3, 2)).astype(np.float32)
    bias = RNG.normal(size=2).astype(np.float32)
    got = _run(lambda g, t: g.separable(t, depthwise, pointwise, bias), x, 2)
    per_channel = np.stack(
        [
            _conv_reference(x[0, c : c + 1], depthwise[:, :, c : c + 1], np.zeros(1), 1)[0]
            for c in range(3)
        ]
    )
    expected = _conv_reference(per_channel, pointwise, bias, 1)
    np.testing.assert_allclose(got[0], expected, atol=1e-4)


def test_layer_norm_normalises_each_pixel_over_channels_with_epsilon_1e_3() -> None:
    x = RNG.normal(2.0, 3.0, size=(1, 6, 4, 5))
    gamma, beta = RNG.normal(size=6).astype(np.float32), RNG.normal(size=6).astype(np.float32)
    got = _run(lambda g, t: g.layer_norm(t, gamma, beta), x, 6)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-6, 6, 2 * 3 * 4).reshape(1, 2, 3, 4)
    got = _run(lambda g, t: g.gelu(t), x, 2)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(got, 0.5 * x * (1 + erf(x / math.sqrt(2))), atol=1e-5)


def test_pools_halve_and_nearest_upsampling_doubles() -> None:
    x = RNG.normal(size=(1, 2, 4, 6))
    blocks = x.reshape(1, 2, 2, 2, 3, 2)
    np.testing.assert_allclose(
        _run(lambda g, t: g.pool(t, "max"), x, 2), blocks.max(axis=(3, 5)), atol=1e-6
    )
    np.testing.assert_allclose(
        _run(lambda g, t: g.pool(t, "avg"), x, 2), blocks.mean(axis=(3, 5)), atol=1e-6
    )
    up = _run(lambda g, t: g.upsample(t), x, 2)
    np.testing.assert_array_equal(up, x.repeat(2, axis=2).repeat(2, axis=3).astype(np.float32))


def test_split_and_concat_move_channel_slices() -> None:
    x = RNG.normal(size=(1, 5, 2, 2))
    got = _run(lambda g, t: g.concat(*reversed(g.split(t, [2, 3]))), x, 5)
    np.testing.assert_array_equal(
        got, np.concatenate([x[:, 2:], x[:, :2]], axis=1).astype(np.float32)
    )


def test_atan2_is_exact_in_every_quadrant_on_the_axes_and_at_zero() -> None:
    values = np.array([-2.0, -1.0, -0.0, 0.0, 0.5, 3.0])
    y, x = np.meshgrid(values, values, indexing="ij")
    both = np.stack([y, x])[None]  # channel 0: y, channel 1: x
    got = _run(lambda g, t: g.atan2(*g.split(t, [1, 1])), both, 1)[0, 0]
    expected = np.arctan2(y, x)
    expected[(y == 0) & (x == 0)] = 0.0  # tf gives 0 at the origin; -0 signs are noise here
    np.testing.assert_allclose(np.abs(got), np.abs(expected), atol=1e-6)
    off_axis = (y != 0) & (x != 0)
    np.testing.assert_allclose(got[off_axis], expected[off_axis], atol=1e-6)


def test_non_maximum_keeps_only_the_peak_of_each_window() -> None:
    x = np.zeros((1, 1, 15, 15))
    x[0, 0, 3, 3], x[0, 0, 4, 5], x[0, 0, 12, 12] = 0.9, 0.7, 0.8  # 0.7 is within 0.9's 7x7
    got = _run(lambda g, t: g.non_maximum(t, 7), x, 1)[0, 0]
    assert {tuple(p) for p in np.argwhere(got > 0)} == {(3, 3), (12, 12)}
    assert got[3, 3] == pytest.approx(0.9) and got[12, 12] == pytest.approx(0.8)
