"""LEADER minutiae (pyfing 0.7.3's network, converted to ONNX): the same contract as nbis.extract.

The steps mirror pyfing's `Leader.run`: rescale to 500 ppi (cubic), pad to multiples of 32 with
the image's top-left pixel, run the network, crop its maps back, keep pixels whose suppressed
probability is at least 0.6 (their quality), ridge ending where the type map is at least 0.5,
and scale the positions back to the image's resolution, rounded as pyfing rounds them.

Direction: LEADER's angle is anticlockwise as seen on the image, like ours, but points the other
way along the ridge (into a ridge ending's ridge, where ours points away from it, as NBIS does),
so ours = (LEADER's + pi) mod 2 pi. Checked on FVC prints against NBIS minutiae at the same
places (tests/model/test_leader_real.py), and by MCC: genuine scores collapse without the turn.

Errors added under kernel/errors.py's tree:
Unavailable
└─ FingerprintModelMissing  fingerprint_model_missing  503: LEADER's ONNX file or pyfing's weights absent
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from kernel.errors import Message, Unavailable
from models.errors import ModelNotReady
from models.fingerprint import nbis
from models.fingerprint.minutiae import BIFURCATION, ENDING, MinutiaeTemplate
from models.manifest import ModelFile, load_files
from models.obtain import convert
from models.runtime import choose_providers, create_session
from models.store import ModelStore

PYFING_VERSION = "0.7.3"
EXTRACTOR = f"leader (pyfing {PYFING_VERSION})"
FILE_NAME = f"leader_pyfing_{PYFING_VERSION}"
NETWORK_PPI = 500
SIZE_MULTIPLE = 32  # five 2x2 poolings deep
PROBABILITY_THRESHOLD, TYPE_THRESHOLD = 0.6, 0.5  # pyfing's LeaderParameters defaults
# MCC (not BOZORTH3, whose glue needs 15) compares LEADER's minutiae; below this few a print
# holds too little to compare. Enrolment's own floor is quality.py's.
MIN_MINUTIAE = 5

Image = npt.NDArray[np.uint8]
Maps = npt.NDArray[np.float32]


class FingerprintModelMissing(Unavailable):
    code = "fingerprint_model_missing"
    message = Message(
        "Model sidik jari LEADER tidak tersedia: pasang paket pyfing 0.7.3 (pip install"
        " pyfing==0.7.3), model dibuat darinya saat pertama dipakai; atau pilih ekstraktor nbis.",
        "The LEADER fingerprint model is not available: install the pyfing 0.7.3 package (pip"
        " install pyfing==0.7.3), the model is made from it on first use; or choose the nbis"
        " extractor.",
    )


@dataclass(frozen=True)
class Padding:
    """Pixels added on each side to reach a multiple of SIZE_MULTIPLE (pyfing centres the image)."""

    top: int
    bottom: int
    left: int
    right: int


def padding_for(height: int, width: int, multiple: int = SIZE_MULTIPLE) -> Padding:
    """pyfing's `_compute_size` with no minimum border: round each side up, split the extra."""
    padded_h, padded_w = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    top, left = (padded_h - height) // 2, (padded_w - width) // 2
    return Padding(top, padded_h - height - top, left, padded_w - width - left)


def network_input(image: Image) -> tuple[npt.NDArray[np.float32], Padding]:
    """The image padded with its top-left pixel's value, as [1, 1, H, W] float 0..255."""
    pad = padding_for(*image.shape)
    fill = int(image[0, 0])
    padded = cv2.copyMakeBorder(
        image, pad.top, pad.bottom, pad.left, pad.right, cv2.BORDER_CONSTANT, value=fill
    )
    return padded.astype(np.float32)[np.newaxis, np.newaxis], pad


def minutiae_from_maps(maps: Maps) -> npt.NDArray[np.float64]:
    """Rows x, y, angle (ours), quality 0..100, type from cropped maps [4, H, W], row-major order."""
    ys, xs = np.nonzero(maps[3] >= PROBABILITY_THRESHOLD)
    angles = np.mod(maps[1, ys, xs].astype(np.float64) + np.pi, 2 * np.pi)
    kinds = np.where(maps[2, ys, xs] >= TYPE_THRESHOLD, ENDING, BIFURCATION)
    quality = maps[3, ys, xs].astype(np.float64) * 100.0
    return np.column_stack([xs, ys, angles, quality, kinds]).astype(np.float64).reshape(-1, 5)


def at_network_resolution(image: Image, ppi: int) -> Image:
    """Rescale to 500 ppi by cubic interpolation, as pyfing does (cv2.resize by factor)."""
    if ppi == NETWORK_PPI:
        return image
    scale = NETWORK_PPI / ppi
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return np.asarray(resized, dtype=np.uint8)


class LeaderExtractor:
    """LEADER on an ONNX Runtime session of the converted network (see leader_graph.py)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def maps(self, image: Image) -> Maps:
        """The network's four maps [4, H, W] for a 500 ppi image, cropped to its size."""
        tensor, pad = network_input(image)
        out = self.session.run(None, {self.input_name: tensor})[0][0]
        height, width = image.shape
        return np.asarray(out[:, pad.top : pad.top + height, pad.left : pad.left + width])

    def extract(self, image: Image, resolution_ppi: int) -> MinutiaeTemplate:
        """LEADER minutiae of one 8-bit grey impression, in that image's pixels and resolution."""
        nbis.check_image(image, resolution_ppi)
        work = at_network_resolution(image, resolution_ppi)
        ratio = nbis.ridge_band_ratio(work)
        if ratio < nbis.MIN_RIDGE_BAND_RATIO:
            raise nbis.FingerprintImageInvalid(reason="no_ridges", ridge_band_ratio=round(ratio, 3))
        rows = minutiae_from_maps(self.maps(work))
        if len(rows) < MIN_MINUTIAE:
            raise nbis.FingerprintImageInvalid(reason="too_few_minutiae", minutiae=len(rows))
        if resolution_ppi != NETWORK_PPI:  # pyfing rounds positions back to whole pixels
            rows[:, :2] = np.round(rows[:, :2] * (resolution_ppi / NETWORK_PPI))
        height, width = image.shape
        return MinutiaeTemplate(width, height, resolution_ppi, rows, EXTRACTOR)


def leader_file(model_dir: Path | None = None) -> ModelFile:
    """LEADER's manifest entry (models/packs/finger.json, or a site's own that wins)."""
    return load_files(model_dir)[FILE_NAME]


def ready_path(store: ModelStore, file: ModelFile) -> Path:
    """The verified ONNX file, converted from pyfing's weights first if it is not there yet."""
    try:
        if store.status(file).state == "missing":
            convert(store, file)
        return store.verified_path(file)
    except (
        FileNotFoundError,
        ModelNotReady,
    ) as exc:  # a wrong digest is not "missing": it says which
        raise FingerprintModelMissing(path=str(store.path_of(file)), reason=str(exc)) from exc


def load_extractor(
    store: ModelStore,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
) -> LeaderExtractor:
    """A LeaderExtractor on a fresh session (converting the model on first use)."""
    path = ready_path(store, leader_file(store.model_dir))
    return LeaderExtractor(create_session(path, providers or choose_providers(), threads))
