"""A reader for the parts of dlib's serialisation format that a trained DNN file uses.

dlib writes a network as its loss layer, then the version numbers of the nested layer
wrappers from the top down, then the input layer, then each layer's details from the input
upward. The format is not self-describing (dlib knows the types at compile time), so this
reader accepts only the layer kinds listed in ``_DETAIL_READERS`` and refuses anything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

WRAPPER = "tag_or_skip"  # dlib does not store which: the architecture has to say
_ADD_LAYER, _WRAPPER_VERSION, _INPUT_ADD_LAYER = 2, 1, 3
_SPECIAL_EXPONENTS = {32000: "inf", 32001: "-inf", 32002: "nan"}  # dlib's float_details


@dataclass(frozen=True)
class DlibLayer:
    """One layer as stored: its kind (dlib's version string), integer settings and tensors."""

    kind: str
    ints: Mapping[str, int] = field(default_factory=dict)
    tensors: Mapping[str, FloatArray] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed dlib network: loss and input descriptions plus the layers from the input up."""

    loss: str
    input_kind: str
    channel_means: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: tuple[DlibLayer, ...]


class DlibReader:
    """Sequential reads of dlib's primitive encodings from an in-memory buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def _take(self, count: int, what: str) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self._data):
            raise ValueError(
                f"dlib file truncated: expected {count} bytes for {what} at offset "
                f"{self.pos}, found {max(len(self._data) - self.pos, 0)}"
            )
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def integer(self, what: str = "an integer") -> int:
        """A compact int: control byte (low 4 bits = byte count, top bit = sign), then LE bytes."""
        control = self._take(1, what)[0]
        count = control & 0x0F
        # dlib never sets bits 4-6; refusing them catches files that are not dlib's early.
        if count == 0 or count > 8 or control & 0x70:
            raise ValueError(
                f"expected a dlib integer ({what}) at offset {self.pos - 1}, "
                f"found control byte 0x{control:02x}"
            )
        value = int.from_bytes(self._take(count, what), "little")
        return -value if control & 0x80 else value

    def string(self, what: str = "a string") -> str:
        """A length-prefixed byte string."""
        raw = self._take(self.integer(f"length of {what}"), what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValueError(f"expected ASCII text for {what}, found {raw[:32]!r}") from exc

    def boolean(self, what: str = "a bool") -> bool:
        """dlib writes bools as the ASCII characters '0' and '1'."""
        raw = self._take(1, what)
        if raw not in (b"0", b"1"):
            raise ValueError(f"expected '0' or '1' for {what}, found {raw!r}")
        return raw == b"1"

    def real(self, what: str = "a float") -> float:
        """A float or double stored as an integer mantissa and a power-of-two exponent."""
        mantissa, exponent = self.integer(what), self.integer(what)
        if exponent in _SPECIAL_EXPONENTS:
            return float(_SPECIAL_EXPONENTS[exponent])
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError as exc:
            raise ValueError(f"expected a finite {what}, found 2^{exponent} scale") from exc

    def expect_version(self, expected: int, what: str) -> None:
        """Read an integer version and refuse any other value."""
        found = self.integer(f"version of {what}")
        if found != expected:
            raise ValueError(f"expected version {expected} of {what}, found {found}")

    def dims(self, what: str) -> tuple[int, int, int, int]:
        """The four dimensions (num_samples, k, nr, nc) of a tensor or alias_tensor."""
        n, k, nr, nc = (self.integer(f"dimension of {what}") for _ in range(4))
        if min(n, k, nr, nc) < 0:
            raise ValueError(f"expected non-negative dimensions for {what}, found {(n, k, nr, nc)}")
        return n, k, nr, nc

    def tensor(self, what: str) -> FloatArray:
        """A resizable_tensor: version 2, four dimensions, then raw little-endian float32."""
        self.expect_version(2, what)
        shape = self.dims(what)
        raw = self._take(4 * math.prod(shape), f"values of {what}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self, what: str) -> tuple[int, int, int, int]:
        """An alias_tensor: version 1 and the four dimensions of a view into params."""
        self.expect_version(1, what)
        return self.dims(what)

    def peek_is_input_layer(self) -> bool:
        """True when the next item is an input layer's name rather than a wrapper version."""
        start = self.pos
        try:
            length = self.integer()
            # Wrapper versions are 1..3; input layer names are far longer than that.
            return length > 3 and self._data[self.pos : self.pos + 6] == b"input_"
        except ValueError:
            return False
        finally:
            self.pos = start

    def at_end(self) -> bool:
        """True when every byte has been consumed."""
        return self.pos == len(self._data)


def _split(params: FloatArray, shapes: list[tuple[int, ...]], what: str) -> list[FloatArray]:
    """Cut a layer's flat params tensor into the alias views dlib declares over it."""
    sizes = [math.prod(shape) for shape in shapes]
    if sum(sizes) != params.size:
        raise ValueError(
            f"expected {sum(sizes)} parameters in {what} for views {shapes}, found {params.size}"
        )
    flat, parts, offset = params.reshape(-1), [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        parts.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return parts


def _read_con(r: DlibReader) -> DlibLayer:
    params = r.tensor("con_ params")
    names = ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
    ints = {name: r.integer(f"con_ {name}") for name in names}
    filters, biases = r.alias("con_ filters"), r.alias("con_ biases")
    for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        r.real(f"con_ {what} multiplier")
    if (filters[0], *filters[2:]) != (ints["num_filters"], ints["nr"], ints["nc"]):
        raise ValueError(f"expected con_ filters of {ints}, found a view of {filters}")
    weights, bias = _split(params, [filters, biases], "con_")
    return DlibLayer("con_4", ints, {"weights": weights, "bias": bias.reshape(-1)})


def _read_affine(r: DlibReader) -> DlibLayer:
    params = r.tensor("affine_ params")
    gamma, beta = r.alias("affine_ gamma"), r.alias("affine_ beta")
    mode = r.integer("affine_ mode")
    scale, shift = _split(params, [gamma, beta], "affine_")
    return DlibLayer("affine_", {"mode": mode}, {"gamma": scale, "beta": shift})


def _read_pool(kind: str) -> Callable[[DlibReader], DlibLayer]:
    def read(r: DlibReader) -> DlibLayer:
        names = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
        return DlibLayer(kind, {name: r.integer(f"{kind} {name}") for name in names})

    return read


def _read_fc(r: DlibReader) -> DlibLayer:
    outputs, inputs = r.integer("fc_ num_outputs"), r.integer("fc_ num_inputs")
    params = r.tensor("fc_ params")
    weights, biases = r.alias("fc_ weights"), r.alias("fc_ biases")
    bias_mode = r.integer("fc_ bias_mode")
    for what in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        r.real(f"fc_ {what} multiplier")
    if math.prod(weights) != inputs * outputs or math.prod(biases) != 0:
        raise ValueError(
            f"expected an fc_ {inputs}x{outputs} view without bias, found {weights}, {biases}"
        )
    (matrix,) = _split(params, [weights], "fc_")
    ints = {"num_outputs": outputs, "num_inputs": inputs, "bias_mode": bias_mode}
    return DlibLayer("fc_2", ints, {"weights": matrix.reshape(inputs, outputs)})


_DETAIL_READERS: dict[str, Callable[[DlibReader], DlibLayer]] = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": lambda _r: DlibLayer("relu_"),
    "add_prev_": lambda _r: DlibLayer("add_prev_"),
    "max_pool_2": _read_pool("max_pool_2"),
    "avg_pool_2": _read_pool("avg_pool_2"),
    "fc_2": _read_fc,
}


def _read_layer_details(r: DlibReader) -> DlibLayer:
    kind = r.string("layer kind")
    reader = _DETAIL_READERS.get(kind)
    if reader is None:
        raise ValueError(
            f"expected one of the layer kinds {sorted(_DETAIL_READERS)}, "
            f"found {kind!r} at offset {r.pos}"
        )
    return reader(r)


def _skip_layer_state(r: DlibReader, version: int, kind: str) -> None:
    """Skip an add_layer's training state: three flags, gradient and output caches."""
    for flag in ("setup called", "gradient stale", "output disabled"):
        r.boolean(f"{kind} {flag} flag")
    for cache in ("x_grad", "cached_output", "params_grad"):
        r.tensor(f"{kind} {cache}")  # the bottom layer's third is grad_final
    if version == _INPUT_ADD_LAYER:
        r.integer(f"{kind} sample expansion factor")


def _read_wrapper_versions(r: DlibReader) -> list[int]:
    """Versions of the nested wrappers, top down, until the input layer is reached."""
    versions: list[int] = []
    while True:
        version = r.integer("layer wrapper version")
        if version not in (_WRAPPER_VERSION, _ADD_LAYER, _INPUT_ADD_LAYER):
            raise ValueError(
                f"expected a layer wrapper version 1, 2 or 3 at offset {r.pos}, found {version}"
            )
        versions.append(version)
        if version == _INPUT_ADD_LAYER or r.peek_is_input_layer():
            break
    if versions[-1] == _WRAPPER_VERSION:
        raise ValueError("expected a computational layer directly above the input, found a tag")
    return versions


def _read_loss(r: DlibReader) -> str:
    r.expect_version(1, "add_loss_layer")
    loss = r.string("loss layer kind")
    if loss != "loss_metric_2":
        raise ValueError(f"expected loss layer 'loss_metric_2', found {loss!r}")
    r.real("loss margin")
    r.real("loss distance threshold")
    return loss


def _read_input(r: DlibReader) -> tuple[str, tuple[float, float, float], tuple[int, int]]:
    kind = r.string("input layer kind")
    if kind != "input_rgb_image_sized":
        raise ValueError(f"expected input layer 'input_rgb_image_sized', found {kind!r}")
    means = (r.real("avg_red"), r.real("avg_green"), r.real("avg_blue"))
    size = (r.integer("input rows"), r.integer("input columns"))
    return kind, means, size


def read_dlib_network(path: Path) -> DlibNetwork:
    """Parse a dlib DNN file (loss_metric over input_rgb_image_sized) into its layers."""
    r = DlibReader(Path(path).read_bytes())
    loss = _read_loss(r)
    versions = _read_wrapper_versions(r)
    input_kind, means, size = _read_input(r)
    layers: list[DlibLayer] = []
    for version in reversed(versions):  # details are stored from the input upward
        if version == _WRAPPER_VERSION:
            layers.append(DlibLayer(WRAPPER))
            continue
        layer = _read_layer_details(r)
        _skip_layer_state(r, version, layer.kind)
        layers.append(layer)
    if not r.at_end():
        raise ValueError(f"expected the end of the dlib file, found more bytes at offset {r.pos}")
    return DlibNetwork(loss, input_kind, means, size, tuple(layers))
