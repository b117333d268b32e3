"""Fingerprint 1:N: the index (models/fingerprint/index.py) against exhaustive MCC, with the
previous index (bench/finger_index_previous.py, dense first stage) measured in the same run.

Run from the repository root under nice (README's table came from the second line; about 20 to
40 minutes on a loaded 2-core machine, most of it building cylinders and the 100k IVF):
    nice -n 10 python bench/finger_index.py --sizes 1000 10000
    nice -n 10 python bench/finger_index.py --probes 100 --distinct 2000 --sizes 1000 10000 100000

Data. The real templates are every FVC impression under --data (NBIS MINDTCT, 8 databases, 80
fingers x 8 impressions, ~630 that extract). Beyond them the gallery is filled with MODELLED
templates: each joins the left half (in x) of one real template to the right half of a real
template of another finger (never a probe impression), then jitters every minutia (position sd 3 px, direction sd 0.1 rad),
drops 15% and turns the whole by up to 20 degrees. They are new finger-like patterns, not copies
of a real finger, with the local structure of real prints (so their cylinders look real).
Modelled templates are cylinder-built once and reused round-robin beyond --distinct (building
100,000 would take 20 minutes): a 10k gallery holds each of 2,000 five times, which crowds the
first stage's neighbours and shortlist with copies (harder for the index than distinct prints).

Probes: real impressions whose mate (the finger's first impression, enrolled) is in the gallery.
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
from collections.abc import Hashable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import finger_index_previous as previous  # noqa: E402

from kernel.errors import InputError  # noqa: E402
from models.fingerprint import evaluation, nbis  # noqa: E402
from models.fingerprint.identify import threshold_for_fpir  # noqa: E402
from models.fingerprint.index import FingerIndex, IndexParameters  # noqa: E402
from models.fingerprint.mcc_batch import Packed, compare_many  # noqa: E402
from models.fingerprint.mcc_cylinders import build  # noqa: E402
from models.fingerprint.mcc_template import MccTemplate  # noqa: E402
from models.fingerprint.minutiae import MinutiaeTemplate  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/fingerprints"


def folders(root: Path) -> list[Path]:
    """Every FVC database folder under the root (FFF_I.tif images)."""
    found = [p.parent for p in root.rglob("101_1.tif")]
    return sorted(set(found))


def real_templates(root: Path) -> list[tuple[str, int, MinutiaeTemplate]]:
    """(finger label, impression, template at 500 ppi) of every image that extracts."""
    out = []
    for folder in folders(root):
        ppi = 512 if "2004_DB3" in folder.name.upper() else 500  # FVC2004 DB3 (thermal sweep)
        for item in evaluation.scan_folder(folder):
            try:
                template = nbis.extract(nbis.read_image(item.path.read_bytes()), ppi)
            except InputError:
                continue
            out.append((f"{folder.name}/{item.finger}", item.number, template.scaled_to(500)))
    return out


def modelled(
    reals: list[tuple[str, int, MinutiaeTemplate]], sources: list[int], rng: np.random.Generator
) -> tuple[MinutiaeTemplate, tuple[str, str]]:
    """A new finger-like template: halves of two real fingers (impressions among `sources`),
    jittered, thinned, turned."""
    i, j = (int(k) for k in rng.choice(sources, 2, replace=False))
    while reals[i][0] == reals[j][0]:
        j = int(rng.choice(sources))
    a, b = reals[i][2], reals[j][2]
    cut_a, cut_b = np.median(a.minutiae[:, 0]), np.median(b.minutiae[:, 0])
    left = a.minutiae[a.minutiae[:, 0] < cut_a]
    right = b.minutiae[b.minutiae[:, 0] >= cut_b].copy()
    right[:, 0] += cut_a - cut_b  # join at the cut
    rows = np.concatenate([left, right])
    rows = rows[rng.random(len(rows)) > 0.15]
    rows[:, :2] += rng.normal(0, 3, (len(rows), 2))
    turn = rng.uniform(-np.pi / 9, np.pi / 9)
    centre = rows[:, :2].mean(axis=0)
    c, s = np.cos(turn), np.sin(turn)
    xy = rows[:, :2] - centre
    rows[:, 0] = centre[0] + c * xy[:, 0] + s * xy[:, 1]
    rows[:, 1] = centre[1] - s * xy[:, 0] + c * xy[:, 1]
    rows[:, 2] = (rows[:, 2] + turn + rng.normal(0, 0.1, len(rows))) % (2 * np.pi)
    return MinutiaeTemplate(a.width, a.height, 500, rows, "modelled"), (reals[i][0], reals[j][0])


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99."""
    p = np.percentile(values, [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


@dataclass
class Data:
    """Real templates (enrolled first impressions, probes), the modelled ones, exhaustive scores."""

    reals: list[tuple[str, int, MinutiaeTemplate]]
    enrolled: list[int]
    probes: list[int]
    cylinders: dict[int, MccTemplate]
    fakes: list[MccTemplate]
    sources: list[tuple[str, str]]  # the two real fingers each modelled template is made of
    exhaustive: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # probe x distinct

    def distinct(self) -> list[MccTemplate]:
        """Every distinct gallery template: the enrolled reals, then the modelled ones."""
        return [self.cylinders[e] for e in self.enrolled] + self.fakes

    def column(self, key: Hashable) -> int:
        """The distinct template a gallery key holds."""
        kind, number = key  # type: ignore[misc]
        if kind == "real":
            return self.enrolled.index(number)
        return len(self.enrolled) + number % len(self.fakes)

    def mate_of(self, probe: int) -> int:
        """The enrolled impression of the probe's finger."""
        return next(e for e in self.enrolled if self.reals[e][0] == self.reals[probe][0])

    def related(self, probe: int, column: int) -> bool:
        """The probe's mate, or a modelled template made from half of the probe's finger."""
        finger = self.reals[probe][0]
        if column < len(self.enrolled):
            return bool(self.reals[self.enrolled[column]][0] == finger)
        return finger in self.sources[column - len(self.enrolled)]


def prepare(args: argparse.Namespace, rng: np.random.Generator) -> Data:
    """Extract the real sets, choose probes, build the modelled templates, match exhaustively."""
    start = time.perf_counter()
    reals = real_templates(args.data)
    first: dict[str, int] = {}  # finger -> its lowest impression: the enrolled one
    for k, (finger, _, _) in enumerate(reals):
        first.setdefault(finger, k)
    enrolled = sorted(first.values())
    pool = [k for k in range(len(reals)) if k not in set(enrolled)]
    probes = [int(k) for k in rng.choice(pool, min(args.probes, len(pool)), replace=False)]
    cylinders = {k: build(reals[k][2]) for k in enrolled + probes}
    distinct = min(max(args.sizes) - len(enrolled), args.distinct)
    # never from a probe impression: half a copy of the probe (five copies of it at 10k) would
    # crowd its mate out of any shortlist, which no real gallery does
    allowed = sorted(set(range(len(reals))) - set(probes))
    made = [modelled(reals, allowed, rng) for _ in range(distinct)]
    fakes, sources = [build(t) for t, _ in made], [src for _, src in made]
    data = Data(reals, enrolled, probes, cylinders, fakes, sources)
    packed = [Packed.of(t) for t in data.distinct()]
    data.exhaustive = np.array([compare_many(cylinders[k], packed) for k in probes])
    print(f"{len(reals)} real templates, {len(enrolled)} enrolled fingers, {len(probes)} probes,"
          f" {distinct} modelled templates built, exhaustive MCC of every probe against each"
          f" ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return data


def gallery(size: int, data: Data) -> list[tuple[Hashable, MccTemplate]]:
    """The enrolled reals and size - 80 modelled templates (round-robin over the distinct ones)."""
    items: list[tuple[Hashable, MccTemplate]] = [
        (("real", e), data.cylinders[e]) for e in data.enrolled
    ]
    fakes = [
        (("modelled", m), data.fakes[m % len(data.fakes)]) for m in range(size - len(data.enrolled))
    ]
    return items + fakes  # type: ignore[return-value]


def timed_searches(index: FingerIndex | previous.FingerIndex, probes: list[MccTemplate]
                   ) -> tuple[dict[str, float], list[list[Hashable]]]:  # fmt: skip
    """Latency, CPU time and throughput of one search at a time; each answer's keys."""
    times, cpu, answers = [], [], []
    for probe in probes:
        t0, c0 = time.perf_counter(), time.process_time()
        answers.append([h.key for h in index.search(probe)])
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    row = dict(zip(("p50", "p95", "p99"), percentiles(times), strict=True))
    row["cpu_p50"], _, row["cpu_p99"] = percentiles(cpu)
    row["rate"] = 1e3 / float(np.mean(times))
    return row, answers


def recall(size: int, data: Data, answers: list[list[Hashable]]) -> dict[str, float]:
    """Recall of the exhaustive best, for all probes and where it decides at FPIR 1%."""
    present = np.zeros(data.exhaustive.shape[1], bool)
    present[: len(data.enrolled) + min(size - len(data.enrolled), len(data.fakes))] = True
    impostor = [s for i, k in enumerate(data.probes) for c in np.flatnonzero(present)
                if not data.related(k, c) for s in [data.exhaustive[i, c]]]  # fmt: skip
    threshold = threshold_for_fpir(impostor, size, 0.01).threshold
    found, decided, mates = [], [], []
    for i, (k, answer) in enumerate(zip(data.probes, answers, strict=False)):
        scores = np.where(present, data.exhaustive[i], -1.0)
        best = scores.max()
        found.append(any(scores[data.column(key)] >= best for key in answer))
        decided.append(best >= threshold)
        mate = data.enrolled.index(data.mate_of(k))
        if scores[mate] >= threshold:
            mates.append(("real", data.mate_of(k)) in answer)
    hits, deciding = np.asarray(found), np.asarray(decided)
    return {"recall": float(hits.mean()), "probes": len(hits), "decided": int(deciding.sum()),
            "recall_decided": float(hits[deciding].mean()) if deciding.any() else np.nan,
            "mates_deciding": len(mates), "mate_recall": float(np.mean(mates)) if mates else np.nan,
            "threshold": threshold}  # fmt: skip


def measure(size: int, data: Data, args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    """One gallery size, both indexes: latency, recall against exhaustive matching, memory."""
    items, rows = gallery(size, data), []
    for name in ("faiss", "previous"):
        n_probes = len(data.probes) if name == "faiss" else min(len(data.probes), args.peer_probes)
        if name == "previous" and size > args.peer_until:
            continue
        t0 = time.perf_counter()
        if name == "faiss":
            index: FingerIndex | previous.FingerIndex = FingerIndex(
                IndexParameters(shortlist=args.shortlist)
            )
        else:
            index = previous.FingerIndex(previous.IndexParameters(shortlist=args.shortlist))
        index.add_many(items)
        built = time.perf_counter() - t0
        row, answers = timed_searches(index, [data.cylinders[k] for k in data.probes[:n_probes]])
        row.update(recall(size, data, answers), build_s=built, mb=memory(index, size) / 2**20)
        print(size, name, {k: round(v, 3) for k, v in row.items()}, flush=True)
        rows.append((name, row))
        del index
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
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument(
        "--peer-probes", type=int, default=30, help="searches of the previous index"
    )
    parser.add_argument(
        "--peer-until", type=int, default=10000, help="largest size for the previous index"
    )
    parser.add_argument("--distinct", type=int, default=2000, help="modelled templates built")
    parser.add_argument("--shortlist", type=int, default=IndexParameters().shortlist)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}; BLAS and FAISS threads 1")
    data = prepare(args, np.random.default_rng(12))
    rows = [(size, name, r) for size in sorted(args.sizes) for name, r in measure(size, data, args)]
    print()
    print("| templates | index | search ms p50 / p95 / p99 | CPU ms p50 / p99 | searches/s |"
          " recall vs exhaustive: all; decided at FPIR 1% | mate shortlisted when MCC decides |"
          " memory MB (KB per finger) | build s |")  # fmt: skip
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, name, r in rows:
        print(f"| {size:,} | {name} | {r['p50']:.0f} / {r['p95']:.0f} / {r['p99']:.0f} |"
              f" {r['cpu_p50']:.0f} / {r['cpu_p99']:.0f} | {r['rate']:.1f} |"
              f" {r['recall']:.1%} of {r['probes']}; {r['recall_decided']:.1%} of {r['decided']} |"
              f" {r['mate_recall']:.1%} of {r['mates_deciding']} |"
              f" {r['mb']:,.0f} ({r['mb'] * 1024 / size:.0f}) | {r['build_s']:.0f} |")  # fmt: skip
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
