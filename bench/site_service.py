"""Speed and memory of the site service as a whole: gallery search, identify, rebuild, commit.

Run from the repository root as a script (it shares bench/face_engine.py's helpers; about 1.5
minutes on 2 cores, `--quick` about 15 s):
    python bench/site_service.py
    python bench/site_service.py --quick

A real `Site` (pack open-yunet-dlib, 128-d templates) runs on a temporary data dir. Ten real
people are enrolled from the dev photos through the enrolment service (so real templates sit in
the database); a synthetic crowd is then written through `IdentityRepository` until the gallery
holds each of `--sizes` templates, and the gallery is rebuilt from the database as at start.
Every image is a 640x480 camera frame made from a dev photo (as in bench/face_engine.py).

What is measured at each size:
1. Gallery rebuild (reading the templates from SQLite, then indexing them), database size, RSS.
2. `gallery.search` alone, k=5, for the real probe templates: unfiltered, active only (what
   identify searches by default), inmate/active, and limited by `only_identities` to 500
   people (the probe's own among them). NumPy brute force over the same vectors
   (`vectors @ q`, argpartition) is the peer; both must put the same template first.
3. `site.matcher.identify(frame)` end to end (decode, detect, embed, liveness, search) for
   photos of the enrolled people not used at enrolment: latency, and whether the right person
   still comes first above the threshold (the hit rate), plus other people above it.
4. `site.enrolment.commit` (one transaction with identity, images, templates, outbox, audit,
   then the gallery update) and capture-to-commit for 3 frames, on ORL people of the dev set:
   `--commits` at 10k templates, `--scale-commits` at the other sizes to show how it scales.
Searches, identify and commits run with FAISS's OpenMP threads as the service leaves them (one
per core) and with one thread: on a busy 2-core box the difference is large.

The crowd: uniform random unit vectors are far easier than real faces (in 128-d their cosine to
any probe is about 0 +- 0.09, while real impostors score around 0.83), so by default the crowd
is drawn from a Gaussian model fitted to the templates of the dev people not enrolled (40 ORL
people and the colour ones): a centre per synthetic person from the spread of real people's
centres, and 3-5 templates around it from the spread of a real person's templates. The first
table shows how the probes score against both kinds of crowd and against real other people;
`--crowd uniform` runs everything on the easy crowd instead. Liveness runs on every frame, but
enrolment does not require a live score: the dev photos are photographs of photographs, which
the anti-spoof model rightly calls not live.

The machine is shared, so the load average is printed at the start and the end, and each
table's title ends with the 1-minute load when it was printed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import faiss
import numpy as np
from face_engine import camera_frame, dev_rows, elapsed_ms, load_text, peak_mb, print_table, rss_mb

from edge.settings import EnrolmentSettings, Settings
from edge.site import Site
from enrollment.audit import now_iso
from enrollment.records import IdentityDraft
from enrollment.service import OfficerDecision, PossibleDuplicate
from enrollment.unit_of_work import unit_of_work
from gallery_sync.gallery import GalleryEntry
from kernel.errors import GerbangError
from site_sync.projection import stored_entries

REPO = Path(__file__).resolve().parent.parent
# Colour dev identities with 5+ photos whose camera frames pass the quality checks (not
# obama: small faces in group photos): the first 3 accepted enrol them, the rest are probes.
ENROLLED = (
    "deepface-img26",
    "deepface-img8",
    "deepface-img13",
    "deepface-img16",
    "facerec-steve_wozniak",
    "faceapi-penny",
    "facerec-guido_van_rossum",
    "facerec-paul_allen",
    "faceapi-amy",
    "faceapi-leonard",
)
COMMIT_PREFIX = "orl-"  # 40 people with 10 photos each: enough distinct people for the commits
COMMIT_SIZE = 10_000
OFFICER = "bench-officer"
K = 5
ONLY_IDENTITIES = 500
WARMUP = 3
SHRINK = 0.1  # weight of the isotropic part in the fitted covariances (few samples, 128 dims)
TEMPLATES_PER_PERSON = (3, 5)  # min_captures .. keep_best of the default enrolment settings
ROLE_SHARES = {"visitor": 0.55, "inmate": 0.35, "staff": 0.10}
STATUS_SHARES = {
    "visitor": {"active": 0.97, "banned": 0.03},
    "inmate": {"active": 0.5, "released": 0.4, "transferred_out": 0.1},
    "staff": {"active": 0.9, "transferred_out": 0.1},
}


@dataclass(frozen=True)
class Person:
    """A real enrolled person: their identity id and the frames left over as probes."""

    name: str
    identity_id: str
    probes: list[bytes]


@dataclass(frozen=True)
class CrowdModel:
    """Where templates lie: centre = mean + centre_factor @ z; template = centre + spread @ z."""

    mean: np.ndarray
    centre_factor: np.ndarray
    spread_factor: np.ndarray
    source: str


@dataclass
class SizeRun:
    """Everything measured at one gallery size."""

    size: int
    build: list[object] = field(default_factory=list)
    search: list[list[object]] = field(default_factory=list)
    identify: list[list[object]] = field(default_factory=list)
    commits: list[list[object]] = field(default_factory=list)


# ------------------------------------------------------------------ small tools


def pcts(values: Sequence[float]) -> list[float]:
    """p50, p95, p99."""
    return [float(v) for v in np.percentile(values, [50, 95, 99])]


def per_second(values_ms: Sequence[float]) -> float:
    """Calls per second for one caller at the mean latency."""
    return 1000.0 / float(np.mean(values_ms))


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """fn(*args, **kwargs) and the milliseconds it took."""
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, elapsed_ms(start)


def frame_of(path: Path) -> bytes:
    """A dev photo as a 640x480 camera frame."""
    return camera_frame(cv2.imread(str(path), cv2.IMREAD_COLOR))


# ------------------------------------------------------------------ the site and real people


def make_site(models: Path, data_dir: Path) -> Site:
    """A started site on an empty data dir; liveness runs but does not gate enrolment."""
    settings = Settings(
        model_dir=models,
        data_dir=data_dir,
        enrolment=EnrolmentSettings(require_liveness=False),
    )
    site = Site(settings)
    site.start()
    if not site.ready:
        raise SystemExit(f"site not ready: {site.problem}")
    return site


def inmate_draft(name: str, number: int) -> IdentityDraft:
    """Registration data a desk would type for an inmate."""
    return IdentityDraft(
        role="inmate",
        full_name=name,
        birth_date=date(1990, 1, 1),
        sex="M",
        registration_number=f"B.I-{number}/2024",
    )


def capture(site: Site, frames: Sequence[bytes]) -> tuple[str, int]:
    """A session fed frames until it is ready: (session id, frames used)."""
    session = site.enrolment.start_session("inmate", OFFICER)
    for used, frame in enumerate(frames, 1):
        if site.enrolment.add_frame(session, frame).ready:
            return session, used
    raise RuntimeError(f"not enough accepted frames among {len(frames)}")


def commit(site: Site, session: str, draft: IdentityDraft) -> tuple[str, float, bool]:
    """Commit (answering 'different person' if the desk is asked): (id, ms, asked)."""
    try:
        result, ms = timed(site.enrolment.commit, session, draft, [], OFFICER)
        return result.identity_id, ms, False
    except PossibleDuplicate as exc:
        decisions = [
            OfficerDecision(c["identity_id"], "different_person", "bench: another dev person")
            for c in exc.details["candidates"]
        ]
        result, ms = timed(site.enrolment.commit, session, draft, decisions, OFFICER)
        return result.identity_id, ms, True


def enrol_people(site: Site, photos: dict[str, list[Path]]) -> list[Person]:
    """Enrol each ENROLLED person through the service; their unused frames become probes."""
    people = []
    for number, name in enumerate(ENROLLED, 1):
        frames = [frame_of(p) for p in photos[name]]
        session, used = capture(site, frames)
        identity_id, _, _ = commit(site, session, inmate_draft(name, number))
        people.append(Person(name, identity_id, frames[used:]))
    return people


def probe_templates(site: Site, people: Sequence[Person]) -> tuple[np.ndarray, list[str]]:
    """Templates of every probe frame and the identity each belongs to."""
    engine = site.engine()
    vectors, owners = [], []
    for person in people:
        for frame in person.probes:
            vectors.append(engine.analyse_bytes(frame).template)
            owners.append(person.identity_id)
    return np.asarray(vectors, np.float32), owners


# ------------------------------------------------------------------ the crowd


def held_out_templates(
    site: Site, photos: dict[str, list[Path]], step: int
) -> tuple[np.ndarray, list[str]]:
    """Templates of dev people not enrolled (every `step`-th photo), to fit the crowd model."""
    engine = site.engine()
    vectors, labels = [], []
    for name, paths in photos.items():
        if name in ENROLLED:
            continue
        for path in paths[::step]:
            try:
                vectors.append(engine.analyse_bytes(frame_of(path)).template)
            except GerbangError:
                continue
            labels.append(name)
    return np.asarray(vectors, np.float64), labels


def shrunk_factor(cov: np.ndarray) -> np.ndarray:
    """F with F @ F.T = the covariance pulled a little towards isotropic (it is rank-poor)."""
    d = cov.shape[0]
    target = np.eye(d) * np.trace(cov) / d
    values, vectors = np.linalg.eigh((1 - SHRINK) * cov + SHRINK * target)
    return vectors * np.sqrt(np.clip(values, 0, None))


def fit_crowd(templates: np.ndarray, labels: Sequence[str]) -> CrowdModel:
    """Between-person spread of centres and within-person spread, from real templates."""
    rows: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        rows[label].append(row)
    groups = [templates[r] for r in rows.values() if len(r) >= 2]
    centres = np.stack([g.mean(axis=0) for g in groups])
    residuals = np.concatenate([g - g.mean(axis=0) for g in groups])
    within = residuals.T @ residuals / (len(residuals) - len(groups))
    return CrowdModel(
        centres.mean(axis=0),
        shrunk_factor(np.cov(centres, rowvar=False)),
        shrunk_factor(within),
        f"{len(groups)} held-out dev people",
    )


def uniform_crowd(dimension: int) -> CrowdModel:
    """Isotropic: every template is uniform on the sphere (a person's templates correlated)."""
    return CrowdModel(np.zeros(dimension), np.eye(dimension), np.eye(dimension), "uniform")


def sample_templates(model: CrowdModel, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit templates for people holding `counts` templates each, person after person."""
    d = model.mean.size
    centres = model.mean + rng.standard_normal((len(counts), d)) @ model.centre_factor.T
    owners = np.repeat(np.arange(len(counts)), counts)
    vectors = centres[owners] + rng.standard_normal((len(owners), d)) @ model.spread_factor.T
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def template_counts(total: int, rng: np.random.Generator) -> np.ndarray:
    """Templates per synthetic person, 3-5 each, summing to exactly `total`."""
    low, high = TEMPLATES_PER_PERSON
    counts = rng.integers(low, high + 1, size=total // low + 1)
    people = int(np.searchsorted(np.cumsum(counts), total)) + 1
    counts = counts[:people]
    counts[-1] -= int(counts.sum()) - total
    return counts


def pick(shares: dict[str, float], rng: np.random.Generator) -> str:
    """One key, drawn with the given probabilities."""
    return str(rng.choice(list(shares), p=list(shares.values())))


def synthetic_draft(role: str, number: int) -> IdentityDraft:
    """A unique identity record per role (the repository does not validate; the desk does)."""
    name = f"Sintetis {number}"
    if role == "inmate":
        return IdentityDraft("inmate", name, registration_number=f"A.I-{number}/2020")
    if role == "visitor":
        return IdentityDraft("visitor", name, nik=f"{number:016d}")
    return IdentityDraft("staff", name, nip=f"{number:018d}")


def insert_crowd(site: Site, model: CrowdModel, total: int, rng: np.random.Generator) -> int:
    """Write `total` synthetic templates through the repository, one transaction; return people."""
    counts = template_counts(total, rng)
    vectors = iter(sample_templates(model, counts, rng))
    pack_id, now = site.engine().pack_id, now_iso()
    with unit_of_work(site.db, site.vault) as uow:
        repo, tx = uow.identities, uow.connection
        first = tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0] + 1
        for number, count in enumerate(counts.tolist(), first):
            role = pick(ROLE_SHARES, rng)
            identity_id = repo.insert(synthetic_draft(role, number), site.settings.site_id)
            status = pick(STATUS_SHARES[role], rng)
            if status != "active":
                repo.set_status(identity_id, status)
            for copy in range(count):
                placeholder = f"synthetic image {identity_id} {copy}".encode()
                image_id, digest = repo.add_image(identity_id, placeholder, "image/jpeg", now)
                repo.add_template(identity_id, image_id, digest, pack_id, next(vectors), 0.8, now)
    return len(counts)


def crowd_realism(
    probes: np.ndarray, held_out: tuple[np.ndarray, list[str]], model: CrowdModel, threshold: float
) -> list[list[object]]:
    """Probe-vs-impostor cosine scores for real other people and for both kinds of crowd."""
    rng = np.random.default_rng(12345)
    counts = np.full(20_000 // 4, 4)
    grey = np.char.startswith(np.asarray(held_out[1]), COMMIT_PREFIX)
    sets = {
        "real: held-out colour dev people": held_out[0][~grey],
        "real: ORL people (one camera, grey)": held_out[0][grey],
        "synthetic: uniform unit vectors": sample_templates(
            uniform_crowd(probes.shape[1]), counts, rng
        ),
        f"synthetic: modelled ({model.source})": sample_templates(model, counts, rng),
    }
    rows: list[list[object]] = []
    for name, vectors in sets.items():
        scores = (probes @ vectors.astype(np.float32).T).ravel()
        above = float((scores >= threshold).mean())
        quantiles = np.percentile(scores, [50, 99, 99.9])
        rows.append(
            [
                name,
                len(vectors),
                scores.size,
                *(f"{q:.3f}" for q in quantiles),
                f"{scores.max():.3f}",
                f"{above:.1e}",
            ]
        )
    return rows


# ------------------------------------------------------------------ measuring one size


def rebuild(site: Site) -> tuple[float, float]:
    """site.rebuild_gallery's two steps, timed apart: (read ms, index ms)."""
    entries, read_ms = timed(stored_entries, site.db, site.vault, site.engine().pack_id)
    _, index_ms = timed(site.gallery().rebuild, entries)
    return read_ms, index_ms


def database_mb(site: Site) -> float:
    """Size of the SQLite file and its write-ahead log."""
    path = site.settings.database_path
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


@dataclass(frozen=True)
class EntryTable:
    """The gallery's entries as arrays, for the NumPy peer and for choosing filters."""

    vectors: np.ndarray
    template_ids: np.ndarray
    people: np.ndarray  # identity ids, one per person
    owner: np.ndarray  # index into people, one per entry
    active: np.ndarray  # per entry: status is active
    inmate: np.ndarray  # per entry: role is inmate
    fetch: int  # neighbours a search needs for k people: k x the widest person

    @classmethod
    def of(cls, entries: Sequence[GalleryEntry]) -> EntryTable:
        """Stack the entries once per size."""
        people, owner = np.unique([e.identity_id for e in entries], return_inverse=True)
        return cls(
            np.stack([e.vector for e in entries]).astype(np.float32),
            np.asarray([e.template_id for e in entries]),
            people,
            owner,
            np.asarray([e.status == "active" for e in entries]),
            np.asarray([e.role == "inmate" for e in entries]),
            K * int(np.bincount(owner).max()),
        )


@dataclass(frozen=True)
class SearchCase:
    """One search: the gallery's keyword arguments, and the rows NumPy may score (None: all)
    with their vectors gathered once (a fixed filter, as a FAISS partition is built once) or,
    when `matrix` is None, per query (an id list, as the gallery builds its selector per query).
    """

    kwargs: dict[str, Any]
    rows: np.ndarray | None = None
    matrix: np.ndarray | None = None


def fixed_case(table: EntryTable, kwargs: dict[str, Any], mask: np.ndarray) -> SearchCase:
    """A role/status filter: its rows and their vectors, gathered once."""
    rows = np.flatnonzero(mask)
    return SearchCase(kwargs, rows, table.vectors[rows])


def search_cases(
    table: EntryTable, owners: Sequence[str], rng: np.random.Generator
) -> dict[str, list[SearchCase]]:
    """Per filter (named as printed), one case per probe; the id list holds the probe's person."""
    limit = min(ONLY_IDENTITIES, len(table.people))
    position = {person: i for i, person in enumerate(table.people.tolist())}
    active = fixed_case(table, {"statuses": ["active"]}, table.active)
    inmate = fixed_case(
        table, {"roles": ["inmate"], "statuses": ["active"]}, table.active & table.inmate
    )
    cases: dict[str, list[SearchCase]] = defaultdict(list)
    for owner in owners:
        others = np.delete(np.arange(len(table.people)), position[owner])
        chosen = np.append(rng.choice(others, size=limit - 1, replace=False), position[owner])
        only = {"only_identities": set(table.people[chosen].tolist())}
        cases["all"].append(SearchCase({}))
        cases["active"].append(active)
        cases["inmate/active"].append(inmate)
        cases[f"{limit} ids"].append(SearchCase(only, np.flatnonzero(np.isin(table.owner, chosen))))
    return cases


def numpy_top(table: EntryTable, case: SearchCase, query: np.ndarray) -> int:
    """Brute force: score the rows, argpartition the best `fetch`, sort them; the best row."""
    if case.rows is None:
        chosen = table.vectors
    else:
        chosen = table.vectors[case.rows] if case.matrix is None else case.matrix
    scores = chosen @ query
    fetch = min(table.fetch, len(scores))
    best = np.argpartition(-scores, fetch - 1)[:fetch]
    top = int(best[np.argsort(-scores[best])][0])
    return top if case.rows is None else int(case.rows[top])


def time_calls(
    fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], repeat: int
) -> tuple[list[Any], list[float]]:
    """fn over every argument tuple, `repeat` times after a warm-up: (results, ms each)."""
    for args in calls[:WARMUP]:
        fn(*args)
    results, samples = [], []
    for _ in range(repeat):
        for args in calls:
            value, ms = timed(fn, *args)
            results.append(value)
            samples.append(ms)
    return results, samples


def time_search(
    site: Site, table: EntryTable, probes: np.ndarray, cases: list[SearchCase], repeat: int
) -> list[object]:
    """Ours (FAISS threads as the service leaves them, then one) and NumPy's latency for one
    filter, and how often ours and NumPy put the same template first.

    Each runs in its own loop: interleaved, OpenBLAS's and FAISS's spinning thread pools take
    the two cores from each other and both look many times slower than either really is.
    """
    gallery = site.gallery()

    def ours(probe: np.ndarray, case: SearchCase) -> int:
        found = gallery.search(probe, K, **case.kwargs)[0]
        return found[0].template_id if found else -1

    def peer(probe: np.ndarray, case: SearchCase) -> int:
        return int(table.template_ids[numpy_top(table, case, probe)])

    calls = list(zip(probes, cases, strict=True))
    our_firsts, our_ms = time_calls(ours, calls, repeat)
    with faiss_threads(1):
        _, single_ms = time_calls(ours, calls, repeat)
    peer_firsts, peer_ms = time_calls(peer, calls, repeat)
    agree = sum(a == b for a, b in zip(our_firsts, peer_firsts, strict=True))
    return [
        *(f"{v:.3f}" for v in pcts(our_ms)),
        f"{per_second(our_ms):.0f}",
        *(f"{v:.3f}" for v in pcts(single_ms)[:2]),
        *(f"{v:.3f}" for v in pcts(peer_ms)[:2]),
        *(f"{np.median(peer_ms) / np.median(ms):.2f}x" for ms in (our_ms, single_ms)),
        f"{agree}/{len(our_ms)}",
    ]


@contextlib.contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """FAISS's OpenMP thread count set to `count` inside the block, restored after."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def time_identify(site: Site, people: Sequence[Person], repeat: int) -> list[object]:
    """End-to-end identify on every probe frame: latency, analysis share, hits, other people."""
    pairs = [(frame, p.identity_id) for p in people for frame in p.probes]
    results, total = time_calls(site.matcher.identify, [(f,) for f, _ in pairs], repeat)
    analysis = [sum(r.probe.timings_ms.values()) for r in results]
    hits = others = 0
    for result, (_, expected) in zip(results, pairs * repeat, strict=True):
        top = result.candidates[0].identity_id if result.candidates else None
        hits += top == expected
        others += sum(c.identity_id != expected for c in result.candidates)
    return [
        *pcts(total),
        per_second(total),
        float(np.median(analysis)),
        float(np.median(total) - np.median(analysis)),
        f"{hits}/{len(total)}",
        others,
    ]


def time_commits(
    site: Site, frames: Sequence[list[bytes]], first_number: int
) -> list[list[object]]:
    """Capture (3 frames) and commit a new inmate per frame list, FAISS threads alternating
    between the service's default and 1: per setting, commit and whole-desk times."""
    settings = [faiss.omp_get_max_threads(), 1]
    samples: dict[int, tuple[list[float], list[float], list[bool]]] = {
        threads: ([], [], []) for threads in settings
    }
    for index, person_frames in enumerate(frames):
        number = first_number + index
        threads = settings[index % 2]
        commits, whole, asked = samples[threads]
        with faiss_threads(threads):
            start = time.perf_counter()
            session, _ = capture(site, person_frames)
            _, ms, was_asked = commit(site, session, inmate_draft(f"ORL {number}", number))
            whole.append(elapsed_ms(start))
        commits.append(ms)
        asked.append(was_asked)
    return [[threads, len(c), *pcts(c), *pcts(w), sum(a)] for threads, (c, w, a) in samples.items()]


# ------------------------------------------------------------------ the run


def measure_size(
    site: Site,
    size: int,
    model: CrowdModel,
    probes: tuple[np.ndarray, list[str]],
    people: Sequence[Person],
    commit_frames: list[list[bytes]],
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> SizeRun:
    """Grow the crowd to `size` templates, rebuild, then time search, identify and commits."""
    run = SizeRun(size)
    needed = size - len(site.gallery())
    crowd, insert_ms = timed(insert_crowd, site, model, needed, rng)
    read_ms, index_ms = rebuild(site)
    gc.collect()  # the rebuild's entry list is garbage now: RSS below is the service's own
    counts = site.gallery().counts()
    run.build = [
        size,
        crowd,
        insert_ms / 1000,
        read_ms / 1000,
        index_ms / 1000,
        sum(n for (_, status), n in counts.items() if status == "active"),
        counts.get(("inmate", "active"), 0),
        database_mb(site),
        rss_mb(),
        peak_mb(),
    ]
    table = EntryTable.of(stored_entries(site.db, site.vault, site.engine().pack_id))
    for name, cases in search_cases(table, probes[1], rng).items():
        timing = time_search(site, table, probes[0], cases, args.search_repeat)
        run.search.append([size, name, *timing])
    default = faiss.omp_get_max_threads()
    run.identify = [[size, default, *time_identify(site, people, args.repeat)]]
    with faiss_threads(1):
        run.identify.append([size, 1, *time_identify(site, people, args.repeat)])
    if commit_frames:
        run.commits = [
            [size, *row] for row in time_commits(site, commit_frames, 1000 + size // 100)
        ]
    return run


def commit_people(
    photos: dict[str, list[Path]], sizes: Sequence[int], args: argparse.Namespace
) -> dict[int, list[list[bytes]]]:
    """Frames of ORL people for two commits per `--commits` at 10k and per `--scale-commits`
    elsewhere (one per FAISS thread setting): each person's photos 1-5, then again with 6-10."""
    names = sorted(n for n in photos if n.startswith(COMMIT_PREFIX))
    people = itertools.cycle([(name, first) for first in (0, 5) for name in names])
    plan: dict[int, list[list[bytes]]] = {}
    for size in sizes:
        wanted = 2 * (args.commits if size == COMMIT_SIZE else args.scale_commits)
        plan[size] = [
            [frame_of(p) for p in photos[name][first:]]
            for name, first in itertools.islice(people, wanted)
        ]
    return plan


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; paths default to the shared folders next to the repository."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", type=Path, default=REPO.parent / "shared" / "models", metavar="DIR"
    )
    parser.add_argument(
        "--dev", type=Path, default=REPO.parent / "shared" / "data" / "faces" / "dev", metavar="DIR"
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1_000, 10_000, 100_000],
        metavar="N",
        help="gallery sizes in templates",
    )
    parser.add_argument("--crowd", choices=("modelled", "uniform"), default="modelled")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="passes over the probe frames for identify",
    )
    parser.add_argument(
        "--search-repeat",
        type=int,
        default=20,
        metavar="N",
        help="passes over the probes for search",
    )
    parser.add_argument(
        "--commits",
        type=int,
        default=30,
        metavar="N",
        help="commits at 10k templates, per FAISS thread setting",
    )
    parser.add_argument(
        "--scale-commits",
        type=int,
        default=5,
        metavar="N",
        help="commits at the other sizes, per FAISS thread setting",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--quick", action="store_true", help="sizes 1k and 10k, fewer passes and commits"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.search_repeat = [1_000, 10_000], 1, 4
        args.commits, args.scale_commits = 10, 3
    args.sizes = sorted(set(args.sizes))
    return args


def print_header(args: argparse.Namespace) -> None:
    """What ran where, so a pasted output can be read later."""
    from importlib.metadata import version

    libs = ", ".join(
        f"{p} {version(p)}" for p in ("onnxruntime", "faiss-cpu", "numpy", "opencv-python")
    )
    print(f"Gerbang site service benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"python {sys.version.split()[0]}, {libs}; FAISS OpenMP threads {faiss.omp_get_max_threads()}"
    )
    print(f"sizes {args.sizes}, crowd {args.crowd}, seed {args.seed}, quick {args.quick}")
    print(f"load average (1/5/15 min) at start: {load_text()}\n", flush=True)


def print_results(runs: Sequence[SizeRun]) -> None:
    """The tables for every size."""
    print_table(
        "Gallery at each size: crowd written through IdentityRepository (one transaction), then"
        " rebuilt from SQLite as at start (read = stored_entries, index = GalleryIndex.rebuild);"
        " RSS after the rebuild (its entry list freed), MB; peak = ru_maxrss so far",
        [
            "templates",
            "crowd people",
            "insert s",
            "read s",
            "index s",
            "active",
            "inmate/active",
            "DB MB",
            "RSS",
            "peak RSS",
        ],
        [r.build for r in runs],
    )
    print_table(
        f"gallery.search for one real probe template, k={K}, ms (exact IndexFlatIP per role/status),"
        " FAISS threads as the service leaves them, then 1 (1t); peer: NumPy vectors @ q +"
        " argpartition over the same vectors (rows gathered per query when limited); x = NumPy p50"
        " / ours p50; agree = ours and NumPy put the same template first",
        [
            "templates",
            "filter",
            "p50",
            "p95",
            "p99",
            "queries/s",
            "1t p50",
            "1t p95",
            "numpy p50",
            "numpy p95",
            "x",
            "x 1t",
            "agree",
        ],
        [row for r in runs for row in r.search],
    )
    print_table(
        "site.matcher.identify(frame) end to end (decode, detect, embed, liveness, search;"
        " statuses=active), ms; analysis = the engine's stage times; rest = p50 difference (search"
        " and bookkeeping); hits = right person first above the threshold; others = other people"
        " above the threshold, summed over all calls",
        [
            "templates",
            "FAISS threads",
            "p50",
            "p95",
            "p99",
            "per s",
            "analysis p50",
            "rest p50",
            "hits",
            "others",
        ],
        [row for r in runs for row in r.identify],
    )
    commits = [row for r in runs for row in r.commits]
    if commits:
        print_table(
            "Enrolment commit (identity, images, templates, outbox, audit in one transaction, then"
            " the gallery update), ms; capture-to-commit = start_session + 3 add_frame + commit;"
            " asked = commits that first needed an officer's duplicate decision (timed: the commit that"
            " succeeded; capture+commit includes the refused one); FAISS threads alternate per commit",
            [
                "templates",
                "FAISS threads",
                "commits",
                "commit p50",
                "p95",
                "p99",
                "capture+commit p50",
                "p95",
                "p99",
                "asked",
            ],
            commits,
        )


def prepare(
    site: Site, photos: dict[str, list[Path]], args: argparse.Namespace
) -> tuple[list[Person], tuple[np.ndarray, list[str]], CrowdModel]:
    """Enrol the real people, analyse their probes, fit the crowd; print how real it looks."""
    people = enrol_people(site, photos)
    probes = probe_templates(site, people)
    held_out, labels = held_out_templates(site, photos, 3 if args.quick else 1)
    fitted = fit_crowd(held_out, labels)
    threshold = site.thresholds().identify
    print(
        f"{len(people)} people enrolled through the enrolment service, {len(probes[1])} probe"
        f" frames left over; crowd model fitted on {len(labels)} templates ({fitted.source} with"
        f" 2+); identify threshold {threshold:.4f} (FMR {site.settings.match.identify_fmr:g})\n"
    )
    print_table(
        "Cosine scores of the real probes against impostors: why the crowd is modelled"
        " (uniform unit vectors are spread evenly over the sphere, far from every face, which"
        " makes search results easy)",
        ["impostors", "vectors", "pairs", "p50", "p99", "p99.9", "max", "share >= threshold"],
        crowd_realism(probes[0], (held_out, labels), fitted, threshold),
    )
    model = fitted if args.crowd == "modelled" else uniform_crowd(held_out.shape[1])
    return people, probes, model


def print_notes(args: argparse.Namespace, started: float) -> None:
    """What the crowd means for the figures, peak memory, load at the end."""
    print(
        f"Crowd: {args.crowd}. Synthetic vectors stand in for real faces: uniform ones are spread"
    )
    print("more evenly than real faces, which makes them easier; the modelled ones match the")
    print("first two moments of a few hundred real templates, so 'others' (false candidates) at")
    print("the large sizes come from the model's tail, an extrapolation. The same hits at every")
    print("size mean the crowd did not push a real match down.")
    print(f"peak RSS {peak_mb():.0f} MB")
    took = time.perf_counter() - started
    print(f"load average (1/5/15 min) at end: {load_text()}; run took {took:.0f} s")


def main(argv: Sequence[str] | None = None) -> None:
    """Enrol, grow the crowd size by size, measure, print."""
    args = parse_args(argv)
    started = time.perf_counter()
    print_header(args)
    rng = np.random.default_rng(args.seed)
    photos: dict[str, list[Path]] = defaultdict(list)
    for path, name in dev_rows(args.dev):
        photos[name].append(path)
    with tempfile.TemporaryDirectory(prefix="gerbang-site-bench-") as scratch:
        site, start_ms = timed(make_site, args.models, Path(scratch))
        print(f"Site started in {start_ms / 1000:.1f} s (empty database), RSS {rss_mb():.0f} MB")
        people, probes, model = prepare(site, photos, args)
        plan = commit_people(photos, args.sizes, args)
        runs = []
        for size in args.sizes:
            runs.append(measure_size(site, size, model, probes, people, plan[size], args, rng))
            print(f"  size {size} done at {time.perf_counter() - started:.0f} s", flush=True)
        site.close()
    print()
    print_results(runs)
    print_notes(args, started)


if __name__ == "__main__":
    main()
