"""Open-set fingerprint 1:N on FVC-style folders: FNIR at FPIR by gallery size, 1 or 2 fingers a person.

Protocol (`gerbang finger eval --open-set DIR...`):
- Every finger of every folder is a distinct finger (ids are scoped per folder). Impressions 1-3
  are enrolled (the service's 3 impressions per finger), impressions 4-8 are probes.
- People. With 1 finger a person, each finger is a person. With 2, people are CHIMERIC: two
  different fingers of the sets, paired at random, enrolled as positions 2 and 7 (right and left
  index); the sets hold no real person's two fingers.
- People are shuffled (seeded) and split in halves: the first half is the enrolment pool (a
  gallery of N people is its first N), the second half never enrolled (their probes are the
  non-mated searches, the same for every gallery size).
- A search is one probe impression of each of the person's fingers, positions known. It runs on
  the FingerIndex (first stage + full MCC on the shortlist, as the service does); a person's
  score is the mean over their fingers of the best MCC score of that finger's enrolled
  impressions (0 for a finger not shortlisted): with one finger, just the best score.
- Threshold for a target FPIR over N people: `identify.threshold_for_fpir` on the per-person
  impostor scores of the non-mated searches (each non-mated search against each enrolled person),
  with people = N, as the service would set it. FPIR is then also measured directly (share of
  non-mated searches with any person at or above the threshold) and FNIR is the share of mated
  searches whose person scores below it. With this little data the smallest FPIRs are often
  beyond the impostor sample: such rows say "not supported" (threshold above every impostor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.fingerprint import evaluation
from models.fingerprint.identify import fpir_at, threshold_for_fpir
from models.fingerprint.index import FingerIndex
from models.fingerprint.mcc import MinutiaeWithCylinders

TARGET_FPIRS = (0.1, 0.03, 0.01, 0.003)
ENROLLED, PROBES = (1, 2, 3), (4, 5, 6, 7, 8)
POSITIONS = (2, 7)


@dataclass(frozen=True)
class OpenSetRow:
    """FNIR at one target FPIR for one gallery size and fingers per person."""

    fingers_per_person: int
    people: int
    target_fpir: float
    threshold: float
    supported: bool
    fnir: float
    fpir_measured: float
    mated_searches: int
    non_mated_searches: int


Finger = dict[int, MinutiaeWithCylinders]  # impression -> template
# Labels of the FVC B sets that are one finger under two names, (kept, left out): FVC2000 DB1_B
# and DB2_B hold the same fingers on two sensors (finger N of one scores as a mate of finger N of
# the other), and FVC2004 DB3_B 102 matches FVC2002 DB3_B 108 on every impression both ways, where
# every other pair of labelled fingers of the eight sets stays below MCC 0.045 on LEADER's
# minutiae. Pooled, such a pair would be two people holding one finger.
SAME_FINGERS = (
    *((f"FVC2000_DB1_B/{n}", f"FVC2000_DB2_B/{n}") for n in range(101, 111)),
    ("fvc2002-db3_b/108", "FVC2004_DB3_B/102"),
)


def load_fingers(
    folders: Sequence[Path], ppi: int, extract: evaluation.Extractor | None = None
) -> dict[str, Finger]:
    """Every finger of the folders with its extracted impressions (failures left out, and the
    second label of a finger the sets hold twice, SAME_FINGERS); `extract` must give templates
    with cylinders (default: NBIS's, as the MCC matcher takes them)."""
    fingers: dict[str, Finger] = {}
    for folder in folders:
        data = evaluation.extract_set(
            evaluation.scan_folder(folder), ppi, extract or evaluation.MATCHERS["mcc"][0]
        )
        for item, template in zip(data.items, data.templates, strict=True):
            if isinstance(template, MinutiaeWithCylinders):
                fingers.setdefault(f"{Path(folder).name}/{item.finger}", {})[item.number] = template
    for kept, dropped in SAME_FINGERS:  # pooled sets: one finger is one person's
        if kept in fingers:
            fingers.pop(dropped, None)
    return fingers


def people_of(fingers: dict[str, Finger], per_person: int, seed: int = 5) -> list[tuple[str, ...]]:
    """Shuffled people of `per_person` distinct fingers each (chimeric when 2)."""
    usable = sorted(f for f, imps in fingers.items() if any(i in imps for i in ENROLLED))
    order = [usable[i] for i in np.random.default_rng(seed).permutation(len(usable))]
    return [
        tuple(order[k : k + per_person]) for k in range(0, len(order) - per_person + 1, per_person)
    ]


def _searches(
    index: FingerIndex,
    owners: dict[tuple[str, int], tuple[int, int]],
    fingers: dict[str, Finger],
    person: tuple[str, ...],
    n_people: int,
) -> list[np.ndarray]:
    """(n_people,) fused scores of each probe search by this person."""
    out = []
    for impression in PROBES:
        if not all(impression in fingers[f] for f in person):
            continue
        fused = np.zeros(n_people)
        for position, finger in zip(POSITIONS, person, strict=False):
            best = np.zeros(n_people)
            for hit in index.search(fingers[finger][impression].cylinders):
                who, pos = owners[hit.key]  # type: ignore[index]
                if pos == position:
                    best[who] = max(best[who], hit.score)
            fused += best / len(person)
        out.append(fused)
    return out


def evaluate_open_set(
    fingers: dict[str, Finger], sizes: Sequence[int] | None = None
) -> list[OpenSetRow]:
    """FNIR at each target FPIR by gallery size, for 1 and 2 fingers a person."""
    rows: list[OpenSetRow] = []
    for per_person in (1, 2):
        people = people_of(fingers, per_person)
        pool, strangers = people[: len(people) // 2], people[len(people) // 2 :]
        wanted = sizes or sorted({max(2, len(pool) // 4), max(2, len(pool) // 2), len(pool)})
        for size in [s for s in wanted if s <= len(pool)]:
            gallery = pool[:size]
            index = FingerIndex()
            owners: dict[tuple[str, int], tuple[int, int]] = {}
            for who, person in enumerate(gallery):
                for position, finger in zip(POSITIONS, person, strict=False):
                    for impression in ENROLLED:
                        if impression in fingers[finger]:
                            key = (finger, impression)
                            owners[key] = (who, position)
                            index.add(key, fingers[finger][impression].cylinders)
            mated = [
                s[who]
                for who, p in enumerate(gallery)
                for s in _searches(index, owners, fingers, p, size)
            ]
            non_mated = [s for p in strangers for s in _searches(index, owners, fingers, p, size)]
            impostor = np.concatenate(non_mated) if non_mated else np.zeros(1)
            best = [float(s.max()) for s in non_mated]
            for target in TARGET_FPIRS:
                point = threshold_for_fpir(impostor, size, target)
                rows.append(
                    OpenSetRow(
                        per_person,
                        size,
                        target,
                        point.threshold,
                        point.supported,
                        float(np.mean(np.asarray(mated) < point.threshold)),
                        fpir_at(point.threshold, best),
                        len(mated),
                        len(non_mated),
                    )
                )
    return rows


def format_open_set(rows: Sequence[OpenSetRow], fingers: int) -> str:
    """A Markdown table: FNIR at FPIR by fingers per person and gallery size."""
    lines = [
        f"Open-set 1:N over {fingers} real fingers (2 fingers a person: chimeric people),"
        " index + full MCC, impressions 1-3 enrolled, 4-8 searched",
        "| fingers/person | people | target FPIR | threshold | FNIR | FPIR measured"
        " | mated / non-mated searches |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        flag = "" if r.supported else " (not supported: above every impostor)"
        lines.append(
            f"| {r.fingers_per_person} | {r.people} | {r.target_fpir:.1%} | {r.threshold:.3f}{flag}"
            f" | {r.fnir:.1%} | {r.fpir_measured:.1%} | {r.mated_searches} / {r.non_mated_searches} |"
        )
    return "\n".join(lines)
