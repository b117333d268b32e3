"""A day at the gate with real faces: false inmate ALARMs at the visitor exit, inmates caught, latency.

    EDGE_MODEL_DIR=/work/shared/models python bench/openset_embed.py \
        /work/shared/data/faces/openset --out var/openset-open-yunet-dlib.npz     # once
    EDGE_MODEL_DIR=/work/shared/models python bench/gate_day.py \
        var/openset-open-yunet-dlib.npz --set /work/shared/data/faces/openset [--quick] \
        [--inmates 0 (real inmates only)] [--lookalike-margins 0,0]

For each population of the open-set photos (Western: the CelebA people; East-Asian: AsianFaces
and CASIA-FaceV5), the people are split at random (seeded):
- real inmates: half of the people with at least 4 photos, enrolled from 3 captures each (one
  gallery template per capture, as the desk enrols); their other photos are inmates dressed as
  visitors at the exit;
- modelled inmates: the real ones run out long before a prison's population (`--inmates`,
  default 2,000), so the rest of the inmate gallery is a synthetic crowd drawn from a Gaussian
  model fitted to this population's own templates (a centre per person from the spread of real
  people's centres, 3 templates around it from the spread within a real person). The table says
  how many inmates are real and how many modelled, and a realism line compares the share of real
  and modelled different-person scores at or above the threshold (a crowd that scores lower than
  real people would flatter the false-alarm figure). A second figure models the false ALARMs
  from the probes' own impostor-score tails (models/openset_eval: normal tail on Fisher z);
- visitors: everyone else with at least 2 photos, enrolled from up to 3 captures, the rest their
  exit photos.
A thousand visitor exits: a visitor leaves while `--inside` visitors are inside. Each exit is
decided as edge/gate/visitors.py decides it: the face searched among active inmates (k=3; an
inmate at or above the inmate threshold is an ALARM), else among the visitors inside (the best
at or above the exit threshold is matched and admitted, else denied). Searches run on the
service's FAISS gallery (gallery_sync.gallery.GalleryIndex) with templates from the cached
embeddings; `--latency-exits` exits also run end to end from the photo's bytes (decode, detect,
every face, embed, liveness, both searches) for p50/p99 decision latency.

Thresholds: the service's own 1:N rule when main has one (`service_rule()`: thresholds by target
FPIR calibrated on the site's own gallery, per decision kind and people searched, and the
visitor-exit look-alike rule), otherwise the shipped per-comparison 1:N threshold of the pack's
calibration (EDGE_MATCH identify FMR); `--per-comparison` forces the latter and `--target-fpir`
sets the inmate threshold by this bench's own calibration on the real inmates. The report says
which it used, per population. Photos, not cameras: the exit photos are web photos or lab
captures, and one face each (the archive holds the subject's template only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge import wiring
from edge.settings import Settings
from gallery_sync.gallery import GalleryEntry, GalleryIndex
from models import openset_eval as ose
from models.calibration import Calibration

POPULATIONS = {"Western": ("celeba-",), "East-Asian": ("asianfaces-", "casia5-")}
INMATE_CAPTURES = 3
MODELLED_TEMPLATES = 3
SHRINK = 0.1
K = 3  # candidates per search, as the gate asks


@dataclass(frozen=True)
class Thresholds:
    """Scores the gate decides on, and where they came from."""

    inmate: float
    exit_match: float
    source: str
    open_set: Any = None  # the service's OpenSetThresholds following the gallery, when main has it
    lookalike: tuple[float, float] | None = None  # the service's look-alike margins, likewise

    def for_search(self, gallery: GalleryIndex, roles: tuple[str, ...],
                   statuses: tuple[str, ...] | None, only: list[str] | None) -> float:  # fmt: skip
        """The threshold of one search: the service's own rule when present, else fixed."""
        return self.setting(gallery, roles, statuses, only)[0]

    def setting(self, gallery: GalleryIndex, roles: tuple[str, ...],
                statuses: tuple[str, ...] | None, only: list[str] | None) -> tuple[float, Any]:  # fmt: skip
        """The threshold of one search and the cohort its scores are S-normalised against (None:
        raw cosines), as the service's `decide_search` takes them from one calibration."""
        fixed = self.inmate if roles == ("inmate",) else self.exit_match
        if self.open_set is None:
            return fixed, None
        from edge.gate.steps import search_kind  # type: ignore[attr-defined]
        from gallery_sync.openset import search_threshold  # type: ignore[import-not-found]

        kind = search_kind(roles, statuses, only)
        threshold, setting = search_threshold(
            gallery, self.open_set, fixed, kind, roles, statuses, only
        )
        return float(threshold), getattr(setting, "cohort", None)


def service_rule(
    settings: Settings, pack_id: str
) -> Callable[[GalleryIndex, Thresholds], Thresholds] | None:
    """How the service decides 1:N at the gate, when main has thresholds by target FPIR
    (gallery_sync/openset.py): the site calibrates on its own gallery, each search's threshold
    follows its kind and the people it scores, and the visitor exit withholds an alarm for a
    visitor who looks like an inmate (GatePolicy margins). None on a main without them."""
    try:
        from edge.gate.passage import GatePolicy
        from edge.wiring import open_set_thresholds  # type: ignore[attr-defined]
    except ImportError:
        return None
    calibration = Calibration.load(wiring.calibration_path(settings, pack_id))
    policy = GatePolicy()

    def attach(gallery: GalleryIndex, base: Thresholds) -> Thresholds:
        open_set = open_set_thresholds(settings, pack_id, calibration, gallery)
        margins = (
            (policy.lookalike_visitor_margin, policy.lookalike_margin)
            if hasattr(policy, "lookalike_margin") else None
        )  # fmt: skip
        people = gallery.people(("inmate",), ("active",))  # type: ignore[attr-defined]
        setting = open_set.for_search("gate_inmate", people)
        return Thresholds(
            setting.threshold, base.exit_match,
            f"the service's own: gate_inmate target FPIR {setting.target_fpir:g} over {people} "
            f"inmates -> {setting.threshold:.4f} ({setting.source}"
            f"{', extrapolated' if setting.extrapolated else ''}); visitor_exit by its own "
            f"target over the visitors inside; look-alike rule {'on' if margins else 'absent'}",
            open_set, margins,
        )  # fmt: skip

    return attach


def thresholds(settings: Settings, pack_id: str, inmates: int, inside: int) -> Thresholds:
    """The service's decision thresholds for these gallery sizes.

    Until the service sets 1:N thresholds by target FPIR, the gate uses the per-comparison
    threshold at the configured identify FMR for every 1:N search; that is what this returns."""
    calibration = Calibration.load(wiring.calibration_path(settings, pack_id))
    fmr = settings.match.identify_fmr
    t = calibration.threshold_for(fmr)
    return Thresholds(t, t, f"per-comparison 1:N threshold at FMR {fmr:g} ({t:.4f}), "
                            f"the same for {inmates} inmates and {inside} visitors inside")  # fmt: skip


def site_fpir_thresholds(
    base: Thresholds, target: float, inmates: int
) -> Callable[[list[np.ndarray]], Thresholds]:
    """Thresholds this bench sets itself for a target FPIR of the inmate alarm, calibrated on
    the site's own enrolled inmates (each one's captures searched against the others: the local
    impostor distribution), extended to `inmates` people with the normal tail model. A
    measurement of the idea, not the service's decision path; the exit match keeps `base`."""

    def choose(blocks: list[np.ndarray]) -> Thresholds:
        gallery = ose.build_gallery(blocks, "max")
        probes = np.concatenate(blocks).astype(np.float64)
        owner = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
        scores = ose.person_scores(probes, gallery)
        scores[np.arange(len(probes)), owner] = np.nan
        curve = ose.modelled_curve(scores, np.array([1.0]), scores[:1], inmates, "normal")
        t = curve.threshold_at(target)
        return Thresholds(t, base.exit_match, f"inmate alarm at target FPIR {target:g} for "
                          f"{inmates} inmates, calibrated by this bench on the {len(blocks)} real "
                          f"inmates' captures (normal tail): {t:.4f}; exit match: {base.source}")  # fmt: skip

    return choose


@dataclass(frozen=True)
class Population:
    """A population's photos from the archive."""

    paths: list[str]
    person: np.ndarray  # index into names
    names: list[str]
    vectors: np.ndarray  # unit templates


def load_population(archive: Path, prefixes: tuple[str, ...]) -> Population:
    """The usable photos of the people whose names start with one of the prefixes."""
    with np.load(archive) as data:
        paths = [str(p) for p in data["paths"]]
        emb = data["embeddings"]
    keep = [i for i, p in enumerate(paths) if p.startswith(prefixes) and np.isfinite(emb[i]).all()]
    labels = [paths[i].split("/", 1)[0] for i in keep]
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    return Population(
        [paths[i] for i in keep],
        np.array([index[n] for n in labels]),
        names,
        ose.unit(emb[keep].astype(np.float64)).astype(np.float32),
    )


def fit_crowd(vectors: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, centre factor, within factor) of a population's templates (shrunk covariances)."""
    groups = [vectors[person == p] for p in np.unique(person) if (person == p).sum() >= 2]
    centres = np.stack([g.mean(axis=0) for g in groups])
    residuals = np.concatenate([g - g.mean(axis=0) for g in groups])
    within = residuals.T @ residuals / (len(residuals) - len(groups))
    return centres.mean(axis=0), _factor(np.cov(centres, rowvar=False)), _factor(within)


def _factor(cov: np.ndarray) -> np.ndarray:
    d = cov.shape[0]
    values, vectors = np.linalg.eigh((1 - SHRINK) * cov + SHRINK * np.eye(d) * np.trace(cov) / d)
    return vectors * np.sqrt(np.clip(values, 0, None))


def crowd(model: tuple[np.ndarray, np.ndarray, np.ndarray], people: int,
          rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """(people, MODELLED_TEMPLATES, d) unit templates of synthetic people."""
    mean, centre_f, within_f = model
    d = mean.size
    centres = mean + rng.standard_normal((people, d)) @ centre_f.T
    noise = rng.standard_normal((people, MODELLED_TEMPLATES, d)) @ within_f.T
    return ose.unit(centres[:, None, :] + noise).astype(np.float32)


def calibrated_crowd(model: tuple[np.ndarray, np.ndarray, np.ndarray], probes: np.ndarray,
                     real: np.ndarray, threshold: float, people: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, float]:  # fmt: skip
    """A crowd whose centre spread is scaled (bisection on the scale) until its templates score
    at or above the threshold against the probes as often as the real inmates' templates do;
    the Gaussian fit alone gives too few look-alikes. Returns the crowd and the scale."""
    target = float(np.mean(probes @ real.T >= threshold))
    mean, centre_f, within_f = model
    d = mean.size

    def rate(scale: float) -> float:
        sample = crowd((mean, centre_f * scale, within_f), 600, np.random.default_rng(1))
        return float(np.mean(probes @ sample.reshape(-1, d).T >= threshold))

    low, high = 0.2, 2.0
    for _ in range(16):
        mid = float(np.sqrt(low * high))
        low, high = (mid, high) if rate(mid) > target else (low, mid)
    scale = float(np.sqrt(low * high))
    return crowd((mean, centre_f * scale, within_f), people, rng), scale


@dataclass
class Day:
    """Everything one population's day produced."""

    population: str
    real_inmates: int
    modelled_inmates: int
    visitors: int
    exits: int
    exit_photos: int
    false_alarms: int
    false_alarms_real: int
    modelled_alarms_tail: float
    admitted_right: int
    admitted_wrong: int
    denied: int
    escapes: int
    caught: int
    named: int
    realism: tuple[float, float]
    crowd_scale: float
    limits: Thresholds
    latency_ms: list[float]
    # the same exits and escapes decided with the look-alike rule off (None: the rule is absent)
    false_alarms_without_rule: int | None = None
    caught_without_rule: int | None = None


@dataclass
class Enrolled:
    """A population's site: the gallery, who is who, and the photos left to present."""

    gallery: GalleryIndex
    inmates: np.ndarray
    visitors: np.ndarray
    synthetic: np.ndarray
    exit_rows: dict[int, list[int]]
    escape_rows: list[int]
    inmate_rows: list[list[int]]  # each real inmate's enrolment captures
    crowd_scale: float  # the centre spread of the fitted crowd, scaled to match real look-alikes
    limits: Thresholds


def enrol(
    pop: Population,
    inmates_wanted: int,
    choose: Callable[[list[np.ndarray]], Thresholds],
    rng: np.random.Generator,
) -> Enrolled:
    """Real inmates and visitors from their captures, then the modelled inmates."""
    counts = np.bincount(pop.person, minlength=len(pop.names))
    eligible = rng.permutation(np.flatnonzero(counts >= INMATE_CAPTURES + 1))
    inmates = eligible[: len(eligible) // 2]
    taken = set(inmates.tolist())
    visitors = np.array([p for p in range(len(pop.names)) if p not in taken and counts[p] >= 2])
    entries: list[GalleryEntry] = []
    escape_rows: list[int] = []
    exit_rows: dict[int, list[int]] = {}
    inmate_rows: list[list[int]] = []
    for role, people in (("inmate", inmates), ("visitor", visitors)):
        for p in people:
            rows = rng.permutation(np.flatnonzero(pop.person == p))
            keep = INMATE_CAPTURES if role == "inmate" else min(3, len(rows) - 1)
            entries += [
                GalleryEntry(len(entries) + 1 + i, pop.names[p], role, "active", pop.vectors[r])
                for i, r in enumerate(rows[:keep])
            ]
            if role == "inmate":
                escape_rows += [int(r) for r in rows[keep:]]
                inmate_rows.append([int(r) for r in rows[:keep]])
            else:
                exit_rows[int(p)] = [int(r) for r in rows[keep:]]
    limits = choose([pop.vectors[rows] for rows in inmate_rows])
    probes = pop.vectors[[r for rows in exit_rows.values() for r in rows]]
    real = pop.vectors[[r for rows in inmate_rows for r in rows]]
    synthetic, scale = calibrated_crowd(
        fit_crowd(pop.vectors, pop.person), probes, real, limits.inmate,
        max(inmates_wanted - len(inmates), 0), rng,
    )  # fmt: skip
    for i, person in enumerate(synthetic):
        entries += [
            GalleryEntry(len(entries) + 1 + j, f"modelled-{i}", "inmate", "active", v)
            for j, v in enumerate(person)
        ]
    gallery = GalleryIndex(pop.vectors.shape[1])
    gallery.add(entries)
    return Enrolled(gallery, inmates, visitors, synthetic, exit_rows, escape_rows, inmate_rows,
                    scale, limits)  # fmt: skip


def decide(site: Enrolled, limits: Thresholds, template: np.ndarray,
           inside: list[str]) -> tuple[str, str | None]:  # fmt: skip
    """The visitor-exit decision of edge/gate/visitors.py on one face."""
    gallery = site.gallery
    t_inmate, cohort = limits.setting(gallery, ("inmate",), ("active",), None)
    found = gallery.search(template, K, roles=("inmate",), statuses=("active",), cohort=cohort)[0]
    inmate = found[0] if found and found[0].score >= t_inmate else None
    t_visitor, visitor_cohort = limits.setting(gallery, ("visitor",), None, inside)
    match = gallery.search(template, K, roles=("visitor",), only_identities=inside,
                           cohort=visitor_cohort)[0]  # fmt: skip
    visitor = match[0] if match and match[0].score >= t_visitor else None
    if inmate is not None:
        lookalike = (
            limits.lookalike is not None
            and cohort is None  # S-norm scores: the margins are cosines (edge/gate/visitors.py)
            and visitor is not None
            and visitor.score >= t_visitor + limits.lookalike[0]
            and visitor.score >= inmate.score + limits.lookalike[1]
        )
        if not lookalike:
            return "alarm", inmate.identity_id
    if visitor is not None:
        return "admit", visitor.identity_id
    return "deny", None


def run_day(pop_name: str, pop: Population, args: argparse.Namespace,
            choose: Callable[[list[np.ndarray]], Thresholds], engine: object | None,
            service: Callable[[GalleryIndex, Thresholds], Thresholds] | None) -> Day:  # fmt: skip
    """Enrol, then a thousand exits and every escape attempt."""
    rng = np.random.default_rng(args.seed)
    site = enrol(pop, args.inmates, choose, rng)
    limits = site.limits if service is None else service(site.gallery, site.limits)
    if args.lookalike_margins and limits.lookalike is not None:
        visitor_margin, margin = (float(v) for v in args.lookalike_margins.split(","))
        limits = replace(limits, lookalike=(visitor_margin, margin))
    leaving = rng.choice(list(site.exit_rows), size=args.exits)
    tally = {"alarm": 0, "alarm_real": 0, "right": 0, "wrong": 0, "deny": 0, "alarm_off": 0}
    no_rule = replace(limits, lookalike=None)
    latency: list[float] = []
    used_photos: set[int] = set()
    for n, p in enumerate(leaving):
        row = int(rng.choice(site.exit_rows[p]))
        used_photos.add(row)
        others = [v for v in site.visitors if v != p]
        others = list(rng.choice(others, size=min(args.inside - 1, len(others)), replace=False))
        inside = [pop.names[p]] + [pop.names[v] for v in others]
        verdict, who = decide(site, limits, pop.vectors[row], inside)
        tally["alarm_off"] += decide(site, no_rule, pop.vectors[row], inside)[0] == "alarm"
        if verdict == "alarm":
            tally["alarm"] += 1
            tally["alarm_real"] += not str(who).startswith("modelled-")
        elif verdict == "admit":
            tally["right" if who == pop.names[p] else "wrong"] += 1
        else:
            tally["deny"] += 1
        if engine is not None and n < args.latency_exits:
            path = Path(args.set) / pop.paths[row]
            latency.append(_timed_exit(engine, path, site, limits, inside))
    caught = named = caught_off = 0
    for row in site.escape_rows:
        # dressed as a visitor, the worst case for the look-alike rule: the visitor inside is the
        # one who looks most like this inmate (an accomplice chosen for it)
        nearest = site.gallery.search(pop.vectors[row], 1, roles=("visitor",))[0]
        inside = [nearest[0].identity_id] if nearest else [pop.names[site.visitors[0]]]
        verdict, who = decide(site, limits, pop.vectors[row], inside)
        caught_off += decide(site, no_rule, pop.vectors[row], inside)[0] == "alarm"
        caught += verdict == "alarm"
        named += verdict == "alarm" and who == pop.names[pop.person[row]]
    tail = _tail_alarms(pop, site, leaving, rng, limits.inmate, args.inmates)
    realism = _realism(pop, site, limits.inmate)
    return Day(pop_name, len(site.inmates), len(site.synthetic), len(site.visitors), args.exits,
               len(used_photos), tally["alarm"], tally["alarm_real"], tail, tally["right"],
               tally["wrong"], tally["deny"], len(site.escape_rows), caught, named, realism,
               site.crowd_scale, limits, latency,
               tally["alarm_off"] if limits.lookalike else None,
               caught_off if limits.lookalike else None)  # fmt: skip


def _timed_exit(engine: object, path: Path, site: Enrolled, limits: Thresholds,
                inside: list[str]) -> float:  # fmt: skip
    """Milliseconds from the photo's bytes to the decision (every face searched, as the gate)."""
    data = path.read_bytes()
    start = time.perf_counter()
    try:
        people = engine.analyse_people_bytes(data)  # type: ignore[attr-defined]
    except Exception:  # an unusable frame is also a decision (face_unusable)
        return (time.perf_counter() - start) * 1000
    for person in people:
        verdict, _ = decide(site, limits, person.template, inside)
        if verdict == "alarm":
            break
    return (time.perf_counter() - start) * 1000


def _realism(pop: Population, site: Enrolled, threshold: float) -> tuple[float, float]:
    """Share of different-person scores >= threshold: visitors' exit photos against real inmate
    templates, and against modelled inmate templates."""
    probes = pop.vectors[[r for rows in site.exit_rows.values() for r in rows]]
    real = pop.vectors[[r for rows in site.inmate_rows for r in rows]]
    model = site.synthetic.reshape(-1, pop.vectors.shape[1])[-5000:]  # not the calibration draw
    real_rate = float(np.mean(probes @ real.T >= threshold)) if len(real) else float("nan")
    model_rate = float(np.mean(probes @ model.T >= threshold)) if len(model) else float("nan")
    return real_rate, model_rate


def _tail_alarms(pop: Population, site: Enrolled, leaving: np.ndarray, rng: np.random.Generator,
                 threshold: float, people: int) -> float:  # fmt: skip
    """Expected false ALARMs over the exits, each exit's impostor tail against the real inmates
    (best of a person's 3 templates) extended to `people` inmates."""
    blocks = [pop.vectors[rows] for rows in site.inmate_rows]
    gallery = ose.build_gallery(blocks, "max")
    rows = np.array([int(rng.choice(site.exit_rows[p])) for p in leaving])
    scores = ose.person_scores(pop.vectors[rows].astype(np.float64), gallery)
    q = ose.impostor_survival(scores, np.full((len(rows), 1), threshold), "normal")[:, 0]
    return float(np.sum(1.0 - np.exp(people * np.log1p(-np.minimum(q, 1 - 1e-16)))))


def pct(values: Sequence[float], q: float) -> float:
    """A percentile, NaN for none."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def report(days: Sequence[Day], args: argparse.Namespace) -> str:
    """The Markdown table the README quotes."""
    lines = [
        *(f"{d.population} thresholds: {d.limits.source}." for d in days),
        f"{args.exits} visitor exits per population, {args.inside} visitors inside, seed {args.seed}; "
        f"latency on the first {args.latency_exits} exits end to end (1-min load "
        f"{os.getloadavg()[0]:.1f}).",
        "",
        "| population | inmates (real + modelled) | visitors | false ALARMs / 1,000 exits "
        "(real / crowd) | modelled from tails | exits admitted right / wrong / denied "
        "| inmates as visitors caught (named) | pairs >= thr: real / crowd (spread) | latency p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rule = [
        "",
        "The visitor-exit look-alike rule (margins "
        f"{days[0].limits.lookalike if days else None}), the same exits and escapes decided with"
        " it and without:",
        "",
        "| population | false ALARMs / 1,000 exits: with the rule / without | inmates as visitors "
        "caught (the most alike visitor inside): with / without |",
        "|---|---|---|",
    ]
    for d in days:
        per = 1000 / d.exits
        lines.append(
            f"| {d.population} | {d.real_inmates} + {d.modelled_inmates} | {d.visitors} "
            f"| {d.false_alarms * per:.0f} ({d.false_alarms_real * per:.0f} / "
            f"{(d.false_alarms - d.false_alarms_real) * per:.0f}) | {d.modelled_alarms_tail * per:.0f} "
            f"| {d.admitted_right} / {d.admitted_wrong} / {d.denied} "
            f"| {d.caught}/{d.escapes} = {d.caught / max(d.escapes, 1):.1%} ({d.named}) "
            f"| {d.realism[0]:.1e} / {d.realism[1]:.1e} (x{d.crowd_scale:.2f}) "
            f"| {pct(d.latency_ms, 50):.0f} / {pct(d.latency_ms, 99):.0f} ms |"
        )
        if d.false_alarms_without_rule is not None and d.caught_without_rule is not None:
            rule.append(
                f"| {d.population} | {d.false_alarms * per:.1f} / "
                f"{d.false_alarms_without_rule * per:.1f} | {d.caught}/{d.escapes} / "
                f"{d.caught_without_rule}/{d.escapes} |"
            )
    return "\n".join(lines + (rule if len(rule) > 6 else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive", help="bench/openset_embed.py archive of the open-set photos")
    parser.add_argument("--set", default=os.environ.get("GERBANG_OPENSET_FACES", ""),
                        help="the open-set photo folder (for end-to-end latency)")  # fmt: skip
    parser.add_argument("--inmates", type=int, default=2000)
    parser.add_argument("--exits", type=int, default=1000)
    parser.add_argument("--inside", type=int, default=40, help="visitors inside at each exit")
    parser.add_argument("--latency-exits", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 exits, 30 timed")
    parser.add_argument(
        "--per-comparison",
        action="store_true",
        help="decide at the per-comparison 1:N threshold even where the service has its own rule",
    )
    parser.add_argument(
        "--target-fpir", type=float,
        help="set the inmate alarm threshold for this FPIR from the site's own inmates (a "
        "measurement of that idea; default: the service's thresholds)",
    )  # fmt: skip
    parser.add_argument(
        "--lookalike-margins", metavar="VISITOR,INMATE",
        help="try other look-alike margins than GatePolicy's (visitor over its threshold, "
        "visitor over the inmate), e.g. 0,0.01",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.exits, args.latency_exits = 200, 30
    settings = Settings()
    spec = wiring.engine_spec(settings)
    engine = spec.build() if args.set and args.latency_exits else None
    base = thresholds(settings, spec.pack.id, args.inmates, args.inside)
    choose: Callable[[list[np.ndarray]], Thresholds] = lambda _blocks: base  # noqa: E731
    if args.target_fpir:
        choose = site_fpir_thresholds(base, args.target_fpir, args.inmates)
    service = (
        None if args.target_fpir or args.per_comparison else service_rule(settings, spec.pack.id)
    )
    days = []
    for name, prefixes in POPULATIONS.items():
        pop = load_population(Path(args.archive), prefixes)
        days.append(run_day(name, pop, args, choose, engine, service))
        print(f"{name}: done", file=sys.stderr)
    print(report(days, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
