"""Does fusing face and fingerprint scores beat either alone? Chimeric subjects from the dev sets.

Run from the repository root (first run ~25 s on 2 cores; re-runs a few seconds: face templates,
finger templates and finger scores are cached in /tmp/gerbang-fusion-cache, keyed by the
image files and the matcher's source; delete it after changing a model):
    python -m bench.fusion_dev --det /tmp/fusion-det.png --det-repeats /tmp/fusion-det-100.png
    python -m bench.fusion_dev --write models/calibrations/fusion-open-yunet-dlib-nbis.json
    python -m bench.fusion_dev --extractor leader --repeats 0 \
        --write models/calibrations/fusion-open-yunet-dlib-leader-mcc.json

Chimeric subjects. No set here holds faces and fingerprints of the same people, so each of the
20 FVC2002 fingers (DB1_B and DB3_B, 10 each) is given a dev face identity with at least 4
photos: the 8 colour web identities (deepface-*, facerec-*) and the first 12 ORL identities.
This is standard practice for multimodal fusion on unimodal sets (Poh and Bengio, "Using
chimeric users to construct fusion classifiers in biometric authentication tasks", ICASSP
2006; ISO/IEC TR 24722): sound because face and fingerprint are independent given who the
person is, silent on how face and finger failures correlate in real people (a tired,
dirty-handed visitor may be bad at both).

Samples and comparisons. Sample k of a subject is (photo k, impression k), k < min(photos, 8),
so no two samples share an image and each face or finger pair is used by one comparison only.
Genuine: two samples of one subject. Impostor: samples of two subjects whose fingers come from
the same FVC database. Cross-database finger pairs are left out because a gate has one sensor
and they flatter the finger matcher where it matters (BOZORTH3 impostors: 99th percentile 16
across databases against 19 within, maximum 27 against 32).

Held out. Fingers with odd numbers (101, 103, ...) form fold A, even ones fold B, 5 per
database each, colour and ORL faces alternating so both folds look alike. The LLR maps and the
thresholds are fitted on one fold and measured on the other, both ways, and the two held-out
folds are pooled: errors are counted at each fold's own fitted threshold ("FMR got" says what
that threshold really let through), and the DET curve and EER use the pooled held-out scores
(fused scores are LLRs, one scale for both folds).

Repeated assignments. On the main 20 faces the face matcher makes no held-out error at all, so
no fusion can lower its FNMR there. To see what fusion does when the face does err, the same
protocol is rerun on 100 seeded draws of 20 faces from every dev identity with >= 4 photos
(adding the face-api.js TV stills and the other ORL people, whose grey studio shots make the
hardest impostors); the fingers stay the same.

The shipped model is fitted on all 20 main subjects; deciding alone, each matcher keeps its own
shipped calibration's thresholds (open-yunet-dlib.json, finger-nbis.json), set on far more
impostor pairs than 20 subjects give.
"""

from __future__ import annotations

import os

# MCC multiplies small matrices many times; BLAS threads slow it ~7x (as edge/__init__.py sets,
# but that is imported after NumPy here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge import wiring
from edge.settings import Settings
from models import calibration as cal
from models import error_rates
from models.batch import embed_files
from models.calibration_report import plot_det
from models.fingerprint import evaluation, extractors, nbis
from models.fingerprint.extractors import FingerExtractor
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fusion import FusionModel
from models.fusion_fit import FACE_DLIB, FINGER_BOZORTH3, Comparisons, MatcherSpec, fit_fusion
from models.obtain import ensure_converted

PACK = "open-yunet-dlib"
FINGER_DBS = ("fvc2002-db1_b", "fvc2002-db3_b")
FINGER_PPI = 500
COLOUR_PREFIXES = ("deepface-", "facerec-")
MIN_PHOTOS = 4
N_SUBJECTS = 20  # one per FVC finger
N_ORL = 12  # N_SUBJECTS less the 8 colour identities with >= MIN_PHOTOS photos
MAX_SAMPLES = 8  # impressions per FVC finger
REPORT_FMRS = (1e-2, 1e-3)
CACHE = Path("/tmp/gerbang-fusion-cache")
MODEL_ID = "fusion-open-yunet-dlib-{finger}"
# The shipped model decides alone at each matcher's own shipped thresholds: those were set on
# 126,776 (face) and 5,760 (finger) impostor pairs, not on this set's few thousand.
OWN_CALIBRATIONS = {"face": PACK, "finger": "finger-{finger}"}

Scores = npt.NDArray[np.float64]
Matcher = Callable[[MinutiaeTemplate, MinutiaeTemplate], float]


@dataclass(frozen=True)
class Subject:
    """A chimeric subject: one face identity's photos paired with one FVC finger's impressions."""

    face_id: str
    db: str
    finger: str
    photos: tuple[int, ...]  # rows of the face template matrix
    impressions: tuple[int, ...]  # rows of the database's finger score matrix
    fold: str  # "A" or "B"


@dataclass(frozen=True)
class DevData:
    """Face templates of the chosen photos and every finger score matrix, one per database."""

    faces: Scores  # (n photos, 128), L2-normalised, float64 as pair_scores computes cosines
    photo_paths: list[str]
    finger_scores: dict[str, dict[str, Scores]]  # matcher -> database -> (80, 80) symmetric
    finger_items: dict[str, list[evaluation.Impression]]


# --- data ------------------------------------------------------------------------------------


def face_identities(dev: Path) -> dict[str, list[Path]]:
    """Every dev identity with >= MIN_PHOTOS photos: its first MAX_SAMPLES photos, in order."""
    groups: dict[str, list[Path]] = {}
    with (dev / "labels.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            groups.setdefault(row["identity"], []).append(dev / row["relative_path"])
    return {
        name: sorted(paths, key=lambda p: (len(p.name), p.name))[:MAX_SAMPLES]
        for name, paths in sorted(groups.items())
        if len(paths) >= MIN_PHOTOS
    }


def main_faces(identities: dict[str, list[Path]]) -> list[str]:
    """The main protocol's 20 faces: the colour web identities, then the first N_ORL of ORL."""
    colour = [i for i in identities if i.startswith(COLOUR_PREFIXES)]
    return colour + [i for i in identities if i.startswith("orl-")][:N_ORL]


def random_faces(identities: dict[str, list[Path]], seed: int) -> list[str]:
    """20 faces drawn (seeded) from every eligible identity, for the repeated-assignment study."""
    rng = np.random.default_rng(seed)
    return [str(i) for i in rng.permutation(list(identities))[:N_SUBJECTS]]


def _digest(paths: Sequence[Path], salt: str) -> str:
    """Cache key: the salt and each file's name, size and modification time."""
    h = hashlib.sha256(salt.encode())
    for path in paths:
        stat = path.stat()
        h.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def embed_faces(paths: list[Path], models: Path, data_dir: Path) -> Scores:
    """Face templates of every photo (NaN row where none was made), cached by file digest."""
    cached = CACHE / f"faces-{PACK}-{_digest(paths, PACK)}.npy"
    if cached.is_file():
        return np.asarray(np.load(cached, allow_pickle=False), dtype=np.float64)
    settings = Settings(model_dir=models, data_dir=data_dir, liveness=False)
    spec = wiring.engine_spec(settings, PACK)
    ensure_converted(spec.store, spec.pack)
    results = embed_files(spec, [str(p) for p in paths], progress=False)
    faces = np.full((len(paths), 128), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.template is not None:
            faces[row] = result.template
    np.save(cached, faces, allow_pickle=False)
    return faces.astype(np.float64)


def finger_templates(
    items: list[evaluation.Impression], extractor: FingerExtractor
) -> list[MinutiaeTemplate | None]:
    """A database's templates (None where extraction failed), cached as plain arrays."""
    cached = CACHE / f"templates-{_digest([i.path for i in items], extractor.label)}.npz"
    if not cached.is_file():
        data = evaluation.extract_set(items, FINGER_PPI, extractor.extract)
        rows = [t.minutiae if t else np.zeros((0, 5)) for t in data.templates]
        sizes = [(t.width, t.height) if t else (0, 0) for t in data.templates]
        np.savez(cached, rows=np.concatenate(rows), counts=[len(r) for r in rows], sizes=sizes)
    with np.load(cached, allow_pickle=False) as saved:
        parts = np.split(saved["rows"], np.cumsum(saved["counts"])[:-1])
        return [
            MinutiaeTemplate(int(w), int(h), FINGER_PPI, rows, extractor.label) if w else None
            for rows, (w, h) in zip(parts, saved["sizes"], strict=True)
        ]


def finger_matrix(
    templates: list[MinutiaeTemplate | None], items: list[evaluation.Impression], matcher: str,
    label: str,
) -> Scores:  # fmt: skip
    """Symmetric score matrix of one database (NaN where a template is missing), cached."""
    prepare, compare, sources = finger_matcher(matcher)
    key = _digest([*(i.path for i in items), *sources], label)  # a matcher edit refreshes
    cached = CACHE / f"scores-{matcher}-{key}.npy"
    if cached.is_file():
        return np.asarray(np.load(cached, allow_pickle=False), dtype=np.float64)
    ready = [prepare(t) if t is not None else None for t in templates]
    scores = np.full((len(ready), len(ready)), np.nan)
    for i, j in itertools.combinations(range(len(ready)), 2):
        a, b = ready[i], ready[j]
        if a is not None and b is not None:
            scores[i, j] = scores[j, i] = compare(a, b)
    np.save(cached, scores, allow_pickle=False)
    return scores


def finger_extractor(args: argparse.Namespace) -> FingerExtractor:
    """The extractor named by --extractor (LEADER converted into the data dir's cache)."""
    settings = Settings(model_dir=args.models, data_dir=args.data_dir)
    return extractors.named(args.extractor, wiring.model_store(settings))


def finger_matcher(
    name: str,
) -> tuple[Callable[[MinutiaeTemplate], MinutiaeTemplate], Matcher, list[Path]]:
    """(prepare a template once, compare two prepared ones, its source files): "nbis" or "mcc"."""
    if name == "mcc":
        from models.fingerprint import mcc, mcc_cylinders, mcc_matching, mcc_template

        sources = [Path(m.__file__) for m in (mcc, mcc_template, mcc_cylinders, mcc_matching)]
        return mcc.with_cylinders, mcc.compare_minutiae, sources
    return (lambda t: t), nbis.bozorth3, [Path(nbis.__file__)]


def load_dev_data(args: argparse.Namespace, photos: list[Path]) -> DevData:
    """Face templates and finger score matrices, from the cache where possible."""
    CACHE.mkdir(parents=True, exist_ok=True)
    faces = embed_faces(photos, args.models, args.data_dir)
    items: dict[str, list[evaluation.Impression]] = {}
    scores: dict[str, dict[str, Scores]] = {}
    extractor = finger_extractor(args)
    # BOZORTH3 first (it was shipped first); it compares NBIS minutiae only
    matchers = ("nbis", "mcc") if args.mcc else ("nbis",)
    if extractor.name != "nbis":
        matchers = ("mcc",)
    for db in FINGER_DBS:
        items[db] = evaluation.scan_folder(args.fingerprints / db)
        templates = finger_templates(items[db], extractor)
        for name in matchers:
            scores.setdefault(name, {})[db] = finger_matrix(
                templates, items[db], name, extractor.label
            )
    return DevData(faces, [str(p) for p in photos], scores, items)


# --- chimeric subjects -----------------------------------------------------------------------


def make_subjects(
    faces: list[str], identities: dict[str, list[Path]], data: DevData
) -> list[Subject]:
    """Pair faces with fingers; fold A gets faces[0::2] and odd fingers, fold B the rest."""
    row_of = {path: row for row, path in enumerate(data.photo_paths)}
    subjects = []
    for parity, fold in enumerate("AB"):
        fingers = [(db, f) for f in _fingers(data, parity) for db in FINGER_DBS]  # DBs alternate
        for face_id, (db, finger) in zip(faces[parity::2], fingers, strict=True):
            n = min(len(identities[face_id]), MAX_SAMPLES)
            photos = tuple(row_of[str(p)] for p in identities[face_id][:n])
            rows = [k for k, it in enumerate(data.finger_items[db]) if it.finger == finger][:n]
            subjects.append(Subject(face_id, db, finger, photos, tuple(rows), fold))
    return subjects


def _fingers(data: DevData, parity: int) -> list[str]:
    """Finger ids of one fold (the same ids exist in both FVC databases)."""
    ids = sorted({it.finger for it in data.finger_items[FINGER_DBS[0]]})
    return ids[parity::2]


def comparisons(subjects: Sequence[Subject], data: DevData, matcher: str) -> Comparisons:
    """Every pair of samples whose fingers share a database: face, finger score and truth."""
    samples = [(s, p, f) for s in subjects for p, f in zip(s.photos, s.impressions, strict=True)]
    face, finger, genuine = [], [], []
    for (sa, pa, fa), (sb, pb, fb) in itertools.combinations(samples, 2):
        if sa.db != sb.db:
            continue
        face.append(float(np.dot(data.faces[pa], data.faces[pb])))
        finger.append(data.finger_scores[matcher][sa.db][fa, fb])
        genuine.append(sa == sb)
    return Comparisons(np.array(face), np.array(finger), np.array(genuine, dtype=bool))


# --- measuring -------------------------------------------------------------------------------


# (name, score kind, transform) per finger matcher, for fit_fusion.
# MCC scores are similarities in [0, 1] with no long tail: the line is fitted on them as they are.
FINGER_SPECS = {"nbis": FINGER_BOZORTH3, "mcc": MatcherSpec("mcc-lss-r", "mcc-lss-r", "identity")}


@dataclass
class Tally:
    """One system's pooled held-out scores and its errors at the fitted thresholds."""

    genuine: list[Scores]
    impostor: list[Scores]
    false_nonmatches: dict[float, int]
    false_matches: dict[float, int]

    @classmethod
    def empty(cls) -> Tally:
        """No scores, no errors."""
        return cls([], [], dict.fromkeys(REPORT_FMRS, 0), dict.fromkeys(REPORT_FMRS, 0))

    def add(self, genuine: Scores, impostor: Scores, thresholds: dict[float, float]) -> None:
        """Pool one fold's held-out scores, counting errors at that fold's own thresholds."""
        self.genuine.append(genuine)
        self.impostor.append(impostor)
        for target, threshold in thresholds.items():
            self.false_nonmatches[target] += int(np.count_nonzero(genuine < threshold))
            self.false_matches[target] += int(np.count_nonzero(impostor >= threshold))

    def pooled(self) -> tuple[Scores, Scores]:
        """All genuine and all impostor scores."""
        return np.concatenate(self.genuine), np.concatenate(self.impostor)


def system_scores(model: FusionModel, data: Comparisons, tag: str) -> dict[str, Scores]:
    """Face score, finger score and fused LLR of comparisons where both scores exist."""
    both = np.isfinite(data.face) & np.isfinite(data.finger)
    face, finger = data.face[both], data.finger[both]
    return {"face": face, f"finger{tag}": finger, f"fused{tag}": model.fused_scores(face, finger)}


def system_thresholds(model: FusionModel, tag: str) -> dict[str, dict[float, float]]:
    """Each system's fitted threshold at each report FMR, in its own score units."""
    return {
        "face": {t: model.face.threshold_for(t) for t in REPORT_FMRS},
        f"finger{tag}": {t: model.finger.threshold_for(t) for t in REPORT_FMRS},
        f"fused{tag}": {t: model.threshold_for(t) for t in REPORT_FMRS},
    }


def fit(subjects: Sequence[Subject], data: DevData, matcher: str, dataset: str) -> FusionModel:
    """A fusion model fitted on these subjects' comparisons."""
    pairs = comparisons(subjects, data, matcher)
    return fit_fusion(pairs, MODEL_ID, dataset, (FACE_DLIB, FINGER_SPECS[matcher]))


def held_out(
    subjects: Sequence[Subject], data: DevData, matcher: str
) -> tuple[dict[str, Tally], dict[str, FusionModel]]:
    """Fit on each fold, measure on the other; pooled tallies and the two fitted models."""
    tag = "" if matcher == "nbis" else f"-{matcher}"
    tallies: dict[str, Tally] = {}
    models = {}
    for fit_fold, test_fold in (("A", "B"), ("B", "A")):
        model = fit([s for s in subjects if s.fold == fit_fold], data, matcher, f"fold {fit_fold}")
        models[fit_fold] = model
        test = comparisons([s for s in subjects if s.fold == test_fold], data, matcher)
        limits, truth = system_thresholds(model, tag), _genuine_rows(test)
        for name, scores in system_scores(model, test, tag).items():
            tally = tallies.setdefault(name, Tally.empty())
            tally.add(scores[truth], scores[~truth], limits[name])
    return tallies, models


def _genuine_rows(data: Comparisons) -> npt.NDArray[np.bool_]:
    """Truth of the comparisons that have both scores (the rows system_scores keeps)."""
    return data.genuine[np.isfinite(data.face) & np.isfinite(data.finger)]


# --- reporting -------------------------------------------------------------------------------


def _rate(count: int, total: int) -> str:
    """A rate with its count, e.g. '1.23% (3/244)'."""
    return f"{count / total:6.2%} ({count}/{total})"


def held_out_table(tallies: dict[str, Tally]) -> str:
    """EER, FNMR and achieved FMR at the fitted thresholds, and FNMR read off the held-out DET."""
    cells = "".join(
        f"  {'FNMR @ fitted ' + f'{t:g}':>21}  {'FMR got':>17}  {'DET FNMR':>8}"
        for t in REPORT_FMRS
    )
    lines = [
        "Held out: each fold measured with the model fitted on the other fold, both pooled",
        f"{'system':<11}{'genuine':>8}{'impostor':>9}{'EER':>8}{cells}",
    ]
    for name, tally in tallies.items():
        genuine, impostor = tally.pooled()
        rate, _ = error_rates.eer(genuine, impostor)
        row = f"{name:<11}{genuine.size:>8,}{impostor.size:>9,}{rate:>8.2%}"
        for t in REPORT_FMRS:
            oracle = _det_fnmr(tally, t)
            row += f"  {_rate(tally.false_nonmatches[t], genuine.size):>21}"
            row += f"  {_rate(tally.false_matches[t], impostor.size):>17}  {oracle:>8.2%}"
        lines.append(row)
    n_imp = min(t.pooled()[1].size for t in tallies.values())
    lines.append(_support_note(n_imp, "held-out impostor pairs"))
    return "\n".join(lines)


def _support_note(n_impostor: int, what: str) -> str:
    """Which report FMRs the rule of 30 supports with this many impostor pairs."""
    flags = [
        f"{t:g} {'supported' if error_rates.fmr_supported(n_impostor, t) else 'NOT supported'}"
        f" (needs {error_rates.required_impostor_pairs(t):,})"
        for t in REPORT_FMRS
    ]
    return f"Rule of 30 with {n_impostor:,} {what}: " + "; ".join(flags)


def fit_table(model: FusionModel, label: str) -> str:
    """LLR maps, and FNMR at each system's own thresholds on the data they were set on."""
    lines = [
        f"Fit ({label}): in-sample, FNMR on the data each threshold was set on (* = the rule of"
        " 30 does not support it)",
        f"{'system':<8}{'genuine':>8}{'impostor':>9}  {'LLR map (nats)':<46}"
        + "".join(f"{f'FNMR @ {t:g}':>13}" for t in REPORT_FMRS),
    ]
    for part in (model.face, model.finger):
        llr = (
            f"{part.slope:.1f} * {part.transform}(s) {part.intercept:+.1f}"
            f" in [{part.llr_floor:.1f}, {part.llr_ceiling:.1f}]"
        )
        points = {p.target_fmr: p for p in part.operating_points}
        cells = "".join(_fit_cell(points[t]) for t in REPORT_FMRS)
        lines.append(
            f"{part.modality:<8}{part.n_genuine:>8,}{part.n_impostor:>9,}  {llr:<46}{cells}"
        )
    points = {p.target_fmr: p for p in model.operating_points}
    cells = "".join(_fit_cell(points[t]) for t in REPORT_FMRS)
    lines.append(
        f"{'fused':<8}{model.n_genuine:>8,}{model.n_impostor:>9,}  {'face + finger LLR':<46}{cells}"
    )
    for part in (model.face, model.finger):
        source = part.thresholds_from[:90] + ("..." if len(part.thresholds_from) > 90 else "")
        lines.append(
            f"{part.modality} alone decides at thresholds {source}"
            f" ({part.threshold_impostors:,} impostor pairs)"
        )
    return "\n".join(lines)


def _fit_cell(point: cal.OperatingPoint) -> str:
    """FNMR at one fitted point, starred when the rule of 30 does not support it."""
    return f"{point.fnmr:>12.2%}{' ' if point.supported else '*'}"


def write_det(tallies: dict[str, Tally], path: Path, title: str) -> None:
    """DET plot of pooled held-out scores, one curve per system."""
    curves = {}
    for name, tally in tallies.items():
        fmr, fnmr, _ = error_rates.det_curve(*tally.pooled())
        curves[name] = (fmr, fnmr)
    plot_det(curves, path, title)


def pool_runs(runs: list[dict[str, Tally]]) -> dict[str, Tally]:
    """One tally per system holding every run's held-out scores (for the DET plot)."""
    pooled = {name: Tally.empty() for name in runs[0]}
    for run in runs:
        for name, tally in run.items():
            pooled[name].genuine.extend(tally.genuine)
            pooled[name].impostor.extend(tally.impostor)
    return pooled


def repeated_runs(
    identities: dict[str, list[Path]], data: DevData, repeats: int, seed: int
) -> list[dict[str, Tally]]:
    """Held-out tallies of the two folds, once per seeded draw of 20 faces."""
    runs = []
    for r in range(repeats):
        subjects = make_subjects(random_faces(identities, seed + r), identities, data)
        tallies: dict[str, Tally] = {}
        for matcher in data.finger_scores:
            tallies |= held_out(subjects, data, matcher)[0]
        runs.append(tallies)
    return runs


def repeat_table(runs: list[dict[str, Tally]], n_identities: int, seed: int) -> str:
    """Held-out errors over the seeded face-to-finger assignments, and how often fusion won."""
    lines = [
        f"Repeated assignments: {len(runs)} seeded draws (seed {seed}..{seed + len(runs) - 1}) of"
        f" {N_SUBJECTS} faces from all {n_identities} dev identities with >= {MIN_PHOTOS}"
        " photos (face-api.js TV stills included), each held out as above; errors pooled",
        f"{'target':>7}  {'system':<11}{'FNMR @ fitted':>24}{'FMR got':>24}{'DET FNMR':>10}"
        "   fused FNMR @ fitted vs the better of its two",
    ]
    for t in REPORT_FMRS:
        lines += [_repeat_row(runs, name, t) for name in runs[0]]
    lines += [
        "DET FNMR: mean over the runs of the FNMR at FMR <= target on held-out scores.",
        "Runs reuse the same 160 finger images and 56 faces: pooled counts overstate the"
        " evidence; each run's own impostor count is what the rule of 30 judges.",
    ]
    return "\n".join(lines)


def _repeat_row(runs: list[dict[str, Tally]], name: str, target: float) -> str:
    """One system at one target: pooled errors at fitted thresholds, mean DET FNMR."""
    fnm = sum(run[name].false_nonmatches[target] for run in runs)
    fm = sum(run[name].false_matches[target] for run in runs)
    n_gen = sum(run[name].pooled()[0].size for run in runs)
    n_imp = sum(run[name].pooled()[1].size for run in runs)
    det = float(np.mean([_det_fnmr(run[name], target) for run in runs]))
    verdict = _fusion_verdict(runs, name, target) if name.startswith("fused") else ""
    return (
        f"{target:>7g}  {name:<11}{_rate(fnm, n_gen):>24}{_rate(fm, n_imp):>24}{det:>10.2%}"
        f"   {verdict}"
    )


def _det_fnmr(tally: Tally, target: float) -> float:
    """FNMR at the lowest held-out threshold whose held-out FMR is <= target."""
    genuine, impostor = tally.pooled()
    return error_rates.fnmr_at(error_rates.threshold_at_fmr(impostor, target), genuine)


def _fusion_verdict(runs: list[dict[str, Tally]], fused: str, target: float) -> str:
    """In how many runs fused FNMR was below, equal to or above the better of face and finger."""
    finger = fused.replace("fused", "finger")
    signs = []
    for run in runs:
        alone = min(run["face"].false_nonmatches[target], run[finger].false_nonmatches[target])
        signs.append(int(np.sign(run[fused].false_nonmatches[target] - alone)))
    lower, equal = signs.count(-1), signs.count(0)
    return f"lower in {lower}, equal in {equal}, higher in {len(runs) - lower - equal}"


def dataset_sentence(subjects: Sequence[Subject], data: Comparisons) -> str:
    """What the shipped model was fitted on, in one honest sentence."""
    n_gen = int(np.count_nonzero(data.genuine))
    return (
        f"chimeric subjects (Poh and Bengio 2006): {len(subjects)} FVC2002 fingers (DB1_B and "
        f"DB3_B, 10 each, 500 ppi) each paired with one shared dev face identity (8 colour web "
        f"identities deepface-*/facerec-*, 12 ORL); sample k = (photo k, impression k), "
        f"{sum(len(s.photos) for s in subjects)} samples; all sample pairs with fingers from the "
        f"same database: {n_gen:,} genuine, {data.genuine.size - n_gen:,} impostor. Dev data, "
        f"fitted in-sample (held-out figures: bench/fusion_dev.py); face/finger failure "
        f"correlation of real people is not represented"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    shared = Path(__file__).resolve().parents[2] / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=shared / "models", help="shared model dir")
    parser.add_argument("--dev", type=Path, default=shared / "data/faces/dev", help="dev faces")
    parser.add_argument("--fingerprints", type=Path, default=shared / "data/fingerprints",
                        help="folder holding fvc2002-db1_b and fvc2002-db3_b")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=Path("var"),
                        help="writable dir for the converted face recogniser (default: var)")  # fmt: skip
    parser.add_argument("--det", type=Path, help="write the held-out DET plot (PNG) here")
    parser.add_argument("--det-repeats", type=Path,
                        help="write the DET plot of the repeated assignments (PNG) here")  # fmt: skip
    parser.add_argument("--write", type=Path, help="write the model fitted on all subjects here")
    parser.add_argument("--shipped-finger", choices=sorted(FINGER_SPECS), default="mcc",
                        help="the finger matcher of the model written by --write (the site's default is mcc)")  # fmt: skip
    parser.add_argument("--extractor", choices=sorted(extractors.MATCHER_IDS), default="nbis",
                        help="minutiae extractor of the fingers (leader: MCC only; its model is"
                        " written as fusion-<pack>-leader-mcc)")  # fmt: skip
    parser.add_argument("--no-mcc", dest="mcc", action="store_false",
                        help="leave out the second finger matcher (MCC)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=100,
                        help="random face-to-finger assignments to repeat the study on (0: none)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="first seed of those assignments")
    return parser.parse_args(argv)


def print_subjects(subjects: Sequence[Subject]) -> None:
    """Which face goes with which finger, and in which fold."""
    print("Chimeric subjects (main protocol)")
    for s in subjects:
        print(f"  fold {s.fold}  {s.db} {s.finger}  +  {s.face_id} ({len(s.photos)} samples)")


def main_protocol(subjects: Sequence[Subject], data: DevData) -> dict[str, Tally]:
    """Held-out tallies of every finger matcher; prints the BOZORTH3 folds' fit tables."""
    tallies: dict[str, Tally] = {}
    for matcher in data.finger_scores:
        found, models = held_out(subjects, data, matcher)
        tallies |= found
        if matcher == "nbis":
            for fold, model in models.items():
                print("\n" + fit_table(model, f"fold {fold}"))
    return tallies


def main(argv: Sequence[str] | None = None) -> None:
    """Build the chimeric set, measure held out, print the tables, write the plot and model."""
    args = parse_args(argv)
    start = time.perf_counter()
    identities = face_identities(args.dev)
    data = load_dev_data(args, [p for paths in identities.values() for p in paths])
    subjects = make_subjects(main_faces(identities), identities, data)
    print_subjects(subjects)
    tallies = main_protocol(subjects, data)
    print("\n" + held_out_table(tallies))
    if args.repeats:
        runs = repeated_runs(identities, data, args.repeats, args.seed)
        print("\n" + repeat_table(runs, len(identities), args.seed))
        if args.det_repeats:
            title = f"Chimeric face + finger, held out, {args.repeats} face draws pooled"
            write_det(pool_runs(runs), args.det_repeats, title)
            print(f"wrote {args.det_repeats}")
    finger = args.shipped_finger if args.extractor == "nbis" else "mcc"
    full = comparisons(subjects, data, finger)
    named = extractors.MATCHER_IDS[args.extractor] if finger == "mcc" else finger
    own = {name: cal.Calibration.load(wiring.SHIPPED_CALIBRATIONS / f"{file.format(finger=named)}.json")
           for name, file in OWN_CALIBRATIONS.items()}  # fmt: skip
    model = fit_fusion(full, MODEL_ID.format(finger=named), dataset_sentence(subjects, full),
                       (FACE_DLIB, FINGER_SPECS[finger]), own=own)  # fmt: skip
    print("\n" + fit_table(model, "all 20 subjects, the shipped model"))
    if args.det:
        write_det(tallies, args.det, "Chimeric face + finger, held out (2 folds pooled)")
        print(f"wrote {args.det}")
    if args.write:
        model.save(args.write)
        print(f"wrote {args.write}")
    print(f"took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
