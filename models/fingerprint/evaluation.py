"""Fingerprint accuracy on an FVC-style folder (`<finger>_<impression>.tif`): EER, FNMR at FMR.

Two protocols. "fvc" is FVC2002's (bias.csr.unibo.it/fvc2002/perfeval.asp): genuine = every
pair of impressions of a finger, one direction; impostor = the first impression of each finger
against the first impression of every other finger. "all" keeps the same genuine pairs and
takes every different-finger pair as impostor: finer FMR resolution, but pairs share images
and are not independent. An image that fails to extract scores 0 in every pair it is part of
(a non-match), as FVC counts such failures.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kernel.errors import InputError
from models import calibration as cal
from models import error_rates
from models.fingerprint import mcc, nbis
from models.fingerprint.minutiae import MinutiaeTemplate

PROTOCOLS = ("all", "fvc")
REPORT_FMRS = (1e-2, 1e-3)
_NAME = re.compile(r"^(?P<finger>\d+)_(?P<impression>\d+)\.(?:tiff?|png|bmp)$", re.IGNORECASE)

Extractor = Callable[[npt.NDArray[np.uint8], int], MinutiaeTemplate]
Matcher = Callable[[MinutiaeTemplate, MinutiaeTemplate], float]
Pair = tuple[int, int]
Scores = npt.NDArray[np.float64]


def _nbis_with_cylinders(image: npt.NDArray[np.uint8], ppi: int) -> MinutiaeTemplate:
    """MINDTCT minutiae carrying their MCC cylinders, so each image's are built once."""
    return mcc.with_cylinders(nbis.extract(image, ppi))


# name -> (extract, compare, the score kind a calibration records)
MATCHERS: dict[str, tuple[Extractor, Matcher, str]] = {
    "nbis": (nbis.extract, nbis.bozorth3, "bozorth3"),
    "mcc": (_nbis_with_cylinders, mcc.compare_minutiae, "mcc-lss-r"),
}
# name -> (what makes templates and scores, what one timed comparison does)
_DESCRIPTIONS = {
    "nbis": ("NBIS MINDTCT + BOZORTH3", "BOZORTH3 both ways"),
    "mcc": ("NBIS MINDTCT + MCC LSS-R", "MCC LSS-R; cylinders built with the template"),
}


@dataclass(frozen=True)
class Impression:
    """One image of an FVC-style folder."""

    path: Path
    finger: str
    number: int


def scan_folder(folder: Path) -> list[Impression]:
    """Every `<finger>_<impression>` image in the folder, by finger then impression."""
    found = [
        Impression(path, match["finger"], int(match["impression"]))
        for path in Path(folder).iterdir()
        if (match := _NAME.match(path.name))
    ]
    if not found:
        raise ValueError(f"no <finger>_<impression>.tif images in {folder}")
    return sorted(found, key=lambda item: (item.finger, item.number))


def genuine_pairs(items: Sequence[Impression]) -> list[Pair]:
    """Every pair of impressions of the same finger, one direction (i < j)."""
    return [
        (i, j) for i, j in itertools.combinations(range(len(items)), 2)
        if items[i].finger == items[j].finger
    ]  # fmt: skip


def impostor_pairs(items: Sequence[Impression], protocol: str) -> list[Pair]:
    """Different-finger pairs: all of them, or FVC's first impressions only."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    indices: Sequence[int] = range(len(items))
    if protocol == "fvc":  # each finger's lowest-numbered impression (impression 1 in FVC)
        indices = [next(i for i, it in enumerate(items) if it.finger == f) for f in _fingers(items)]
    return [
        (i, j) for i, j in itertools.combinations(indices, 2) if items[i].finger != items[j].finger
    ]


def _fingers(items: Sequence[Impression]) -> list[str]:
    """Distinct fingers in first-seen order."""
    return list(dict.fromkeys(item.finger for item in items))


@dataclass(frozen=True)
class ExtractedSet:
    """Templates of a folder (None where extraction failed) and how long each one took."""

    items: list[Impression]
    templates: list[MinutiaeTemplate | None]
    failures: dict[str, str]  # file name -> error code and reason
    template_ms: list[float]


def extract_set(items: list[Impression], ppi: int, extract: Extractor) -> ExtractedSet:
    """Decode and extract every image; time the extraction only (decoding excluded)."""
    templates: list[MinutiaeTemplate | None] = []
    failures: dict[str, str] = {}
    times: list[float] = []
    for item in items:
        try:
            image = nbis.read_image(item.path.read_bytes())
            start = time.perf_counter()
            templates.append(extract(image, ppi))
            times.append((time.perf_counter() - start) * 1e3)
        except InputError as exc:
            templates.append(None)
            failures[item.path.name] = f"{exc.code}: {exc.details.get('reason', '')}"
    return ExtractedSet(items, templates, failures, times)


@dataclass(frozen=True)
class PairScores:
    """Genuine and impostor scores of one folder, with per-comparison times."""

    genuine: Scores
    impostor: Scores
    genuine_ms: list[float]
    impostor_ms: list[float]
    pairs_with_failures: int


def _score(data: ExtractedSet, pairs: list[Pair], compare: Matcher) -> tuple[Scores, list[float]]:
    """Scores of these pairs (0 where a template is missing) and the time of each comparison."""
    scores = np.zeros(len(pairs), dtype=np.float64)
    times: list[float] = []
    for k, (i, j) in enumerate(pairs):
        probe, gallery = data.templates[i], data.templates[j]
        if probe is not None and gallery is not None:
            start = time.perf_counter()
            scores[k] = compare(probe, gallery)
            times.append((time.perf_counter() - start) * 1e3)
    return scores, times


def score_pairs(data: ExtractedSet, protocol: str, compare: Matcher) -> PairScores:
    """Score the protocol's genuine and impostor pairs; pairs with a failed template score 0."""
    genuine_list, impostor_list = genuine_pairs(data.items), impostor_pairs(data.items, protocol)
    genuine, genuine_ms = _score(data, genuine_list, compare)
    impostor, impostor_ms = _score(data, impostor_list, compare)
    failed = len(genuine_list) + len(impostor_list) - len(genuine_ms) - len(impostor_ms)
    return PairScores(genuine, impostor, genuine_ms, impostor_ms, failed)


@dataclass(frozen=True)
class FingerEvaluation:
    """What `gerbang finger eval` reports for one folder and protocol."""

    name: str
    protocol: str
    ppi: int
    n_images: int
    n_fingers: int
    failures: dict[str, str]
    scores: PairScores
    eer: float
    eer_threshold: float
    operating_points: tuple[cal.OperatingPoint, ...]
    zero_fmr: cal.OperatingPoint  # lowest threshold that accepts no impostor pair
    template_ms_p50: float
    comparison_ms_p50: float  # over every compared pair of the protocol
    genuine_ms_p50: float
    impostor_ms_p50: float
    matcher: str = "nbis"  # a key of MATCHERS
    extractor: str = ""  # the templates' extractor string, when another than the matcher's NBIS


def _point(genuine: Scores, impostor: Scores, target_fmr: float) -> cal.OperatingPoint:
    """Threshold and FNMR at a target FMR (0: above every impostor score), with the rule of 30."""
    threshold = error_rates.threshold_at_fmr(impostor, target_fmr)
    supported = target_fmr > 0 and error_rates.fmr_supported(impostor.size, target_fmr)
    return cal.OperatingPoint(
        target_fmr, threshold, error_rates.fnmr_at(threshold, genuine), supported
    )


def _p50(values: list[float]) -> float:
    """Median, or NaN when nothing was timed."""
    return float(np.median(values)) if values else float("nan")


def measure_folder(
    folder: Path, ppi: int, protocol: str, matcher: str = "nbis", extract: Extractor | None = None
) -> tuple[ExtractedSet, PairScores]:
    """Extract every image of one FVC-style folder and score the protocol's pairs; `extract`
    replaces the matcher's NBIS extraction (models/fingerprint/extractors.py)."""
    default_extract, compare, _ = MATCHERS[matcher]
    data = extract_set(scan_folder(folder), ppi, extract or default_extract)
    return data, score_pairs(data, protocol, compare)


def evaluate_folder(
    folder: Path, ppi: int, protocol: str, matcher: str = "nbis", extract: Extractor | None = None
) -> FingerEvaluation:
    """Extract, compare and summarise one FVC-style folder."""
    data, scores = measure_folder(folder, ppi, protocol, matcher, extract)
    rate, rate_threshold = error_rates.eer(scores.genuine, scores.impostor)
    return FingerEvaluation(
        name=Path(folder).name, protocol=protocol, ppi=ppi, n_images=len(data.items),
        n_fingers=len(_fingers(data.items)), failures=data.failures, scores=scores,
        eer=rate, eer_threshold=rate_threshold,
        operating_points=tuple(_point(scores.genuine, scores.impostor, t) for t in REPORT_FMRS),
        zero_fmr=_point(scores.genuine, scores.impostor, 0.0),
        template_ms_p50=_p50(data.template_ms),
        comparison_ms_p50=_p50(scores.genuine_ms + scores.impostor_ms),
        genuine_ms_p50=_p50(scores.genuine_ms), impostor_ms_p50=_p50(scores.impostor_ms),
        matcher=matcher, extractor=_extractor_of(data) if extract else "",
    )  # fmt: skip


def _extractor_of(data: ExtractedSet) -> str:
    """The extractor string of the first template made (empty if none was)."""
    return next((t.extractor for t in data.templates if t is not None), "")


def calibrate_folders(
    folders: Sequence[Path],
    ppi: int,
    protocol: str,
    dataset: str,
    matcher: str = "nbis",
    extract: Extractor | None = None,
    name: str | None = None,
) -> cal.Calibration:
    """Pool the scores of several folders (pairs only within a folder) into a Calibration."""
    measured = [measure_folder(folder, ppi, protocol, matcher, extract) for folder in folders]
    genuine = np.concatenate([scores.genuine for _, scores in measured])
    impostor = np.concatenate([scores.impostor for _, scores in measured])
    return cal.build_calibration(
        name or f"finger-{matcher}",
        dataset,
        genuine,
        impostor,
        # Finger ids only mean something inside one folder (FVC databases are separate people).
        n_identities=sum(len(_fingers(data.items)) for data, _ in measured),
        n_images=sum(len(data.items) for data, _ in measured),
        failure_to_acquire=sum(len(data.failures) for data, _ in measured),
        score_kind=MATCHERS[matcher][2],
    )


def _protocol_line(report: FingerEvaluation) -> str:
    """Which pairs were compared, in words and counts."""
    what = {
        "all": "impostor = every different-finger pair",
        "fvc": "impostor = first impressions of different fingers (FVC2002)",
    }[report.protocol]
    return (
        f"Protocol     {report.protocol}: genuine = every same-finger pair"
        f" ({report.scores.genuine.size:,}), {what} ({report.scores.impostor.size:,})"
    )


def _point_line(label: str, point: cal.OperatingPoint, n_impostor: int) -> str:
    """One FNMR row, flagged when the rule of 30 does not support its FMR."""
    # Thresholds sit one float step above an impostor score: print that score, strictly above.
    below = float(np.nextafter(point.threshold, -np.inf))
    row = f"{label:<17}{point.fnmr:>7.2%}  (match when score > {below:g})"
    if point.target_fmr > 0 and not point.supported:
        needed = error_rates.required_impostor_pairs(point.target_fmr)
        row += f"  not supported: {n_impostor:,} impostor pairs < {needed:,}"
    return row


def format_evaluation(report: FingerEvaluation) -> str:
    """Plain-text report for a terminal."""
    n_imp = report.scores.impostor.size
    method, comparison = _DESCRIPTIONS[report.matcher]
    if report.extractor:
        method = method.replace("NBIS MINDTCT", report.extractor)
    lines = [
        f"Folder       {report.name}: {report.n_images} images of {report.n_fingers} fingers"
        f" at {report.ppi} ppi; {method}",
        _protocol_line(report),
        f"Failed       {len(report.failures)} of {report.n_images} images failed to extract"
        f" ({report.scores.pairs_with_failures} pairs scored 0)",
        f"EER          {report.eer:.2%} (at score {report.eer_threshold:.4g})",
    ]
    lines += [
        _point_line(f"FNMR @ FMR {p.target_fmr:.1%}", p, n_imp) for p in report.operating_points
    ]
    lines += [
        _point_line("ZeroFMR", report.zero_fmr, n_imp),
        f"Template     p50 {report.template_ms_p50:.1f} ms (extraction, decoding excluded)",
        f"Comparison   p50 {report.comparison_ms_p50:.2f} ms ({comparison};"
        f" genuine {report.genuine_ms_p50:.2f} ms, impostor {report.impostor_ms_p50:.2f} ms)",
    ]
    lines += [f"  failed: {name}: {why}" for name, why in report.failures.items()]
    return "\n".join(lines)
