"""Minutiae extraction speed: NBIS MINDTCT against LEADER (ONNX) on 1 and 2 onnxruntime threads.

Run from the repository root (a few minutes on 2 cores; the LEADER model is converted into
the cache directory first if needed):
    python bench/finger_extract.py
    python bench/finger_extract.py --per-set 20 --sets fvc2002-db1_b fvc2004_b/FVC2004_DB1_B

Each configuration runs in its own subprocess, so its peak RSS is its own (the interpreter,
NumPy, OpenCV and, for LEADER, onnxruntime with the model and its buffers). Per FVC set (one
image size each) it extracts the first --per-set images once to warm up, then again timed, and
prints p50/p95/p99 ms and prints/s. Decoding is excluded; LEADER's time includes its pre- and
post-processing (padding, cropping, thresholds), as extract() does. The machine is shared: the
load average is printed at the start and the end; read the figures beside it.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 (BLAS threads must be set before NumPy is imported)
import contextlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.fingerprint import evaluation, extractors, nbis  # noqa: E402
from models.store import ModelStore  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared/data/fingerprints"
DEFAULT_SETS = (
    "fvc2002-db1_b", "fvc2002-db3_b", "fvc2000_b/FVC2000_DB1_B", "fvc2000_b/FVC2000_DB2_B",
    "fvc2000_b/FVC2000_DB3_B", "fvc2004_b/FVC2004_DB1_B", "fvc2004_b/FVC2004_DB2_B",
    "fvc2004_b/FVC2004_DB3_B",
)  # fmt: skip
CONFIGS = (("nbis", 1), ("leader", 1), ("leader", 2))


def _store() -> ModelStore:
    model_dir = Path(os.environ.get("EDGE_MODEL_DIR", ROOT.parent / "shared/models"))
    data_dir = Path(os.environ.get("EDGE_DATA_DIR", ROOT / "var"))  # as Settings.data_dir
    return ModelStore(model_dir, data_dir / "model-cache")


def _timed(extract: extractors.Extractor, images: list[np.ndarray], ppi: int) -> list[float]:
    times = []
    for image in images:
        start = time.perf_counter()
        with contextlib.suppress(nbis.FingerprintImageInvalid):  # a failure costs time too
            extract(image, ppi)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def run_config(name: str, threads: int, folders: list[Path], per_set: int, ppi: int) -> dict:
    """One configuration over every set, in this process: its rows and its peak RSS."""
    extract = extractors.named_extractor(name, _store(), threads)
    rows = []
    for folder in folders:
        items = evaluation.scan_folder(folder)[:per_set]
        images = [nbis.read_image(item.path.read_bytes()) for item in items]
        _timed(extract, images, ppi)  # warm-up: first-run allocations, page faults
        ms = np.array(_timed(extract, images, ppi))
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        size = "x".join(str(s) for s in images[0].shape[::-1])
        rows.append({"set": folder.name, "size": size, "n": len(ms), "p50": p50, "p95": p95,
                     "p99": p99, "per_s": 1e3 * len(ms) / ms.sum()})  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"name": name, "threads": threads, "rows": rows, "peak_rss_mb": peak_mb}


def _print(results: list[dict]) -> None:
    print("| set | size | extractor | threads | p50 ms | p95 ms | p99 ms | prints/s | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        for r in result["rows"]:
            print(f"| {r['set']} | {r['size']} | {result['name']} | {result['threads']} |"
                  f" {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['per_s']:.1f} |"
                  f" {result['peak_rss_mb']:.0f} MB |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    parser.add_argument("--per-set", type=int, default=10, help="images timed per set")
    parser.add_argument("--ppi", type=int, default=500)
    parser.add_argument("--one", nargs=2, metavar=("EXTRACTOR", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    folders = [args.data / s for s in args.sets]
    if args.one:  # the child: one configuration, its result as JSON on stdout
        print(
            json.dumps(run_config(args.one[0], int(args.one[1]), folders, args.per_set, args.ppi))
        )
        return
    print(f"load average at start: {os.getloadavg()}")
    results = []
    for name, threads in CONFIGS:
        command = [sys.executable, __file__, "--data", str(args.data), "--per-set",
                   str(args.per_set), "--ppi", str(args.ppi), "--sets", *args.sets,
                   "--one", name, str(threads)]  # fmt: skip
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    _print(results)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
