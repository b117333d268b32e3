"""The national duplicate search's threshold and expected misses by population, at the sizes of
the national gallery, as the registry computes them (identity level, no cohort).

    python bench/openset_embed.py /work/shared/data/faces/openset --out var/openset-open-yunet-dlib.npz
    python bench/national_openset.py var/openset-open-yunet-dlib.npz [--target-fpir 0.001]

Per population (Western = celeba-*, East Asian = casia5-* + asianfaces-*): every person with at
least 2 usable photos is one identity (the normalised mean of their photos), as the registry
holds people; `calibrate_gallery` gives the per-comparison impostor tail (a capture against
another person's identity template) and the genuine identity scores (a capture against the mean
of the person's other captures), as registry/national.py calibrates on a sample of its people.
For each national gallery size N the threshold is the tail's for the target FPIR over N people
(the service's 95% bound; beyond the data the fitted exponential tail, said so), and the expected
FNIR is the share of genuine scores below it. Galleries of 1,000 people and more are beyond
these sets (at most 279 people a population): every row is extrapolated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from models.openset import calibrate_gallery, fnir_at, unit_rows

POPULATIONS = {"Western (CelebA)": ("celeba-",), "East-Asian": ("asianfaces-", "casia5-")}
SIZES = (1_000, 10_000, 100_000, 1_000_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--target-fpir", type=float, default=1e-3)
    args = parser.parse_args(argv)
    with np.load(args.archive) as archive:
        vectors, paths = archive["embeddings"], [str(p) for p in archive["paths"]]
    usable = np.isfinite(vectors).all(axis=1)
    people = np.asarray([p.split("/", 1)[0] for p in paths])
    print(f"national duplicate search, target FPIR {args.target_fpir:g}, identity level, 95% bound")
    print("| population | people | comparisons | " + " | ".join(f"N = {n:,}" for n in SIZES) + " |")
    print("|---|---|---|" + "---|" * len(SIZES))
    for name, prefixes in POPULATIONS.items():
        rows = usable & np.asarray([p.startswith(prefixes) for p in people])
        names, counts = np.unique(people[rows], return_counts=True)
        keep = rows & np.isin(people, names[counts >= 2])
        calibration = calibrate_gallery(unit_rows(vectors[keep]), list(people[keep]), name)
        cells = []
        for n in SIZES:
            threshold = calibration.threshold(args.target_fpir, n)
            fnir = fnir_at(threshold, calibration.genuine)
            cells.append(f"{threshold:.3f} / {fnir:.0%}")
        print(
            f"| {name} | {calibration.people} | {calibration.tail.n:,} | "
            + " | ".join(cells)
            + " |"
        )
    print("cells: threshold (cosine) / expected FNIR (genuine identity scores below it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
