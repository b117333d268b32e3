"""A site's own finger tail against the shipped one, on FVC fingers enrolled as a site holds them.

Run from the repository root (LEADER extracts the 560 prints first, about half a second each,
unless --template-cache holds them from an earlier run):
    python bench/finger_site_tail.py --template-cache var/finger-templates

Each finger of the seven FVC B sets (each finger once, openset_eval.SAME_FINGERS) is one person's
finger, its impressions 1-3 stored as the site stores them (ISO, decoded again). The site's tail
is fitted exactly as a site fits it (enrollment/finger_population.py:
models/fingerprint/tail.population_scores, stored impressions against stored ones, the site's
comparison budget), then again with each finger's fresh impression 1 as the probe, as a gate's
probe is (the shipped tail's protocol). The table gives the threshold each tail sets for FPIR 1%
over a range of fingers searched, and how long the site's fit took. The pooled sets span several
sensors, whose cross-sensor impostors are easier than a one-sensor site's; the shipped tail pairs
fingers within a set only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.settings import Settings  # noqa: E402
from edge.wiring import model_store  # noqa: E402
from models.calibration import SHIPPED_CALIBRATIONS  # noqa: E402
from models.fingerprint import extractors, openset_eval  # noqa: E402
from models.fingerprint.identify import fmr_for_fpir  # noqa: E402
from models.fingerprint.mcc_batch import Packed, compare_many  # noqa: E402
from models.fingerprint.tail import (  # noqa: E402
    MAX_COMPARISONS,
    FingerTail,
    population_scores,
    stored,
    tail_of,
)

SETS = ("fvc2002-db1_b", "fvc2002-db3_b", "fvc2000_b/FVC2000_DB1_B", "fvc2000_b/FVC2000_DB3_B",
        "fvc2004_b/FVC2004_DB1_B", "fvc2004_b/FVC2004_DB2_B", "fvc2004_b/FVC2004_DB3_B")  # fmt: skip
SIZES = (100, 1_000, 4_000, 10_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fingerprints")
    parser.add_argument("--extractor", choices=extractors.EXTRACTORS, default="leader")
    parser.add_argument("--template-cache", type=Path, help="extracted minutiae kept here")
    args = parser.parse_args()
    extract = extractors.named_extractor(args.extractor, model_store(Settings()))
    if args.template_cache:
        extract = extractors.CachedExtractor(extract, args.extractor, args.template_cache)
    fingers = openset_eval.load_fingers(
        [args.data / s for s in SETS], 500, extractors.for_matcher(extract, "mcc")
    )
    enrolled = {(f, 2): [stored(imps[i]) for i in openset_eval.ENROLLED if i in imps]
                for f, imps in fingers.items()}  # fmt: skip
    start = time.perf_counter()
    impostor, genuine = population_scores(enrolled, MAX_COMPARISONS)
    seconds = time.perf_counter() - start
    site = tail_of(impostor, genuine, "site", len(enrolled))
    fresh = tail_of(_fresh_probes(fingers, enrolled, len(impostor)), genuine, "fresh", 0)
    tail_id = f"finger-{extractors.MATCHER_IDS[args.extractor]}.openset"
    shipped = FingerTail.load(SHIPPED_CALIBRATIONS / f"{tail_id}.json")
    print(f"{len(enrolled)} fingers as a site holds them ({args.extractor} minutiae):"
          f" {len(impostor)} impostor comparisons in {seconds:.1f} s, highest"
          f" {max(impostor):.4f}; shipped tail: {shipped.tail.n} comparisons")  # fmt: skip
    print("| fingers searched | FMR a comparison | site (stored probes) | site (fresh probes) |"
          " shipped |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in SIZES:
        fmr = fmr_for_fpir(0.01, n)
        print(f"| {n:,} | {fmr:.1e} | {site.threshold_at_fmr(fmr):.4f} |"
              f" {fresh.threshold_at_fmr(fmr):.4f} | {shipped.threshold_at_fmr(fmr):.4f} |")  # fmt: skip
    return 0


def _fresh_probes(
    fingers: dict[str, openset_eval.Finger], enrolled: dict, budget: int
) -> list[float]:  # type: ignore[type-arg]
    """The same pairs' scores with each finger's fresh impression 1 as the probe."""
    rng = np.random.default_rng(0)
    keys = sorted(enrolled)
    scores: list[float] = []
    for key in keys:
        others = [t for o in keys if o != key for t in enrolled[o]]
        pick = rng.choice(len(others), min(len(others), budget // len(keys)), replace=False)
        probe = fingers[key[0]][min(fingers[key[0]])]
        scores += compare_many(probe.cylinders, [Packed.of(others[j].cylinders) for j in pick])
    return scores


if __name__ == "__main__":
    raise SystemExit(main())
