"""The shipped gate configuration on a folder-per-identity set, by population.

    gerbang embed DIR --out E.npz
    python -m bench.openset_site E.npz [--write-calibration models/calibrations/PACK.openset.json]

For each population (Western = celeba-*, East Asian = casia5-* + asianfaces-*): half the people are
enrolled from 3 captures each (the gallery: inmates), the other half are visitors who are not
enrolled. Thresholds come as the service computes them (enrollment/openset.py): calibrated on the
enrolled gallery itself, target FPIR 1% for the inmate alarm, N = the people enrolled. Reported:
the false inmate ALARM rate (non-enrolled probes with any candidate at or above the threshold),
FNIR (enrolled people's other photos not found at rank 1 above the threshold), and the same for a
realistic gallery size extrapolated with the fitted tail (the threshold for N = 2,000 applied to
the people at hand; FPIR then predicted, since the data has fewer people). Repeated over seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.openset import calibrate_gallery, identity_template

CAPTURES = 3
TARGET = 0.01


def population(name: str) -> str:
    return "east_asian" if name.startswith(("casia5-", "asianfaces-")) else "western"


def load(path: Path) -> tuple[np.ndarray, list[str]]:
    data = np.load(path, allow_pickle=False)
    vectors = data["embeddings"] if "embeddings" in data else data["templates"]
    names = [str(n) for n in data["names"]] if "names" in data else [str(p) for p in data["paths"]]
    people = [Path(n).parent.name for n in names]
    keep = ~np.isnan(vectors).any(axis=1)
    return vectors[keep], [p for p, k in zip(people, keep, strict=True) if k]


def run(vectors: np.ndarray, people: list[str], seed: int, n_site: int | None) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[int]] = {}
    for i, p in enumerate(people):
        by_person.setdefault(p, []).append(i)
    eligible = sorted(p for p, rows in by_person.items() if len(rows) >= CAPTURES + 1)
    rng.shuffle(eligible)
    enrolled, outsiders = eligible[: len(eligible) // 2], eligible[len(eligible) // 2 :]
    gal_rows, gal_people, probes_in, truth = [], [], [], []
    for p in enrolled:
        rows = rng.permutation(by_person[p])
        gal_rows += list(rows[:CAPTURES])
        gal_people += [p] * CAPTURES
        probes_in += list(rows[CAPTURES:])
        truth += [p] * (len(rows) - CAPTURES)
    calibration = calibrate_gallery(vectors[gal_rows], gal_people, "bench")
    templates = np.stack(
        [
            identity_template(vectors[gal_rows[i * CAPTURES : (i + 1) * CAPTURES]])
            for i in range(len(enrolled))
        ]
    )
    n = len(enrolled)
    out_rows = [r for p in outsiders for r in by_person[p]]
    out_best = (vectors[out_rows] @ templates.T).max(axis=1)
    in_scores = vectors[probes_in] @ templates.T
    index = {p: i for i, p in enumerate(enrolled)}
    rank1 = in_scores.argmax(axis=1) == np.asarray([index[t] for t in truth])
    own = in_scores[np.arange(len(truth)), [index[t] for t in truth]]
    result = {"people": n}
    for label, size in (("here", n), ("site", n_site or n)):
        threshold = calibration.threshold(TARGET, size)
        result[f"threshold_{label}"] = threshold
        result[f"fnir_{label}"] = float(np.mean(~(rank1 & (own >= threshold))))
        result[f"alarm_{label}"] = float(np.mean(out_best >= threshold))
        result[f"predicted_fpir_{label}"] = calibration.tail.fpir_at(threshold, size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("embeddings", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--site-people", type=int, default=2000)
    parser.add_argument("--write-calibration", type=Path)
    args = parser.parse_args()
    vectors, people = load(args.embeddings)
    groups = {"all": list(range(len(people)))}
    for i, p in enumerate(people):
        groups.setdefault(population(p), []).append(i)
    print(f"{'population':<11} {'N':>4} {'thr@N':>7} {'ALARM@N':>8} {'FNIR@N':>7}"
          f" {'thr@site':>8} {'ALARM@site':>10} {'pred FPIR@site':>14} {'FNIR@site':>9}")  # fmt: skip
    for name, rows in groups.items():
        sub, labels = vectors[rows], [people[i] for i in rows]
        runs = [run(sub, labels, seed, args.site_people) for seed in range(args.seeds)]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(
            f"{name:<11} {mean['people']:>4.0f} {mean['threshold_here']:>7.4f}"
            f" {100 * mean['alarm_here']:>7.2f}% {100 * mean['fnir_here']:>6.1f}%"
            f" {mean['threshold_site']:>8.4f} {100 * mean['alarm_site']:>9.2f}%"
            f" {100 * mean['predicted_fpir_site']:>13.2f}% {100 * mean['fnir_site']:>8.1f}%"
        )
    if args.write_calibration:
        calibration = calibrate_gallery(
            vectors,
            people,
            f"{args.embeddings.name}: open-set development set, {len(set(people))} people"
            f" ({len(people)} photos; Western CelebA and East-Asian CASIA-FaceV5/AsianFaces)"
            ", every photo against every other person's identity template",
            source="shipped",
        )
        calibration.save(args.write_calibration)
        print(f"wrote {args.write_calibration}")


if __name__ == "__main__":
    main()
