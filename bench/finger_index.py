"""Fingerprint 1:N with the index (models/fingerprint/index.py) against exhaustive MCC.

Run from the repository root (10 to 40 minutes, most of it building cylinders and exhaustive
matching; the README's table came from the second line):
    python bench/finger_index.py
    python bench/finger_index.py --probes 100 --exhaustive-budget 30000 --distinct 2000

Data. The real templates are every FVC impression under --data (NBIS MINDTCT, 8 databases, 80
fingers x 8 impressions, ~630 that extract). Beyond them the gallery is filled with MODELLED
templates: each joins the left half (in x) of one real template to the right half of a real
template of another finger, then jitters every minutia (position sd 3 px, direction sd 0.1 rad),
drops 15% and turns the whole by up to 20 degrees. They are new finger-like patterns, not copies
of a real finger, with the local structure of real prints (so their cylinders look real).
Modelled templates are cylinder-built once and reused round-robin beyond --distinct (building
100,000 would take 20 minutes): a 100k gallery holds each built one several times.

Probes: real impressions whose mate (another impression of the same finger, the first one
enrolled) is in the gallery. Per size it reports:
- latency p50/p95/p99 of a search (first stage + full MCC on the shortlist), ms, on ONE thread
  (BLAS pinned to one before NumPy loads: on a busy 2-core box OpenBLAS's own threads make the
  small MCC products several times slower; a second core would serve a second search), its CPU
  time (less sensitive to the machine's other load), and throughput (searches/s, one at a time);
- recall: share of probes whose exhaustive best template (full MCC over the whole gallery, same
  run) is in the index's answer, for all probes and for those whose best score reaches the
  threshold of FPIR 1% for that many people (the decisions that matter);
- exhaustive latency per probe (the peer), on as many probes as --exhaustive-budget comparisons
  allow at that size (so few at 10k, none at 100k: about 4 minutes a probe there);
- memory of the index were every template distinct (pooled vectors as held, compact cylinders
  at their mean size per template times the size), MB;
- mate recall, on every probe at every size: whether the probe's mate is shortlisted whenever its
  full MCC score reaches the FPIR 1% threshold (one comparison per probe, so it scales to 100k).
Thresholds: identify.threshold_for_fpir on the non-mated template scores of the exhaustive runs,
leaving out modelled templates made from half of the probe's own finger (near-mates).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 (BLAS threads must be set before NumPy is imported)
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Hashable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel.errors import InputError  # noqa: E402
from models.fingerprint import evaluation, nbis  # noqa: E402
from models.fingerprint.identify import threshold_for_fpir  # noqa: E402
from models.fingerprint.index import FingerIndex, IndexParameters  # noqa: E402
from models.fingerprint.mcc_cylinders import build  # noqa: E402
from models.fingerprint.mcc_matching import compare  # noqa: E402
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
    reals: list[tuple[str, int, MinutiaeTemplate]], rng: np.random.Generator
) -> tuple[MinutiaeTemplate, tuple[str, str]]:
    """A new finger-like template: halves of two real fingers, jittered, thinned, turned."""
    i, j = rng.choice(len(reals), 2, replace=False)
    while reals[i][0] == reals[j][0]:
        j = int(rng.integers(len(reals)))
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
    """Real templates (enrolled first impressions, probes) and the modelled ones."""

    reals: list[tuple[str, int, MinutiaeTemplate]]
    enrolled: list[int]
    probes: list[int]
    cylinders: dict[int, MccTemplate]
    fakes: list[MccTemplate]
    sources: list[tuple[str, str]]  # the two real fingers each modelled template is made of
    impostor: list[float] = field(default_factory=list)  # per-template non-mated scores

    def related(self, probe: int, key: Hashable) -> bool:
        """The probe's mate, or a modelled template made from half of the probe's finger."""
        finger = self.reals[probe][0]
        kind, number = key  # type: ignore[misc]
        if kind == "real":
            return bool(self.reals[number][0] == finger)
        return finger in self.sources[number % len(self.sources)]

    def mate_of(self, probe: int) -> int:
        """The enrolled impression of the probe's finger."""
        return next(e for e in self.enrolled if self.reals[e][0] == self.reals[probe][0])


def prepare(args: argparse.Namespace, rng: np.random.Generator) -> Data:
    """Extract the real sets, choose probes, build the modelled templates."""
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
    made = [modelled(reals, rng) for _ in range(distinct)]
    fakes, sources = [build(t) for t, _ in made], [src for _, src in made]
    print(f"{len(reals)} real templates, {len(enrolled)} enrolled fingers, {len(probes)} probes,"
          f" {distinct} modelled templates built ({time.perf_counter() - start:.0f} s)")  # fmt: skip
    return Data(reals, enrolled, probes, cylinders, fakes, sources)


def measure(size: int, data: Data, args: argparse.Namespace) -> dict[str, float]:
    """One gallery size: latency, recall against exhaustive matching, memory."""
    index = FingerIndex(IndexParameters(shortlist=args.shortlist))
    items: list[tuple[Hashable, MccTemplate]] = [
        (("real", e), data.cylinders[e]) for e in data.enrolled
    ]
    items += [
        (("modelled", m), data.fakes[m % len(data.fakes)]) for m in range(size - len(data.enrolled))
    ]
    index.add_many(items)
    times, cpu, answers = [], [], []
    for k in data.probes:
        t0, c0 = time.perf_counter(), time.process_time()
        answers.append(index.search(data.cylinders[k]))
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    row = dict(zip(("p50", "p95", "p99"), percentiles(times), strict=True))
    row["rate"] = 1e3 / float(np.mean(times))
    row["cpu_p50"], _, row["cpu_p99"] = percentiles(
        cpu
    )  # CPU time of all threads: load-independent
    # Exhaustive peer: full MCC over the whole gallery, within a budget of comparisons.
    n_exh = min(len(data.probes), max(args.exhaustive_budget // size, 0))
    found, best, exh_ms = [], [], []
    for k, answer in zip(data.probes[:n_exh], answers, strict=False):
        t0 = time.perf_counter()
        full = index.exhaustive(data.cylinders[k])
        exh_ms.append((time.perf_counter() - t0) * 1e3)
        best.append(full[0].score)
        found.append(any(h.key == full[0].key or h.score >= full[0].score for h in answer))
        data.impostor += [h.score for h in full if not data.related(k, h.key)]
    threshold = threshold_for_fpir(data.impostor, size, 0.01).threshold if data.impostor else 1.0
    decided = np.asarray(best) >= threshold
    row.update(
        exhaustive_probes=n_exh, exhaustive_ms=float(np.median(exh_ms)) if exh_ms else np.nan,
        recall=float(np.mean(found)) if found else np.nan, decided=int(decided.sum()),
        recall_decided=float(np.mean(np.asarray(found)[decided])) if decided.any() else np.nan,
        threshold=threshold,
    )  # fmt: skip
    # Every probe: is its mate shortlisted whenever full MCC would decide for it (one comparison)?
    mates = [(compare(data.cylinders[k], data.cylinders[data.mate_of(k)]), ("real", data.mate_of(k)) in
              {h.key for h in answer}) for k, answer in zip(data.probes, answers, strict=True)]  # fmt: skip
    deciding = [hit for score, hit in mates if score >= threshold]
    row.update(
        mates_deciding=len(deciding), mate_recall=float(np.mean(deciding)) if deciding else np.nan
    )
    distinct_bytes = index.nbytes - index._vectors.nbytes - index._dirs.nbytes
    per_template = distinct_bytes / max(1, len({id(c) for c in index._full}))
    row["mb"] = (index._vectors.nbytes + index._dirs.nbytes + per_template * size) / 2**20
    print(size, row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument(
        "--exhaustive-budget", type=int, default=200_000, help="comparisons per size"
    )
    parser.add_argument("--distinct", type=int, default=10000, help="modelled templates built")
    parser.add_argument("--shortlist", type=int, default=IndexParameters().shortlist)
    args = parser.parse_args()
    print(
        f"load average at start: {os.getloadavg()}; BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}"
    )
    data = prepare(args, np.random.default_rng(12))
    rows = [(size, measure(size, data, args)) for size in sorted(args.sizes)]
    print()
    print(
        "| templates | search ms p50 / p95 / p99 | searches/s | recall vs exhaustive: all;"
        " decided at FPIR 1% | mate shortlisted when MCC decides | exhaustive ms/search | memory MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, r in rows:
        exh = (
            "n/a"
            if not r["exhaustive_probes"]
            else f"{r['recall']:.1%} of {r['exhaustive_probes']}; {r['recall_decided']:.1%} of {r['decided']}"
        )
        exh_ms = "n/a" if np.isnan(r["exhaustive_ms"]) else f"{r['exhaustive_ms']:,.0f}"
        print(f"| {size:,} | {r['p50']:.1f} / {r['p95']:.1f} / {r['p99']:.1f} |"
              f" {r['cpu_p50']:.1f} / {r['cpu_p99']:.1f} | {r['rate']:.1f} | {exh} |"
              f" {r['mate_recall']:.1%} of {r['mates_deciding']} | {exh_ms} | {r['mb']:,.0f} |")  # fmt: skip
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
