"""Live-score distribution, BPCER and APCER per attack type of the fused MiniFASNet models.

Run from the repository root:
    python -m bench.liveness_dev --models ../shared/models --dev ../shared/data/faces/dev
    python -m bench.liveness_dev --models ../shared/models --dev ../shared/data/faces/dev --attacks

Every dev photo is a bona fide capture: the first table is BPCER (live people refused) per
source. With --attacks, each colour photo is also turned into the presentation attacks of
bench/presentation_attacks.py (printed photo, screen replay; method stated there), scored the
same way, and the second table gives APCER per attack type (ISO/IEC 30107-3: the share of attack
presentations of one species accepted as live) next to BPCER on the same bona fide photos.
ORL (92x112 grey scans) and faceapi (150x150 TV stills) are tight crops: the 2.7x/4x window is
capped to the whole photo and the image is itself a re-digitised copy, so they score as spoofs;
only the colour web photos stand in for a gate camera when choosing the threshold.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.presentation_attacks import ATTACKS
from models.faces import DetectedFace, ImageBGR
from models.liveness import DEFAULT_THRESHOLD, LivenessModel, load_liveness_model

YUNET_FILE = "opencv_zoo/face_detection_yunet_2026may.onnx"
DETECT_MAX_SIDE = 640  # YuNet misses large faces at native resolution (MODELS.md)
THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9)
# Colour web photos, the closest the dev set comes to a gate camera; ORL (grey studio scans)
# and faceapi (TV stills) are re-digitised images a liveness model may rightly distrust.
COLOUR_SOURCES = ("deepface", "facerec", "facenet_pytorch", "openface")


def create_yunet(model_dir: Path) -> cv2.FaceDetectorYN:
    """YuNet with the settings MODELS.md was checked with (score 0.6, NMS 0.3, top 50)."""
    path = str(model_dir / YUNET_FILE)
    return cv2.FaceDetectorYN.create(path, "", (320, 320), 0.6, 0.3, 50)


def detection_image(image: ImageBGR, max_side: int = DETECT_MAX_SIDE) -> tuple[ImageBGR, float]:
    """The image shrunk so its longest side is at most max_side, and the factor used."""
    factor = min(1.0, max_side / max(image.shape[:2]))
    if factor == 1.0:
        return image, factor
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8), factor


def largest_face(detector: cv2.FaceDetectorYN, image: ImageBGR) -> DetectedFace | None:
    """The largest face YuNet finds in image (already shrunk by the caller), or None."""
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, rows = detector.detect(image)
    if rows is None or len(rows) == 0:
        return None
    row = max(rows, key=lambda r: r[2] * r[3])
    x, y, w, h = (float(v) for v in row[:4])
    landmarks = np.asarray(row[4:14], dtype=np.float32).reshape(5, 2)
    return DetectedFace((x, y, x + w, y + h), landmarks, float(row[14]))


def live_score_of_photo(
    model: LivenessModel, detector: cv2.FaceDetectorYN, image: ImageBGR
) -> float | None:
    """Fused live score of the largest face, or None when no face is found."""
    small, factor = detection_image(image)
    face = largest_face(detector, small)
    if face is None:
        return None
    return model.live_score(image, face.scaled(1.0 / factor))


def source_of(identity: str) -> str:
    """The data source an identity came from: its name up to the first dash."""
    return identity.split("-", 1)[0]


def dev_images(dev_dir: Path) -> Iterator[tuple[str, ImageBGR]]:
    """(source, BGR image) for every row of labels.csv, grey photos read as 3 channels."""
    with (dev_dir / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            image = cv2.imread(str(dev_dir / row["relative_path"]), cv2.IMREAD_COLOR)
            if image is not None:
                yield source_of(row["identity"]), np.asarray(image, dtype=np.uint8)


def score_dev_set(
    model: LivenessModel, detector: cv2.FaceDetectorYN, dev_dir: Path
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Fused live scores per source, and per source how many photos had no face."""
    scores: dict[str, list[float]] = defaultdict(list)
    missed: dict[str, int] = defaultdict(int)
    for source, image in dev_images(dev_dir):
        score = live_score_of_photo(model, detector, image)
        if score is None:
            missed[source] += 1
        else:
            scores[source].append(score)
    return scores, missed


def bpcer(scores: Sequence[float], threshold: float) -> float:
    """Share of bona fide captures refused: live score below the threshold."""
    return float(np.mean(np.asarray(scores) < threshold)) if scores else float("nan")


def table_rows(scores: dict[str, list[float]], missed: dict[str, int]) -> list[list[str]]:
    """One row per source, plus the colour subset and everything, ready to print."""
    groups = {name: scores[name] for name in sorted(scores)}
    groups["colour (all web photos)"] = [s for n in COLOUR_SOURCES for s in scores.get(n, [])]
    groups["all"] = [s for values in scores.values() for s in values]
    rows = []
    for name, values in groups.items():
        quartiles = np.percentile(values, [5, 25, 50, 75]) if values else [np.nan] * 4
        miss = missed.get(name, 0) if name in scores else sum(missed.values())
        stats = [f"{q:.3f}" for q in quartiles]
        rates = [f"{100 * bpcer(values, t):.1f}" for t in THRESHOLDS]
        rows.append([name, str(len(values)), str(miss), *stats, *rates])
    return rows


def print_table(rows: list[list[str]]) -> None:
    """Markdown table: score percentiles and BPCER (%) at each candidate threshold."""
    header = ["source", "n", "no face", "p5", "p25", "median", "p75"]
    header += [f"BPCER@{t}" for t in THRESHOLDS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def score_attacks(
    model: LivenessModel, detector: cv2.FaceDetectorYN, dev_dir: Path, seed: int
) -> tuple[list[float | None], dict[str, list[float | None]]]:
    """Bona fide scores of the colour photos, and per attack type the scores of their attacks
    (None: no face found in the attack image)."""
    bona_fide: list[float | None] = []
    attacks: dict[str, list[float | None]] = {name: [] for name in ATTACKS}
    colour = (image for source, image in dev_images(dev_dir) if source in COLOUR_SOURCES)
    for n, image in enumerate(colour):
        bona_fide.append(live_score_of_photo(model, detector, image))
        for k, (name, attack) in enumerate(ATTACKS.items()):
            rng = np.random.default_rng([seed, n, k])
            attacks[name].append(live_score_of_photo(model, detector, attack(image, rng)))
    return bona_fide, attacks


def attack_rows(
    bona_fide: list[float | None], attacks: dict[str, list[float | None]], threshold: float
) -> list[list[str]]:
    """Per attack type: presentations, faces not found, median score, APCER at the threshold
    (not found counts as refused, as at the gate) and at the other candidate thresholds."""
    rows = []
    groups: dict[str, list[float | None]] = {"bona fide (colour photos)": bona_fide, **attacks}
    for name, scores in groups.items():
        found = np.asarray([s for s in scores if s is not None])
        accepted = [float(np.sum(found >= t)) / len(scores) for t in (threshold, *THRESHOLDS)]
        if name.startswith("bona fide"):  # BPCER: refused, not-found included
            accepted = [1 - a for a in accepted]
        median = f"{np.median(found):.3f}" if found.size else "-"
        rows.append([name, str(len(scores)), str(len(scores) - found.size), median,
                     *[f"{100 * a:.1f}" for a in accepted]])  # fmt: skip
    return rows


def print_attack_table(rows: list[list[str]], threshold: float) -> None:
    """Markdown table: APCER (%) per attack type, BPCER (%) for the bona fide row."""
    header = ["presentations", "n", "no face", "median score", f"APCER/BPCER@{threshold}"]
    header += [f"@{t}" for t in THRESHOLDS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: Sequence[str] | None = None) -> None:
    """Score the dev set and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True, help="shared model directory")
    parser.add_argument("--dev", type=Path, required=True, help="dev photos with labels.csv")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument(
        "--full-resolution",
        action="store_true",
        help="crop from the original photo, not from it shrunk to 640 px (for comparison)",
    )
    parser.add_argument(
        "--attacks", action="store_true", help="also APCER per synthesised attack type"
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed of the attack synthesis")
    parser.add_argument(
        "--save-examples", type=Path, help="write the first photo's attacks here (to look at)"
    )
    args = parser.parse_args(argv)
    model = load_liveness_model(args.models, threads=args.threads)
    if args.full_resolution:
        model.working_max_side = None
    scores, missed = score_dev_set(model, create_yunet(args.models), args.dev)
    print_table(table_rows(scores, missed))
    print(f"\nDefault threshold in models/liveness.py: {DEFAULT_THRESHOLD}")
    if args.save_examples:
        save_examples(args.dev, args.save_examples, args.seed)
    if not args.attacks:
        return
    bona_fide, attacks = score_attacks(model, create_yunet(args.models), args.dev, args.seed)
    print(f"\nSynthesised attacks (bench/presentation_attacks.py, seed {args.seed}):\n")
    print_attack_table(attack_rows(bona_fide, attacks, DEFAULT_THRESHOLD), DEFAULT_THRESHOLD)


def save_examples(dev_dir: Path, folder: Path, seed: int) -> None:
    """The first colour photo and its attacks as JPEG files, to check the synthesis by eye."""
    folder.mkdir(parents=True, exist_ok=True)
    image = next(img for src, img in dev_images(dev_dir) if src in COLOUR_SOURCES)
    cv2.imwrite(str(folder / "bona-fide.jpg"), image)
    for k, (name, attack) in enumerate(ATTACKS.items()):
        cv2.imwrite(str(folder / f"{name}.jpg"), attack(image, np.random.default_rng([seed, 0, k])))


if __name__ == "__main__":
    main()
