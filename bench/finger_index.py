"""Fingerprint 1:N: the index (models/fingerprint/index.py) against exhaustive MCC, with the
previous index (bench/finger_index_previous.py, dense first stage) measured in the same run.

Run from the repository root under nice (README's table came from the second line; about 20 to
40 minutes on a loaded 2-core machine, most of it building cylinders and the 100k IVF):
    nice -n 10 python bench/finger_index.py --sizes 1000 10000
    nice -n 10 python bench/finger_index.py --probes 100 --distinct 2000 --sizes 1000 10000 100000
--cells 8 4 measures an index with each packing of the re-scored cylinders in the same run (each
against exhaustive matching with its own packing); --rotations 1,2,3 4,5,6 6,7,8 repeats every
measurement with each set of impressions enrolled (the rest probe) and sums the decisions.

Data. The real templates are every FVC impression under --data (NBIS MINDTCT, 8 databases, 80
fingers x 8 impressions, ~630 that extract). Beyond them the gallery is filled with MODELLED
templates: each joins the left half (in x) of one real template to the right half of a real
template of another finger (never a probe impression), then jitters every minutia (position
sd 3 px, direction sd 0.1 rad), drops 15% and turns the whole by up to 20 degrees. They are new finger-like patterns, not copies
of a real finger, with the local structure of real prints (so their cylinders look real).
Modelled templates are cylinder-built once and reused round-robin beyond --distinct (building
100,000 would take 20 minutes): a 10k gallery holds each of 2,000 five times, which crowds the
first stage's neighbours and shortlist with copies (harder for the index than distinct prints).

Probes: real impressions whose finger is enrolled (its first --enrol impressions, or those of
a rotation). The rotations share their fingers, so their searches are not independent.
Per size and index it reports:
- latency p50/p95/p99 of a search (first stage + full MCC on the shortlist), ms wall, on ONE
  thread (BLAS and FAISS pinned to one: a second core serves a second search), the CPU time
  p50/p99 (less sensitive to the machine's other load), throughput (searches/s, one at a time);
- recall against exhaustive matching: share of probes whose exhaustive best template is in the
  index's answer, for all probes and for those whose best reaches the threshold of FPIR 1% for
  that many templates (the decisions that matter). Exhaustive = full MCC (the same batched
  scorer the index re-scores with) against every distinct template of the gallery, so it is
  exact for every size: copies score the same;
- mate recall: whether the probe's mate is shortlisted whenever its MCC score reaches that threshold;
- memory were every template distinct (the index's bytes per distinct template times the size).
Thresholds: identify.threshold_for_fpir on the non-mated scores of the exhaustive runs, leaving
out modelled templates made from half of the probe's own finger (near-mates).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # FAISS too
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 (BLAS threads must be set before NumPy is imported)
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, fields, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import finger_index_previous as previous  # noqa: E402
from finger_index_data import Data, Fold, gallery, prepare, rotation  # noqa: E402

from models.fingerprint.identify import threshold_for_fpir  # noqa: E402
from models.fingerprint.index import FingerIndex, Hit, IndexParameters  # noqa: E402
from models.fingerprint.mcc_batch import PACKINGS  # noqa: E402
from models.fingerprint.mcc_template import MccTemplate  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/fingerprints"


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99."""
    p = np.percentile(values, [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


def timed_searches(index: FingerIndex | previous.FingerIndex, probes: list[MccTemplate]
                   ) -> tuple[list[float], list[float], list[list[Hit]]]:  # fmt: skip
    """Wall and CPU ms of one search at a time; each answer."""
    times, cpu, answers = [], [], []
    for probe in probes:
        t0, c0 = time.perf_counter(), time.process_time()
        answers.append(list(index.search(probe)))
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return times, cpu, answers


@dataclass
class Tally:
    """Decisions exhaustive matching makes at a threshold, and how many the index made too."""

    made: int = 0
    kept: int = 0
    mates_made: int = 0
    mates_kept: int = 0
    firsts: int = 0  # probes whose mate is exhaustive matching's best candidate
    firsts_kept: int = 0  # ... and the index found the mate's best impression

    def add(self, mate: bool, kept: bool) -> None:
        self.made, self.kept = self.made + 1, self.kept + kept
        if mate:
            self.mates_made, self.mates_kept = self.mates_made + 1, self.mates_kept + kept

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)))


def decisions(size: int, data: Data, folds: list[tuple[Fold, list[list[Hit]]]],
              target: float) -> tuple[Tally, float]:  # fmt: skip
    """Every (probe, candidate) exhaustive MCC decides at the target FPIR over `size` templates,
    and whether the index decides it too (a candidate: a real finger's best impression, or a
    modelled template and its copies)."""
    present = len(data.enrolled) + min(size - len(data.enrolled), len(folds[0][0].fakes))
    impostor = [s for fold, _ in folds for i, k in enumerate(fold.probes) for c in range(present)
                if data.candidate(c) != data.reals[k][0] for s in [fold.exhaustive[i, c]]]  # fmt: skip
    threshold = threshold_for_fpir(impostor, size, target).threshold
    tally = Tally()
    for fold, answers in folds:
        for i, (k, answer) in enumerate(zip(fold.probes, answers, strict=False)):
            best: dict[str, float] = {}
            for c in range(present):
                who = data.candidate(c)
                best[who] = max(best.get(who, -1.0), float(fold.exhaustive[i, c]))
            found: dict[str, float] = {}
            for hit in answer:
                who = data.candidate(data.column(hit.key, fold))
                found[who] = max(found.get(who, -1.0), hit.score)
            mate = data.reals[k][0]
            if best[mate] >= max(best.values()):
                tally.firsts += 1
                tally.firsts_kept += found.get(mate, -1.0) >= best[mate] - 1e-9
            for who, score in best.items():
                if score >= threshold:
                    tally.add(who == mate, found.get(who, -1.0) >= threshold)
    return tally, threshold


def wilson_lower(kept: int, made: int, z: float = 1.645) -> float:
    """One-sided 95% lower bound of a share (Wilson score interval)."""
    if made == 0:
        return float("nan")
    p = kept / made
    centre = p + z * z / (2 * made)
    spread = z * np.sqrt(p * (1 - p) / made + z * z / (4 * made * made))
    return float((centre - spread) / (1 + z * z / made))


def measure(size: int, datas: list[Data], args: argparse.Namespace
            ) -> list[tuple[str, dict[str, float]]]:  # fmt: skip
    """One gallery size, each index: latency, decisions against exhaustive matching (summed over
    the rotations), memory."""
    rows = []
    # (name, bits of the cells it is measured against); the previous index keeps its own bytes
    indexes = [(f"FAISS index, {b}-bit cells", b) for b in args.cells]
    for name, bits in [*indexes, ("previous", args.cells[0])]:
        if name == "previous" and size > args.peer_until:
            continue
        n_probes = args.probes if name != "previous" else args.peer_probes
        times: list[float] = []
        cpu: list[float] = []
        answered: list[list[tuple[Fold, list[list[Hit]]]]] = [[] for _ in datas]
        built, mb = 0.0, 0.0
        for data, fold in ((d, f) for d in datas for f in d.folds):
            t0 = time.perf_counter()
            if name != "previous":
                index: FingerIndex | previous.FingerIndex = FingerIndex(
                    IndexParameters(
                        shortlist=args.shortlist, pair_budget=args.pair_budget, cell_bits=bits
                    )
                )
            else:
                index = previous.FingerIndex(previous.IndexParameters(shortlist=args.shortlist))
            index.add_many(gallery(size, data, fold))
            built += time.perf_counter() - t0
            probes = fold.probes[: n_probes // 2]
            wall, used, answers = timed_searches(index, [data.cylinders[k] for k in probes])
            times, cpu = times + wall, cpu + used
            searched = replace(fold, probes=probes, exhaustive=fold.by_bits.get(bits, np.zeros(0)))
            answered[datas.index(data)].append((searched, answers))
            mb = memory(index, size) / 2**20
            del index
        row = dict(zip(("p50", "p95", "p99"), percentiles(times), strict=True))
        row["cpu_p50"], row["cpu_p95"], row["cpu_p99"] = percentiles(cpu)
        row["rate"], row["probes"] = 1e3 / float(np.mean(times)), len(times)
        for target in (0.01, 0.1) if args.decisions else ():
            tally = Tally()
            for data, folds in zip(datas, answered, strict=True):
                tally = tally + decisions(size, data, folds, target)[0]
            row[f"made{target}"], row[f"kept{target}"] = tally.made, tally.kept
            row[f"mates{target}"], row[f"mates_kept{target}"] = tally.mates_made, tally.mates_kept
            row["firsts"], row["firsts_kept"] = tally.firsts, tally.firsts_kept
        row.update(build_s=built / (2 * len(datas)), mb=mb)
        print(size, name, {k: round(v, 3) for k, v in row.items()}, flush=True)
        rows.append((name, row))
    return rows


def memory(index: FingerIndex | previous.FingerIndex, size: int) -> float:
    """Bytes of the index were every template distinct (copies share their full cylinders here)."""
    if isinstance(index, FingerIndex):
        distinct = {id(c): c for c in index._full.values()}.values()
        per_template = sum(c.nbytes for c in distinct) / max(1, len(distinct))
        return index._neighbours.nbytes + per_template * size
    held = {id(c): c for c in index._full}.values()
    per_template = sum(c.values.nbytes + c.cells.nbytes + c.minutiae.nbytes for c in held) / max(
        1, len(held)
    )
    return index._vectors.nbytes + index._dirs.nbytes + per_template * size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--probes", type=int, default=1000, help="at most (all: about 390)")
    parser.add_argument("--enrol", type=int, default=3, help="impressions enrolled a finger")
    parser.add_argument(
        "--peer-probes", type=int, default=30, help="searches of the previous index"
    )
    parser.add_argument(
        "--peer-until", type=int, default=10000, help="largest size for the previous index"
    )
    parser.add_argument("--distinct", type=int, default=2000, help="modelled templates a fold")
    parser.add_argument("--shortlist", type=int, default=IndexParameters().shortlist)
    parser.add_argument("--pair-budget", type=int, default=IndexParameters().pair_budget)
    parser.add_argument(
        "--no-decisions",
        dest="decisions",
        action="store_false",
        help="latency and memory only: no exhaustive matching (the slow part), no decisions",
    )
    parser.add_argument(
        "--rotations",
        type=rotation,
        nargs="+",
        default=[],
        help="impressions enrolled in each rotation, e.g. 1,2,3 4,5,6 6,7,8 (the rest probe)",
    )
    parser.add_argument("--extractor", choices=("nbis", "leader"), default="nbis",
                        help="minutiae of the real templates (the modelled ones follow them)")  # fmt: skip
    parser.add_argument("--template-cache", metavar="DIR",
                        help="keep extracted minutiae here for the next run (not in git)")  # fmt: skip
    parser.add_argument(
        "--cells",
        type=int,
        nargs="+",
        choices=PACKINGS,
        default=[IndexParameters().cell_bits],
        help="bits of the stored cell values: an index (and its exhaustive matching) for each",
    )
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}; BLAS and FAISS threads 1")
    datas = prepare(args, np.random.default_rng(12))
    rows = [
        (size, name, r) for size in sorted(args.sizes) for name, r in measure(size, datas, args)
    ]
    if len(datas) > 1:
        print(f"\ndecisions summed over {len(datas)} rotations of the enrolled impressions: the"
              " same fingers in each, so the searches are not independent")  # fmt: skip
    print()
    print("| templates | index | searches | wall ms p50 / p95 / p99 | CPU ms p50 / p95 / p99 |"
          " searches/s | decisions kept at FPIR 1% (mates) | at FPIR 10% (mates) |"
          " mate kept where exhaustive ranks it first |"
          " memory MB (KB per finger) | build s |")  # fmt: skip
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, name, r in rows:
        kept = [f"{_share(r[f'kept{t}'], r[f'made{t}'])} ({_share(r[f'mates_kept{t}'], r[f'mates{t}'])})"
                if args.decisions else "not measured" for t in (0.01, 0.1)]  # fmt: skip
        firsts = _share(r["firsts_kept"], r["firsts"]) if args.decisions else "not measured"
        print(f"| {size:,} | {name} | {r['probes']} | {r['p50']:.0f} / {r['p95']:.0f} /"
              f" {r['p99']:.0f} | {r['cpu_p50']:.0f} / {r['cpu_p95']:.0f} / {r['cpu_p99']:.0f} |"
              f" {r['rate']:.1f} | {kept[0]} | {kept[1]} | {firsts} |"
              f" {r['mb']:,.0f} ({r['mb'] * 1024 / size:.0f}) | {r['build_s']:.0f} |")  # fmt: skip
    print(f"\nload average at end: {os.getloadavg()}")


def _share(kept: float, made: float) -> str:
    """'kept of made, bound': the share with its one-sided 95% Wilson lower bound."""
    if not made:
        return "none made"
    return (
        f"{kept:.0f} of {made:.0f}, {kept / made:.1%} (>= {wilson_lower(int(kept), int(made)):.1%})"
    )


if __name__ == "__main__":
    main()
