"""The registry's duplicate search by fingers (registry/national_fingers.py) on every real FVC print:
what it finds, what it falsely finds, its cost per record and the index's memory per record.

Run from the repository root under nice (README's figures came from this line):
    nice -n 10 python bench/national_fingers.py --data ../shared/data/fingerprints

Protocol: every impression that extracts (NBIS MINDTCT, bench/finger_index.py's real_templates)
is one finger record of its own person, as if each finger had been enrolled 8 times under 8
names at 8 sites. Each record is searched as the registry searches it: against every other
record (all people but its own) through the same FingerGallery and threshold (FingerPolicy, the
shipped MCC calibration, the national target FPIR over the templates searched). A search is
- mated: another impression of the same finger reaches the threshold (a duplicate found);
- false: a record of another finger reaches it (a false case opened).
It also reports, from each search's best score of another finger, the score that would keep
false cases at 1% and 0.3% of searches (fitted on this run, so optimistic), and the duplicates
found at it. Latency is wall time of one search (first stage + full MCC on the shortlist) on one
thread.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # FAISS too
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 (BLAS threads must be set before NumPy is imported)
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from finger_index import real_templates  # noqa: E402

from models.fingerprint import mcc  # noqa: E402
from models.fingerprint.gallery import FingerGallery  # noqa: E402
from models.fingerprint.identify import threshold_for_fpir  # noqa: E402
from registry.national_fingers import FingerPolicy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fingerprints"))
    parser.add_argument("--fpir", type=float, default=1e-3, help="national target FPIR")
    args = parser.parse_args()
    reals = real_templates(args.data)
    records = [(f"{label}#{n}", label, mcc.with_cylinders(t).cylinders) for label, n, t in reals]
    gallery = FingerGallery()
    gallery.add((key, (key, 2), cylinders) for key, _, cylinders in records)
    finger_of = {key: label for key, label, _ in records}
    policy = FingerPolicy.load(args.fpir)
    mated = false = 0
    took: list[float] = []
    best_mate: list[float] = []  # per search: the best other impression of the same finger
    best_other: list[float] = []  # per search: the best record of another finger
    for key, label, cylinders in records:
        start = time.perf_counter()
        found, searched = gallery.search_among(cylinders, lambda person, own=key: person != own)
        threshold, point, strict = policy.threshold(len(searched))
        took.append((time.perf_counter() - start) * 1000)
        hits = [str(c.person) for c in found if c.score >= threshold]
        mated += any(finger_of[h] == label for h in hits)
        false += any(finger_of[h] != label for h in hits)
        scores = [(finger_of[str(c.person)] == label, c.score) for c in found]
        best_mate.append(max((s for same, s in scores if same), default=0.0))
        best_other.append(max((s for same, s in scores if not same), default=0.0))
    n = len(records)
    p50, p99 = np.percentile(took, [50, 99])
    print(
        f"records {n} ({len({label for _, label, _ in records})} fingers), searched each: {n - 1}"
    )
    print(f"threshold {threshold:.4f} at calibrated FMR {point:g} (strict enough: {strict})")
    print(
        f"duplicates found {mated}/{n} ({mated / n:.1%}); false cases {false}/{n} ({false / n:.1%})"
    )
    for rate in (0.01, 0.003):  # the score that keeps false cases at this share of searches
        at = threshold_for_fpir(best_other, 1, rate)
        found_at = float(np.mean(np.asarray(best_mate) >= at.threshold))
        print(f"false cases {rate:.1%} (supported: {at.supported}) at {at.threshold:.4f}:"
              f" duplicates found {found_at:.1%}")  # fmt: skip
    print(
        f"search ms p50 {p50:.0f} p99 {p99:.0f}; index {gallery.nbytes / n / 1024:.0f} KB per record"
    )


if __name__ == "__main__":
    main()
