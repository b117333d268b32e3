"""What lowers FNIR at a fixed FPIR, by population: templates, flip TTA, cohort normalisation.

    EDGE_MODEL_DIR=... python bench/openset_embed.py /work/shared/data/faces/openset \
        --out var/openset-open-yunet-dlib.npz          # once: embeddings with mirrored chips
    python bench/openset_measure.py var/openset-open-yunet-dlib.npz [--captures 3] [--repeats 10]

Each variant runs the same seeded open-set protocol (models/openset_protocol): a gallery of as
many people as the population allows (three quarters of them at most, enrolled from K captures),
the rest searching as non-mated. Printed: FNIR at FPIR 10/3/1%, rank-1, and the FNIR at FPIR 1%
modelled for a 2,000-person gallery (normal tail; a model, not a measurement) beside the same
model at the measured gallery size (its check: where the two disagree, do not trust the 2,000
figure), as a Markdown table for the README. Nothing here changes the service's decisions: these are measurements.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from models import openset_eval as ose
from models import openset_protocol as osp

POPULATIONS = {
    "Western (CelebA)": ("celeba-",),
    "East-Asian (all)": ("asianfaces-", "casia5-"),
    "East-Asian web (AsianFaces)": ("asianfaces-",),
    "East-Asian lab (CASIA-FaceV5)": ("casia5-",),
}

VARIANTS = [
    osp.Variant("mean (baseline)", "mean"),
    osp.Variant("max over captures", "max"),
    osp.Variant("quality-weighted mean", "qmean"),
    osp.Variant("flip TTA + mean", "mean", flip=True),
    osp.Variant("mean + cohort T-norm k=10", "mean", cohort="probe", cohort_k=10),
    osp.Variant("mean + cohort S-norm k=10", "mean", cohort="sym", cohort_k=10),
    osp.Variant("flip + mean + cohort T-norm", "mean", flip=True, cohort="probe", cohort_k=10),
    osp.Variant("flip + mean + cohort S-norm", "mean", flip=True, cohort="sym", cohort_k=10),
]


def load(path: Path) -> osp.Photos:
    """The archive written by bench/openset_embed.py."""
    with np.load(path) as archive:
        labels = [str(p).split("/", 1)[0] for p in archive["paths"]]
        flipped = archive.get("embeddings_flip", None)
        return osp.photos_from(archive["embeddings"], labels, archive["quality"], flipped)


def measure(photos: osp.Photos, captures: int, repeats: int, seed: int, big: int) -> list[dict]:
    """One record per (population, variant)."""
    records = []
    for population, prefixes in POPULATIONS.items():
        part = photos.subset_people([n for n in photos.names if n.startswith(prefixes)])
        size = osp.largest_measured_gallery(part, captures)
        for variant in VARIANTS:
            if variant.flip and part.flipped is None:
                continue
            found = osp.measured(part, variant, size, captures, repeats, seed)
            summary = ose.summarise(found, (0.1, 0.03, 0.01))
            curve = osp.modelled(part, variant, big, captures, seed, "normal")
            check = osp.modelled(part, variant, size, captures, seed, "normal")
            at = summary.at_fpir
            records.append(
                {
                    "population": population,
                    "people": len(part.names),
                    "gallery": size,
                    "variant": variant.name,
                    "mated": len(found.mate_score),
                    "nonmated": len(found.nonmated_top),
                    "fnir": {k: v["fnir"] for k, v in at.items()},
                    "supported": {k: v["supported"] for k, v in at.items()},
                    "rank1": summary.rank["1"],
                    "model_check_fnir_at_1pct": check.fnir_at(check.threshold_at(0.01)),
                    f"modelled_fnir_at_1pct_{big}": curve.fnir_at(curve.threshold_at(0.01)),
                }
            )
            print(_line(records[-1], big), flush=True)
    return records


def _line(r: dict, big: int) -> str:
    cells = []
    for k in ("0.1", "0.03", "0.01"):
        cells.append(f"{r['fnir'][k]:.1%}" + ("" if r["supported"][k] else "*"))
    return (
        f"| {r['population']} | {r['gallery']} | {r['variant']} | "
        + " | ".join(cells)
        + f" | {r['rank1']:.1%} | {r['model_check_fnir_at_1pct']:.1%}"
        + f" | {r[f'modelled_fnir_at_1pct_{big}']:.1%} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive")
    parser.add_argument("--captures", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modelled-people", type=int, default=2000)
    parser.add_argument("--out", help="JSON file for the records")
    args = parser.parse_args(argv)
    photos = load(Path(args.archive))
    big = args.modelled_people
    print(
        f"K={args.captures} captures, {args.repeats} trials per row; * = fewer than 30 expected "
        "false positives (indicative)\n"
        "| population | gallery (people) | variant | FNIR@FPIR10% | FNIR@3% | FNIR@1% | rank-1 "
        f"| model check: FNIR@1% modelled at the same gallery | FNIR@1% at {big} people (modelled) |"
        "\n|---|---|---|---|---|---|---|---|---|"
    )
    records = measure(photos, args.captures, args.repeats, args.seed, big)
    if args.out:
        Path(args.out).write_text(json.dumps(records, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
