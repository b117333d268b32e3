"""What flip test-time augmentation costs per face: open-yunet-dlib against open-yunet-dlib-flip.

    EDGE_MODEL_DIR=/work/shared/models python bench/flip_cost.py /work/shared/data/faces/dev \
        [--images 60] [--threads 1]

Both engines in one process, the same images in alternating order, so load on the shared box
falls on both alike. Per image: the embed stage (one recogniser pass, or two for flip in one
batch) and the whole analysis (decode to template, liveness included), p50/p95/p99 in ms.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge import wiring
from edge.settings import Settings
from kernel.errors import GerbangError
from models.batch import list_images
from models.loader import RuntimeChoice
from models.obtain import ensure_converted

PACKS = ("open-yunet-dlib", "open-yunet-dlib-flip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings()
    engines = {}
    for pack in PACKS:
        spec = wiring.engine_spec(settings, pack)
        ensure_converted(spec.store, spec.pack)
        runtime = RuntimeChoice(spec.runtime.providers, args.threads)
        engines[pack] = replace(spec, runtime=runtime).build()
    paths = list_images(args.dir)[: args.images]
    images = [path.read_bytes() for path in paths]
    times: dict[str, dict[str, list[float]]] = {p: {"embed": [], "total": []} for p in PACKS}
    for number, data in enumerate(images * 2):
        order = PACKS if number % 2 == 0 else PACKS[::-1]
        for pack in order:
            try:
                analysis = engines[pack].analyse_bytes(data)
            except GerbangError:
                continue
            times[pack]["embed"].append(analysis.timings_ms["embed"])
            times[pack]["total"].append(sum(analysis.timings_ms.values()))
    print(f"{len(images)} images x 2 rounds, {args.threads} thread(s) per session")
    print("| pack | stage | faces | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|")
    for pack in PACKS:
        for stage, values in times[pack].items():
            p50, p95, p99 = np.percentile(values, [50, 95, 99])
            print(f"| {pack} | {stage} | {len(values)} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
