"""Fingerprint re-scoring storage: full MCC scores (mcc_batch.compare_many) from gallery cylinders
packed with 8-bit and with 4-bit cell values, over every within-set pair of the FVC sets, and
the decisions that change at the shipped thresholds.

Run from the repository root (about 10 minutes on a loaded 2-core machine):
    nice -n 10 python bench/finger_cells.py

Pairs are those the shipped impostor tail was fitted on (tail.folder_scores): every fresh
impression of a set (the probe, float32 cylinders) against every ISO-stored impression of the
same set (the gallery side, packed), genuine and impostor alike. Thresholds: the fitted tail
models/calibrations/finger-mcc.openset.json at FPIR 10%, 3%, 1% and 0.3% over 1 to 100,000
templates (per-comparison FMR 1 - (1 - FPIR)^(1/T)), as gallery.fpir_threshold sets them. A
decision flips when a pair's score reaches a threshold with one storage and not the other.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.mcc_batch import Packed, compare_many
from models.fingerprint.openset_eval import TARGET_FPIRS, load_fingers
from models.fingerprint.tail import FingerTail, stored

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(
    os.environ.get("GERBANG_FINGERPRINTS", ROOT.parent / "shared/data/fingerprints")
)
TAIL = ROOT / "models/calibrations/finger-mcc.openset.json"
TEMPLATES = (1, 100, 1_000, 12_000, 100_000)


def pair_scores(folder: Path, bits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(bits x pairs) scores and (pairs,) genuine flags of one set's within-set pairs."""
    ppi = 512 if "2004_DB3" in folder.name.upper() else 500  # FVC2004 DB3 (thermal sweep)
    fingers = load_fingers([folder], ppi)
    gallery = [(f, i, stored(t).cylinders) for f in sorted(fingers) for i, t in fingers[f].items()]
    packed = {b: [Packed.of(t, b) for _, _, t in gallery] for b in bits}
    scores: list[list[float]] = [[] for _ in bits]
    genuine: list[bool] = []
    for finger in sorted(fingers):
        for number, probe in fingers[finger].items():
            others = [k for k, (f, i, _) in enumerate(gallery) if (f, i) != (finger, number)]
            genuine += [gallery[k][0] == finger for k in others]
            for row, b in enumerate(bits):
                scores[row] += compare_many(probe.cylinders, [packed[b][k] for k in others])
    return np.array(scores), np.array(genuine)


def differences(name: str, diff: np.ndarray) -> str:
    """One line: how far 4-bit scores lie from 8-bit ones."""
    size = np.abs(diff)
    return (
        f"{name}: {len(diff)} pairs, |4-bit - 8-bit| max {size.max():.2e}, p99"
        f" {np.percentile(size, 99):.2e}, p50 {np.median(size):.2e}, mean (signed) {diff.mean():.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    start = time.perf_counter()
    parts = []
    for folder in sorted({p.parent for p in args.data.rglob("101_1.tif")}):
        parts.append(pair_scores(folder, (8, 4)))
        print(f"{folder.name}: {parts[-1][0].shape[1]} pairs"
              f" ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    scores = np.concatenate([s for s, _ in parts], axis=1)
    genuine = np.concatenate([g for _, g in parts])
    diff = scores[1] - scores[0]
    print(differences("all", diff))
    print(differences("genuine", diff[genuine]))
    print(differences("impostor", diff[~genuine]))
    tail = FingerTail.load(TAIL)
    print("\n| FPIR | templates | threshold | pairs at or above (8-bit) | (4-bit) | flips |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for target in TARGET_FPIRS:
        for templates in TEMPLATES:
            threshold = tail.threshold_at_fmr(fmr_for_fpir(target, templates))
            above = scores >= threshold
            flips = int((above[0] != above[1]).sum())
            print(f"| {target:.1%} | {templates:,} | {threshold:.4f} | {above[0].sum()} |"
                  f" {above[1].sum()} | {flips} |")  # fmt: skip
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
