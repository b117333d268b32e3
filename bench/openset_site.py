"""The shipped gate configuration on a folder-per-identity set, by population.

    gerbang embed DIR --out E.npz
    python -m bench.openset_site E.npz [--write-calibration models/calibrations/PACK.openset.json]
    python -m bench.openset_site var/openset-open-yunet-dlib.npz --flip \
        --write-calibration models/calibrations/open-yunet-dlib-flip.openset.json

Per population (Western = celeba-*, East Asian = casia5-* + asianfaces-*, and both together):
every person with at least 4 usable photos is enrolled from 3 of them (chosen at random: the
gallery of inmates), the rest of their photos are probes. Leave one person out: a person's probes
against everyone else are searches by someone NOT enrolled (N = the others), against everyone
they are searches by an enrolled person. Thresholds are the service's (gallery_sync/openset.py):
the gallery's own calibration from `--min-people` people on, the shipped file below that (note:
the shipped file was fitted on this very set, so below that size the figures are in-sample), the
gate inmate ALARM at its target FPIR of 1%. Reported: the false ALARM rate measured at the size
of the data, FNIR (an enrolled person's probe not at rank 1 at or above the threshold), and at a
realistic site size (--site-people) the threshold, its predicted FPIR (the fitted tail; the data
has fewer people) and the FNIR measured at that threshold. Means over --seeds capture choices.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.openset import OpenSetCalibration, calibrate_gallery, identity_template, unit_rows

CAPTURES = 3
TARGET = 0.01
SHIPPED = SHIPPED_CALIBRATIONS / "open-yunet-dlib.openset.json"
BEFORE = Calibration.load(SHIPPED_CALIBRATIONS / "open-yunet-dlib.json").threshold_for(1e-3)


def population(name: str) -> str:
    return "east_asian" if name.startswith(("casia5-", "asianfaces-")) else "western"


def load(path: Path, flip: bool = False) -> tuple[np.ndarray, list[str]]:
    data = np.load(path, allow_pickle=False)
    vectors = data["embeddings"] if "embeddings" in data else data["templates"]
    if flip:  # as the flip pack's embedder: the mean of the two, renormalised
        vectors = unit_rows(unit_rows(vectors) + unit_rows(data["embeddings_flip"]))
    names = [str(n) for n in data["names"]] if "names" in data else [str(p) for p in data["paths"]]
    people = [Path(n).parent.name for n in names]
    keep = ~np.isnan(vectors).any(axis=1)
    return vectors[keep], [p for p, k in zip(people, keep, strict=True) if k]


def run(
    vectors: np.ndarray, people: list[str], seed: int, n_site: int, min_people: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[int]] = {}
    for i, p in enumerate(people):
        by_person.setdefault(p, []).append(i)
    enrolled = sorted(p for p, rows in by_person.items() if len(rows) >= CAPTURES + 1)
    gal_rows: list[int] = []
    probes: list[int] = []
    owner: list[int] = []
    for number, p in enumerate(enrolled):
        rows = rng.permutation(by_person[p])
        gal_rows += list(rows[:CAPTURES])
        probes += list(rows[CAPTURES:])
        owner += [number] * (len(rows) - CAPTURES)
    n = len(enrolled)
    labels = [p for p in enrolled for _ in range(CAPTURES)]
    if n >= min_people:
        calibration = calibrate_gallery(vectors[gal_rows], labels, "bench")
    else:
        calibration = OpenSetCalibration.load(SHIPPED)
    templates = np.stack(
        [identity_template(vectors[gal_rows[i * CAPTURES : (i + 1) * CAPTURES]]) for i in range(n)]
    )
    scores = vectors[probes] @ templates.T
    rows = np.arange(len(probes))
    own = scores[rows, owner].copy()
    scores[rows, owner] = -np.inf
    best_other = scores.max(axis=1)  # the probe's best among everyone else: not enrolled
    rank1 = own > best_other
    result = {"people": n, "site_calibration": float(n >= min_people)}
    # before: the per-comparison threshold (FMR 1e-3 of the pack's calibration), identity scores
    result["alarm_before"] = float(np.mean(best_other >= BEFORE))
    result["fnir_before"] = float(np.mean(~(rank1 & (own >= BEFORE))))
    for label, size in (("here", n - 1), ("site", n_site)):
        threshold = calibration.threshold(TARGET, size)
        result[f"threshold_{label}"] = threshold
        result[f"fnir_{label}"] = float(np.mean(~(rank1 & (own >= threshold))))
        result[f"alarm_{label}"] = float(np.mean(best_other >= threshold))
        result[f"predicted_fpir_{label}"] = calibration.tail.fpir_at(threshold, size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("embeddings", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--site-people", type=int, default=2000)
    parser.add_argument("--min-people", type=int, default=100)
    parser.add_argument("--write-calibration", type=Path)
    parser.add_argument(
        "--flip", action="store_true", help="flip TTA templates (bench/openset_embed.py archive)"
    )
    args = parser.parse_args()
    vectors, people = load(args.embeddings, args.flip)
    groups = {"all": list(range(len(people)))}
    for i, p in enumerate(people):
        groups.setdefault(population(p), []).append(i)
    print(f"{'population':<11} {'N':>4} {'calib':>7} {'thr@N':>7} {'ALARM@N':>8} {'FNIR@N':>7}"
          f" {'thr@site':>8} {'ALARM@site':>10} {'pred FPIR@site':>14} {'FNIR@site':>9}"
          f" {'ALARM before':>12} {'FNIR before':>11}")  # fmt: skip
    for name, rows in groups.items():
        sub, labels = vectors[rows], [people[i] for i in rows]
        runs = [
            run(sub, labels, seed, args.site_people, args.min_people) for seed in range(args.seeds)
        ]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(
            f"{name:<11} {mean['people']:>4.0f}"
            f" {'site' if mean['site_calibration'] else 'shipped':>7} {mean['threshold_here']:>7.4f}"
            f" {100 * mean['alarm_here']:>7.2f}% {100 * mean['fnir_here']:>6.1f}%"
            f" {mean['threshold_site']:>8.4f} {100 * mean['alarm_site']:>9.2f}%"
            f" {100 * mean['predicted_fpir_site']:>13.2f}% {100 * mean['fnir_site']:>8.1f}%"
            f" {100 * mean['alarm_before']:>11.2f}% {100 * mean['fnir_before']:>10.1f}%"
        )
    if args.write_calibration:
        # The fallback of a new site: the population whose different people look most alike
        # (East Asian here: its impostor tail is far heavier), so a new site errs on the strict side.
        rows = groups["east_asian"]
        labels = [people[i] for i in rows]
        calibration = calibrate_gallery(
            vectors[rows],
            labels,
            f"{args.embeddings.name}: the East-Asian people of the open-set development set"
            f" (CASIA-FaceV5, AsianFaces): {len(set(labels))} people, {len(rows)} photos, every"
            " photo against every other person's identity template; the strictest population"
            " available, used until a site has its own",
            source="shipped",
        )
        calibration.save(args.write_calibration)
        print(f"wrote {args.write_calibration}")


if __name__ == "__main__":
    main()
