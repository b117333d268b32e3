"""Frames per second and decision latency of the gate camera loop (`edge/gate/camera.py`).

Run from the repository root (about 2 minutes on 2 cores; `--quick` under one):
    python bench/gate_camera.py
    python bench/gate_camera.py --quick

Set-up: a real `Site` (pack open-yunet-dlib, liveness on, onnxruntime on all physical cores) on
a temporary data dir, gate "main" (visitor exit). Two visitors and two inmates are enrolled
from dev photos through the enrolment service; both visitors are let in with `visitor_entry`.
The video (MJPG .avi, 640x480 at 10 fps, made in memory from dev photos as in
bench/face_engine.py): people come and go in turn, a visitor, an inmate, a stranger; each
steps up (4 frames, smaller and blurred), stands 1.5 s swaying, then the scene is empty 1 s.
Passage photos are ones the anti-spoof model scores live, so every decision runs the searches
(a not-live frame is refused before any search, which would flatter the latency).

Each run uses `visitor_exit` as the decision, as `gerbang gate run --passage visitor_exit`
does; after an admit the bench re-opens that visitor's visit (plain SQL through GateStore,
outside the timed call) so the next pass of the same person is admitted again.

Galleries: "real people" (the 4 enrolled), then "site": the issue's 2,000 inmates, 20,000
visitors enrolled of whom 500 are inside. The 500 visitors inside are real rows (identity,
entry event, open visit, via IdentityRepository and GateStore) because `visitor_exit` reads
the open visits from the database; every synthetic person's templates (3 each, as enrolment
keeps) go straight into the live gallery as uniform random unit vectors with template ids
above 10^9, not into the database. A flat index costs the same whatever the vectors hold, so
this measures search cost at that size, not accuracy: random vectors never match anybody.

Measured, per gallery:
1. Throughput: the video read as fast as the loop takes it (no pacing): frames analysed per
   second while deciding, i.e. what the loop sustains on this machine.
2. At camera rate: the video paced at 10 fps behind the newest-frame reader, as a camera
   delivers it: frames skipped, CPU used (share of all cores), best frame captured → decision
   stored, and window closed → decision stored (JPEG encoding + gate service).
3. Replay: the best frames the loop chose, re-encoded and decided `--replay` times in all, for
   stable p50/p99 of best frame → decision.
The machine is shared: load averages are printed at the start and end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from face_engine import load_text, print_table

from edge.gate.camera import LoopStats, PassageLoop, encode_jpeg
from edge.gate.records import Gate
from edge.gate.service import GateDecision
from edge.gate.sources import open_source
from edge.gate.unit_of_work import gate_work
from edge.settings import EnrolmentSettings, Settings
from edge.site import Site
from enrollment.records import Consent, IdentityDraft
from enrollment.service import OfficerDecision, PossibleDuplicate
from gallery_sync.gallery import GalleryEntry
from models.runtime import physical_cores

REPO = Path(__file__).resolve().parent.parent
FPS = 10.0
FRAME_W, FRAME_H = 640, 480
PHOTO_HEIGHT = 380
JPEG_QUALITY = 95  # the loop's default
GATE = "main"
SYNTHETIC_ID_BASE = 10**9
# (role, dev folder, enrolment photos, passage photo); roles "stranger" are not enrolled.
PEOPLE = (
    ("visitor", "deepface-img8", (1, 2, 3), 5),
    ("inmate", "deepface-img26", (1, 2, 3), 7),
    ("stranger", "facerec-steve_wozniak", (), 2),
    ("visitor", "facerec-guido_van_rossum", (2, 3, 4), 1),
    ("inmate", "facerec-paul_allen", (1, 2, 4), 5),
    ("stranger", "deepface-img13", (), 5),
)


@dataclass
class Cast:
    """Who is enrolled: dev folder → identity id, and which ids are visitors."""

    ids: dict[str, str] = field(default_factory=dict)
    visitors: set[str] = field(default_factory=set)


@dataclass
class LoopRun:
    """One pass of the loop over the video."""

    stats: LoopStats
    seconds: float
    cpu_seconds: float
    results: Counter[str]
    best_frames: list[np.ndarray]


# ------------------------------------------------------------------ the video


def letterboxed(photo: Path, scale: float = 1.0, dx: int = 0) -> np.ndarray:
    """A dev photo on a grey 640x480 frame, `scale` of gate size, shifted dx px."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    fit = min(PHOTO_HEIGHT / image.shape[0], (FRAME_W - 40) / image.shape[1]) * scale
    small = cv2.resize(image, None, fx=fit, fy=fit, interpolation=cv2.INTER_AREA)
    canvas = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    top, left = (FRAME_H - small.shape[0]) // 2, (FRAME_W - small.shape[1]) // 2 + dx
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def passage_frames(photo: Path) -> list[np.ndarray]:
    """Step up (smaller, blurred), stand 1.5 s swaying, leave: 1 s of empty scene."""
    approach = [
        cv2.GaussianBlur(letterboxed(photo, s), (0, 0), 2.5) for s in (0.75, 0.82, 0.9, 0.95)
    ]
    sways = np.resize([-6, -3, 0, 3, 6, 3, 0, -3], int(1.5 * FPS))
    stand = [letterboxed(photo, 1.0, int(dx)) for dx in sways]
    empty = [np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)] * int(1.0 * FPS)
    return approach + stand + empty


def write_video(path: Path, dev: Path, passages: int) -> tuple[Path, int]:
    """The MJPG video of `passages` people in turn; returns it and its frame count."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (FRAME_W, FRAME_H))
    count = 0
    for n in range(passages):
        _, folder, _, photo = PEOPLE[n % len(PEOPLE)]
        for frame in passage_frames(dev / folder / f"{photo}.jpg"):
            writer.write(frame)
            count += 1
    writer.release()
    return path, count


# ------------------------------------------------------------------ the site


def make_site(models: Path, data_dir: Path) -> Site:
    """A started site; enrolment does not demand liveness (the dev photos are photos of photos)."""
    settings = Settings(
        model_dir=models,
        data_dir=data_dir,
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3, require_liveness=False),
    )
    site = Site(settings)
    site.start()
    if not site.ready:
        raise SystemExit(f"site not ready: {site.problem}")
    with gate_work(site.db, site.vault) as uow:
        uow.gates.add_gate(Gate(GATE, "Pintu utama", ("in", "out"), ("visitor", "inmate")))
    return site


def draft(role: str, number: int, folder: str) -> IdentityDraft:
    """Registration data the desk would type."""
    if role == "inmate":
        return IdentityDraft("inmate", folder, birth_date=date(1990, 1, 1), sex="M",
                             registration_number=f"B.I-{number}/2024")  # fmt: skip
    consent = Consent("kunjungan", "bench", "2026-01-05T08:00:00+00:00")
    return IdentityDraft("visitor", folder, birth_date=date(1985, 1, 1), sex="F",
                         nik=f"320101410185{number:04d}", consent=consent)  # fmt: skip


def enrol(site: Site, photos: Sequence[Path], person: IdentityDraft) -> str:
    """Capture until ready, commit (answering 'another person' if the desk is asked)."""
    session = site.enrolment.start_session(person.role, "bench")
    for photo in photos:
        if site.enrolment.add_frame(session, photo.read_bytes()).ready:
            break
    try:
        return site.enrolment.commit(session, person, [], "bench").identity_id
    except PossibleDuplicate as exc:
        answers = [
            OfficerDecision(c["identity_id"], "different_person", "bench: another dev person")
            for c in exc.details["candidates"]
        ]
        return site.enrolment.commit(session, person, answers, "bench").identity_id


def enrol_cast(site: Site, dev: Path) -> Cast:
    """Enrol the visitors and inmates of PEOPLE and let the visitors in."""
    cast = Cast()
    for number, (role, folder, shots, photo) in enumerate(PEOPLE, 1):
        if role == "stranger":
            continue
        identity_id = enrol(site, [dev / folder / f"{n}.jpg" for n in shots], draft(role, number, folder))  # fmt: skip
        cast.ids[folder] = identity_id
        if role == "visitor":
            cast.visitors.add(identity_id)
            frame = encode_jpeg(letterboxed(dev / folder / f"{photo}.jpg"), JPEG_QUALITY)
            entry = site.gate.visitor_entry(GATE, frame, "bench", visitor_id=identity_id)
            if entry.event.result != "admit":
                raise SystemExit(f"{folder} not let in: {entry.event.reason}")
    return cast


def reopen_visit(site: Site, visitor_id: str) -> None:
    """The visitor comes in again (bench plumbing: an entry event and an open visit, no face)."""
    with gate_work(site.db, site.vault) as uow:
        store = uow.gates
        event = store.record(GATE, "visitor_entry", "admit", "visitor_verified",
                             {"bench": "re-entry"}, "bench", visitor_id, visitor_id)  # fmt: skip
        store.open_visit(visitor_id, None, GATE, event.id)


def fill_site(site: Site, inmates: int, visitors: int, inside: int, per_person: int) -> int:
    """The issue's site: visitors inside as DB rows with open visits; everyone in the gallery."""
    with gate_work(site.db, site.vault) as uow:
        repo, store = uow.identities, uow.gates
        inside_ids = []
        for n in range(inside):
            person = IdentityDraft("visitor", f"Pengunjung Sintetis {n}", nik=f"{9 * 10**15 + n:016d}")  # fmt: skip
            identity_id = repo.insert(person, site.settings.site_id)
            event = store.record(GATE, "visitor_entry", "admit", "visitor_verified",
                                 {"bench": "synthetic"}, "bench", identity_id, identity_id)  # fmt: skip
            store.open_visit(identity_id, None, GATE, event.id)
            inside_ids.append(identity_id)
    people = [(i, "visitor") for i in inside_ids]
    people += [(f"synthetic-visitor-{n}", "visitor") for n in range(visitors - inside)]
    people += [(f"synthetic-inmate-{n}", "inmate") for n in range(inmates)]
    rng = np.random.default_rng(2026)
    vectors = rng.standard_normal((len(people) * per_person, site.gallery().dimension))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = [p for p in people for _ in range(per_person)]
    entries = [
        GalleryEntry(SYNTHETIC_ID_BASE + row, identity_id, role, "active", vectors[row].astype(np.float32))
        for row, (identity_id, role) in enumerate(owners)
    ]  # fmt: skip
    site.gallery().add(entries)
    return len(entries)


# ------------------------------------------------------------------ running the loop


def decider(site: Site, cast: Cast, results: Counter[str]) -> Callable[[GateDecision], None]:
    """on_decision: count the outcome; after an admit, let that visitor in again."""

    def on_decision(decision: GateDecision) -> None:
        event = decision.event
        results[f"{event.result} {event.reason}"] += 1
        if event.result == "admit" and event.matched_identity_id in cast.visitors:
            reopen_visit(site, event.matched_identity_id)

    return on_decision


def run_loop(site: Site, cast: Cast, video: Path, pace: bool) -> LoopRun:
    """The loop over the whole video, exactly as `gerbang gate run` builds it."""
    results: Counter[str] = Counter()
    best: list[np.ndarray] = []

    def decide(jpeg: bytes) -> GateDecision:
        best.append(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        return site.gate.visitor_exit(GATE, jpeg, "camera:main")

    loop = PassageLoop.with_engine(
        site.engine(), lambda: open_source(str(video), FPS, pace=pace), decide,
        decider(site, cast, results),
    )  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    loop.start()
    loop.join()
    return LoopRun(loop.stats, time.perf_counter() - wall, time.process_time() - cpu, results, best)  # fmt: skip


def replay(site: Site, cast: Cast, frames: Sequence[np.ndarray], calls: int) -> list[float]:
    """Milliseconds from a best frame to a stored decision (encode + visitor_exit), `calls` times."""
    on_decision = decider(site, cast, Counter())
    times = []
    for n in range(calls):
        start = time.perf_counter()
        decision = site.gate.visitor_exit(
            GATE, encode_jpeg(frames[n % len(frames)], JPEG_QUALITY), "bench"
        )
        times.append((time.perf_counter() - start) * 1000)
        on_decision(decision)
    return times


# ------------------------------------------------------------------ printing


def pct(values: Sequence[float]) -> list[float]:
    """p50, p95, p99, max (NaN when empty)."""
    if not values:
        return [float("nan")] * 4
    return [*(float(v) for v in np.percentile(values, [50, 95, 99])), float(max(values))]


def outcome_text(results: Counter[str]) -> str:
    """'admit visitor_exit_matched 4, alarm inmate_leaving 4, ...'."""
    return ", ".join(f"{key} {n}" for key, n in sorted(results.items()))


def print_runs(title: str, runs: dict[str, LoopRun], paced: bool) -> None:
    """One table of loop runs, one row per gallery (best → decision only when paced: unpaced
    frames carry the file's own clock, not the time they were read)."""
    header = ["gallery", "frames", "analysed", "skipped", "fps", "CPU %", "passages", "decided",
              "best→dec p50", "p99", "window→dec p50", "p99"]  # fmt: skip
    rows = []
    for name, run in runs.items():
        s = run.stats
        rows.append([name, s.frames_read, s.frames_analysed, s.frames_skipped,
                     s.frames_analysed / run.seconds, 100 * run.cpu_seconds / run.seconds / (os.cpu_count() or 1),
                     s.passages, s.decisions, *(pct(s.best_to_decision_ms)[0:3:2] if paced else [None] * 2),
                     *pct(s.decision_ms)[0:3:2]])  # fmt: skip
    print_table(title, header, rows)
    for name, run in runs.items():
        print(f"  {name}: {outcome_text(run.results)}")
    print()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; paths default to the shared folders next to the repository."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = REPO.parent / "shared"
    parser.add_argument("--models", type=Path, default=shared / "models", metavar="DIR")
    parser.add_argument("--dev", type=Path, default=shared / "data" / "faces" / "dev", metavar="DIR")  # fmt: skip
    parser.add_argument("--passages", type=int, default=12, help="people in the video (12)")
    parser.add_argument("--replay", type=int, default=300, help="replayed decisions per gallery")
    parser.add_argument("--inmates", type=int, default=2_000)
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--inside", type=int, default=500)
    parser.add_argument("--templates", type=int, default=3, help="templates per synthetic person")
    parser.add_argument("--quick", action="store_true", help="6 passages, 60 replays")
    args = parser.parse_args(argv)
    if args.quick:
        args.passages, args.replay = 6, 60
    return args


def print_header(args: argparse.Namespace) -> None:
    """What ran where, so a pasted output can be read later."""
    from importlib.metadata import version

    libs = ", ".join(f"{p} {version(p)}" for p in ("onnxruntime", "opencv-python-headless", "faiss-cpu"))  # fmt: skip
    print(f"Gerbang gate camera loop benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"python {sys.version.split()[0]}, {libs}")
    print(f"{physical_cores()} physical cores ({os.cpu_count()} logical); video {args.passages} passages at {FPS:.0f} fps, 640x480")  # fmt: skip
    print(f"load average (1/5/15 min) at start: {load_text()}\n", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the site and video, run both galleries, print the tables."""
    args = parse_args(argv)
    started = time.perf_counter()
    print_header(args)
    throughput: dict[str, LoopRun] = {}
    camera: dict[str, LoopRun] = {}
    replays: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gerbang-bench-") as scratch:
        site = make_site(args.models, Path(scratch) / "site")
        cast = enrol_cast(site, args.dev)
        video, frames = write_video(Path(scratch) / "gate.avi", args.dev, args.passages)
        print(f"video: {frames} frames ({frames / FPS:.0f} s); enrolled {len(cast.ids)} people\n", flush=True)  # fmt: skip
        galleries = [("real people", None), (f"site ({args.inmates:,} inmates, {args.visitors:,} visitors, {args.inside} inside)", args)]  # fmt: skip
        for name, fill in galleries:
            if fill is not None:
                added = fill_site(site, fill.inmates, fill.visitors, fill.inside, fill.templates)
                print(f"gallery: {added:,} synthetic templates added, {len(site.gallery()):,} in all\n", flush=True)  # fmt: skip
            throughput[name] = run_loop(site, cast, video, pace=False)
            camera[name] = run_loop(site, cast, video, pace=True)
            replays[name] = replay(site, cast, throughput[name].best_frames, args.replay)
        site.close()
    print_runs("1. Throughput: the video as fast as the loop takes it (latencies in ms)", throughput, paced=False)  # fmt: skip
    print_runs(
        f"2. At camera rate: paced at {FPS:.0f} fps, newest frame only (latencies in ms)",
        camera,
        paced=True,
    )
    rows = [[name, len(times), *pct(times)] for name, times in replays.items()]
    print_table(
        "3. Best frame → decision stored (JPEG encode + visitor_exit), ms, replayed",
        ["gallery", "n", "p50", "p95", "p99", "max"], rows,
    )  # fmt: skip
    site_p = pct(replays[galleries[1][0]])
    print(f"Issue: best frame → decision with {args.inmates:,} inmates, {args.inside} visitors inside, "
          f"{args.visitors:,} visitors enrolled: p50 {site_p[0]:.1f} ms, p99 {site_p[2]:.1f} ms")  # fmt: skip
    print(f"load average (1/5/15 min) at end: {load_text()}; run took {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
