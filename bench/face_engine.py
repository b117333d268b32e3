"""Speed, memory and accuracy of the face engine, with its peers measured in the same run.

Run from the repository root (about 5 minutes on 2 cores; `--quick` takes well under one):
    python bench/face_engine.py
    python bench/face_engine.py --packs open-yunet-dlib --repeat 1 --quick

What is measured, for each pack (default: open-yunet-dlib and scrfd-dlib):
1. Per-stage latency p50/p95/p99 of `FaceEngine.analyse_bytes` (decode, detect, quality,
   align, embed, liveness, total) on (a) 640x480 camera frames made in memory from the colour
   dev photos (deepface-*, facerec-*): the photo shrunk to 380 px high, as a head and shoulders
   fill a gate camera's view, on a grey canvas, saved as JPEG; (b) the same photos as they are.
2. Batch throughput of `models.batch.embed_files` over the whole dev set (508 images), with one
   worker and with one worker per physical core, pool start and model loading included.
3. Memory: current RSS after each engine loads, and RSS high-water marks (ru_maxrss) of this
   process and of the batch workers.
4. Peers on the same images: face_recognition (dlib's own HOG + ResNet pipeline, the reference
   implementation of the recogniser both packs use), bytes to template like ours, one pass over
   each set (ours makes --repeat passes); InsightFace's
   FaceAnalysis limited to SCRFD detection against our detect stage; and accuracy (EER, FNMR at
   FMR 1e-3, failure to acquire) of dlib's pipeline and ours on all dev pairs (skipped by --quick).
5. One line per target of the issue: frame to template p50 < 40 ms, at least 3x faster than
   dlib's pipeline, accuracy equal or better.

The machine is shared, so the load average is printed at the start and the end, and every
comparison is made within this one run; each table's title ends with the 1-minute load when
it was printed. Batch runs go first, each in a forked child, so their
memory figures do not include engines this process loads later.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

from edge import wiring
from edge.settings import Settings
from kernel.errors import GerbangError
from models.batch import embed_files
from models.error_rates import eer, fnmr_at, pair_scores, threshold_at_fmr
from models.loader import EngineSpec
from models.obtain import ensure_converted
from models.runtime import physical_cores

REPO = Path(__file__).resolve().parent.parent
PACKS = ("open-yunet-dlib", "scrfd-dlib")
STAGES = ("decode", "detect", "quality", "align", "embed", "liveness", "total", "to_template")
COLOUR_PREFIXES = ("deepface-", "facerec-")
FRAME_W, FRAME_H = 640, 480
PHOTO_HEIGHT = 380  # head and shoulders at arm's length: the face ends up 130-250 px high
JPEG_QUALITY = 90  # what IP cameras and browsers send by default
WARMUP = 3  # first runs pay for arena allocation and kernel selection
TARGET_FMR = 1e-3
FRAME_TARGET_MS = 40.0
SPEEDUP_TARGET = 3.0


@dataclass
class Timings:
    """Millisecond samples per stage of one pipeline on one image set."""

    ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    failed: int = 0
    face_heights: list[float] = field(default_factory=list)

    def add(self, stage_ms: dict[str, float]) -> None:
        """Record one successful image; `to_template` leaves liveness out."""
        for stage, value in stage_ms.items():
            self.ms[stage].append(value)
        if "liveness" in stage_ms:
            self.ms["to_template"].append(stage_ms["total"] - stage_ms["liveness"])

    def pct(self, stage: str) -> list[float] | None:
        """p50, p95, p99 of a stage, or None when it never ran."""
        values = self.ms[stage]
        return list(np.percentile(values, [50, 95, 99])) if values else None

    def p50(self, stage: str = "total") -> float:
        """Median of a stage (NaN when it never ran)."""
        return float(np.median(self.ms[stage])) if self.ms[stage] else float("nan")


@dataclass(frozen=True)
class Accuracy:
    """Verification accuracy on all pairs of the images that gave a template."""

    fta: int
    n_images: int
    n_genuine: int
    n_impostor: int
    eer: float
    fnmr: float


# ------------------------------------------------------------------ measuring tools


def elapsed_ms(start: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return (time.perf_counter() - start) * 1000


def rss_mb() -> float:
    """Current resident set size of this process."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """RSS high-water mark (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def load_text() -> str:
    """The 1/5/15-minute load averages, to judge how noisy the shared machine was."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _child_main(sender: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        value: Any = fn(*args)
    except Exception as exc:  # handed to the parent, which re-raises it
        value = exc
    sender.send((value, peak_mb(), peak_mb(resource.RUSAGE_CHILDREN)))


def in_child(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """fn(*args) in a forked process: (result, its peak RSS MB, its largest child's peak MB).

    A fresh process per run keeps each run's high-water mark apart; the pool it starts is
    not daemonic-restricted because this is a plain Process, not a Pool worker.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(sender, fn, args))
    process.start()
    sender.close()
    value, self_peak, children_peak = receiver.recv()
    process.join()
    if isinstance(value, Exception):
        raise value
    return value, self_peak, children_peak


# ------------------------------------------------------------------ images


def dev_rows(dev: Path) -> list[tuple[Path, str]]:
    """(path, identity) for every dev image, in labels.csv order."""
    with (dev / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return [(dev / r["relative_path"], r["identity"]) for r in csv.DictReader(handle)]


def camera_frame(photo: np.ndarray) -> bytes:
    """A 640x480 JPEG with the photo, shrunk to gate size, in the middle of a grey wall."""
    height, width = photo.shape[:2]
    scale = min(PHOTO_HEIGHT / height, (FRAME_W - 20) / width)
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    top, left = (FRAME_H - small.shape[0]) // 2, (FRAME_W - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return encoded.tobytes()


def image_sets(photos: Sequence[Path]) -> dict[str, list[bytes]]:
    """The JPEG bytes of both latency sets: camera frames and the portraits as they are."""
    portraits = [p.read_bytes() for p in photos]
    frames = [
        camera_frame(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)) for b in portraits
    ]
    return {"frames": frames, "portraits": portraits}


def rgb_of(data: bytes) -> np.ndarray:
    """Decode as face_recognition.load_image_file does (PIL, RGB)."""
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


# ------------------------------------------------------------------ our engine


def make_spec(models: Path, data_dir: Path, pack: str, threads: int) -> EngineSpec:
    """The pack's spec with `threads` onnxruntime threads, converted models in data_dir."""
    settings = Settings(model_dir=models, data_dir=data_dir, threads=threads)
    return wiring.engine_spec(settings, pack)


def time_engine(analyse: Callable[[bytes], Any], jpegs: Sequence[bytes], repeat: int) -> Timings:
    """Per-stage times of analyse_bytes over every image, `repeat` times, after a warm-up."""
    for data in jpegs[:WARMUP]:
        with contextlib.suppress(GerbangError):
            analyse(data)
    timings = Timings()
    for data in list(jpegs) * repeat:
        start = time.perf_counter()
        try:
            result = analyse(data)
        except GerbangError:
            timings.failed += 1
            continue
        timings.add({**result.timings_ms, "total": elapsed_ms(start)})
        timings.face_heights.append(result.face.box[3] - result.face.box[1])
    return timings


def batch_run(spec: EngineSpec, paths: Sequence[str], workers: int) -> tuple[float, np.ndarray]:
    """Seconds taken by embed_files, and the templates (NaN rows where none was made)."""
    start = time.perf_counter()
    results = embed_files(spec, paths, workers, progress=False)
    seconds = time.perf_counter() - start
    templates = np.full((len(results), 128), np.nan, np.float64)
    for row, result in enumerate(results):
        if result.template is not None:
            templates[row] = result.template
    return seconds, templates


# ------------------------------------------------------------------ peers


class DlibPipeline:
    """face_recognition's own pipeline: HOG (upsample 1), 5-point landmarks, dlib ResNet."""

    def __init__(self) -> None:
        import face_recognition  # heavy: loads dlib's models

        self.fr = face_recognition

    def template(self, rgb: np.ndarray) -> np.ndarray | None:
        """Unit-length descriptor of the largest face (as ours takes the largest), or None."""
        boxes = self.fr.face_locations(rgb, model="hog")
        if not boxes:
            return None
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        vector = np.asarray(self.fr.face_encodings(rgb, [largest])[0], np.float64)
        return vector / np.linalg.norm(vector)


def time_dlib(dlib: DlibPipeline, jpegs: Sequence[bytes]) -> Timings:
    """Bytes to template per image, decode included as in analyse_bytes.

    One pass only: at several times our cost, a second pass would add most of a minute.
    """
    dlib.template(rgb_of(jpegs[0]))
    timings = Timings()
    for data in jpegs:
        start = time.perf_counter()
        if dlib.template(rgb_of(data)) is None:
            timings.failed += 1
        else:
            timings.add({"total": elapsed_ms(start)})
    return timings


def insightface_detector(models: Path, threads: int, scratch: Path) -> Any:
    """InsightFace's FaceAnalysis with only SCRFD-500M, on the same thread count as ours."""
    from insightface.app import FaceAnalysis

    pack_dir = scratch / "models" / "bench_sc"
    pack_dir.mkdir(parents=True)
    (pack_dir / "det_500m.onnx").symlink_to((models / "buffalo_sc" / "det_500m.onnx").resolve())
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    app = FaceAnalysis(
        name="bench_sc",
        root=str(scratch),
        allowed_modules=["detection"],
        providers=["CPUExecutionProvider"],
        sess_options=options,
    )
    app.prepare(ctx_id=-1, det_size=(640, 640))
    return app


def time_insightface(app: Any, jpegs: Sequence[bytes], repeat: int) -> Timings:
    """FaceAnalysis.get on decoded images (our detect stage excludes decoding too)."""
    images = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in jpegs]
    app.get(images[0])
    timings = Timings()
    for image in images * repeat:
        start = time.perf_counter()
        faces = app.get(image)
        timings.add({"total": elapsed_ms(start)})
        timings.failed += not faces
    return timings


def dlib_templates(dlib: DlibPipeline, paths: Sequence[Path]) -> np.ndarray:
    """dlib's template for every path (NaN rows where no face was found)."""
    templates = np.full((len(paths), 128), np.nan, np.float64)
    for row, path in enumerate(paths):
        template = dlib.template(rgb_of(path.read_bytes()))
        if template is not None:
            templates[row] = template
    return templates


def accuracy(templates: np.ndarray, labels: Sequence[str]) -> Accuracy:
    """EER and FNMR at FMR 1e-3 over all pairs of the rows that hold a template."""
    genuine, impostor = pair_scores(templates, labels)
    threshold = threshold_at_fmr(impostor, TARGET_FMR)
    fta = int(np.isnan(templates).any(axis=1).sum())
    rate, _ = eer(genuine, impostor)
    return Accuracy(
        fta, len(labels), genuine.size, impostor.size, rate, fnmr_at(threshold, genuine)
    )


# ------------------------------------------------------------------ printing


def fmt(value: object) -> str:
    """A table cell: one decimal for floats, a dash for missing values."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(header)] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    print(f"{title} [1-min load {os.getloadavg()[0]:.2f}]")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    print("\n".join(line(row) for row in cells[1:]), end="\n\n", flush=True)


def print_stages(pack: str, frames: Timings, portraits: Timings) -> None:
    """One pack's per-stage percentiles on both image sets."""
    header = ["stage", *(f"{s} {q}" for s in ("frame", "portrait") for q in ("p50", "p95", "p99"))]
    rows = [
        [stage, *(frames.pct(stage) or [None] * 3), *(portraits.pct(stage) or [None] * 3)]
        for stage in STAGES
    ]
    counts = ", ".join(
        f"{name}: {len(t.ms['total'])} runs, {t.failed} without a face"
        for name, t in (("frames", frames), ("portraits", portraits))
    )
    heights = (
        f"face height in frames p50 {np.median(frames.face_heights):.0f} px"
        if frames.face_heights
        else ""
    )
    title = f"Per-stage latency, ms: {pack} (analyse_bytes; {counts}; {heights})"
    print_table(title + "\n(to_template = total without liveness)", header, rows)


def ratio(peer: float, ours: float) -> float:
    """How many times faster ours is (peer time over our time)."""
    return peer / ours if ours > 0 else float("nan")


def verdict(passed: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if passed else "FAIL"


# ------------------------------------------------------------------ the run


@dataclass
class Run:
    """Everything measured, for the tables and the summary."""

    ours: dict[tuple[str, str], Timings] = field(default_factory=dict)
    dlib: dict[str, Timings] = field(default_factory=dict)
    insightface: dict[str, Timings] = field(default_factory=dict)
    templates: dict[str, np.ndarray] = field(default_factory=dict)
    accuracy: dict[str, Accuracy] = field(default_factory=dict)
    memory: list[tuple[str, float | None, float | None]] = field(default_factory=list)


def run_batches(run: Run, specs: dict[str, EngineSpec], paths: Sequence[Path]) -> None:
    """Throughput of embed_files per pack with 1 worker and one per core, each in a fresh child."""
    inherited, rows = rss_mb(), []
    for pack, spec in specs.items():
        for workers in sorted({1, physical_cores()}):
            result, own_peak, workers_peak = in_child(
                batch_run, spec, [str(p) for p in paths], workers
            )
            seconds, run.templates[pack] = result
            missing = int(np.isnan(run.templates[pack]).any(axis=1).sum())
            peak = own_peak if workers == 1 else workers_peak  # one worker runs in the child itself
            rows.append([pack, workers, seconds, len(paths) / seconds, missing, peak])
    header = ["pack", "workers", "seconds", "images/s", "no template", "peak RSS MB"]
    title = (
        f"Batch embedding of {len(paths)} dev images (embed_files, pool start and model loading"
        f" included; peak RSS of the process doing the work, {inherited:.0f} MB of it inherited"
        " from this process at fork)"
    )
    print_table(title, header, rows)


def measure_pack(
    run: Run, pack: str, spec: EngineSpec, sets: dict[str, list[bytes]], repeat: int
) -> None:
    """Load one pack, time it on both image sets, note its memory, print its stage table."""
    before = rss_mb()
    engine = spec.build()
    loaded = rss_mb()
    for name, jpegs in sets.items():
        run.ours[pack, name] = time_engine(engine.analyse_bytes, jpegs, repeat)
    run.memory.append(
        (
            f"{pack}: engine loaded (+{loaded - before:.0f} MB); peak after its runs",
            loaded,
            peak_mb(),
        )
    )
    print_stages(pack, run.ours[pack, "frames"], run.ours[pack, "portraits"])


def run_peers(
    run: Run, args: argparse.Namespace, sets: dict[str, list[bytes]], scratch: Path
) -> DlibPipeline:
    """dlib's pipeline and InsightFace's SCRFD path on the same images, after ours."""
    dlib = DlibPipeline()
    run.dlib = {name: time_dlib(dlib, jpegs) for name, jpegs in sets.items()}
    if "scrfd-dlib" in args.packs:
        app = insightface_detector(args.models, args.threads, scratch)
        run.insightface = {
            name: time_insightface(app, jpegs, args.repeat) for name, jpegs in sets.items()
        }
    run.memory.append(
        (
            "after peers (face_recognition, InsightFace detection) loaded and run",
            rss_mb(),
            peak_mb(),
        )
    )
    return dlib


def print_dlib_peer(run: Run, packs: Sequence[str]) -> None:
    """dlib's per-image times beside ours, and how many times faster ours is."""
    header = ["images", "dlib p50", "p95", "p99", "no face"]
    header += [h for pack in packs for h in (f"{pack} p50", "x faster")]
    rows = []
    for name, peer in run.dlib.items():
        ours = [run.ours[pack, name].p50() for pack in packs]
        row: list[object] = [name, *(peer.pct("total") or [None] * 3), peer.failed]
        rows.append(row + [v for o in ours for v in (o, f"{ratio(peer.p50(), o):.1f}x")])
    title = (
        "Peer: face_recognition (dlib HOG + 5 points + ResNet), bytes to template, ms per image,"
        " one pass; ours: analyse_bytes total, liveness included"
    )
    print_table(title, header, rows)


def print_insightface_peer(run: Run) -> None:
    """InsightFace's FaceAnalysis (detection only) beside our SCRFD detect stage."""
    if not run.insightface:
        return
    header = [
        "images",
        "insightface p50",
        "p95",
        "p99",
        "ours detect p50",
        "p95",
        "p99",
        "ours x faster",
    ]
    rows = []
    for name, peer in run.insightface.items():
        ours = run.ours["scrfd-dlib", name]
        ours_ratio = f"{ratio(peer.p50(), ours.p50('detect')):.2f}x"
        rows.append(
            [
                name,
                *(peer.pct("total") or [None] * 3),
                *(ours.pct("detect") or [None] * 3),
                ours_ratio,
            ]
        )
    title = "Peer: InsightFace FaceAnalysis(allowed_modules=['detection'], det_size 640) vs scrfd-dlib detect stage, ms"
    print_table(title, header, rows)


def accuracy_row(name: str, result: Accuracy) -> list[object]:
    """One row of the accuracy table."""
    counts = [result.n_images, result.fta, result.n_genuine, result.n_impostor]
    return [name, *counts, f"{result.eer:.2%}", f"{result.fnmr:.2%}"]


def run_accuracy(
    run: Run, dlib: DlibPipeline, paths: Sequence[Path], labels: Sequence[str]
) -> None:
    """dlib's pipeline and ours on all dev pairs; also on the images both acquired."""
    theirs = dlib_templates(dlib, paths)
    run.accuracy["dlib"] = accuracy(theirs, labels)
    rows = [accuracy_row("dlib face_recognition (HOG)", run.accuracy["dlib"])]
    for pack, ours in run.templates.items():
        run.accuracy[pack] = accuracy(ours, labels)
        rows.append(accuracy_row(pack, run.accuracy[pack]))
        either_failed = np.isnan(ours).any(axis=1) | np.isnan(theirs).any(axis=1)
        for name, matrix in ((pack, ours), ("dlib", theirs)):
            common = np.where(either_failed[:, None], np.nan, matrix)
            rows.append(accuracy_row(f"  {name}, images both acquired", accuracy(common, labels)))
    header = ["recogniser", "images", "no template", "genuine", "impostor", "EER", "FNMR@1e-3"]
    print_table("Accuracy on all dev pairs (cosine; dlib descriptors L2-normalised)", header, rows)


def print_memory(run: Run) -> None:
    """Current RSS and high-water marks of this process at each step, in MB."""
    print_table(
        "Memory of this process (MB; peak = ru_maxrss so far)", ["when", "RSS", "peak"], run.memory
    )


def print_summary(run: Run, packs: Sequence[str]) -> None:
    """One line per target of the issue and pack; ours is judged with liveness included."""
    print("Targets")
    for pack in packs:
        frames = run.ours[pack, "frames"]
        total, template = frames.p50(), frames.p50("to_template")
        print(
            f"[{pack}] frame to template p50 < {FRAME_TARGET_MS:.0f} ms: {verdict(total < FRAME_TARGET_MS)}"
            f" ({total:.1f} ms with liveness; {template:.1f} ms without)"
        )
        speedup = ratio(run.dlib["frames"].p50(), total)
        portraits = ratio(run.dlib["portraits"].p50(), run.ours[pack, "portraits"].p50())
        print(
            f"[{pack}] at least {SPEEDUP_TARGET:.0f}x faster than dlib's pipeline for the same"
            f" recogniser: {verdict(speedup >= SPEEDUP_TARGET)} ({speedup:.1f}x on frames,"
            f" {ratio(run.dlib['frames'].p50(), template):.1f}x without liveness; {portraits:.1f}x on portraits)"
        )
        print(f"[{pack}] accuracy equal or better: {accuracy_verdict(run, pack)}")
    print()


def accuracy_verdict(run: Run, pack: str) -> str:
    """Ours FNMR at FMR 1e-3 against dlib's, with failures to acquire beside it."""
    if pack not in run.accuracy:
        return "not measured (--quick)"
    ours, dlib = run.accuracy[pack], run.accuracy["dlib"]
    return (
        f"{verdict(ours.fnmr <= dlib.fnmr)} (ours FNMR@1e-3 {ours.fnmr:.2%}, EER {ours.eer:.2%},"
        f" {ours.fta} without template; dlib {dlib.fnmr:.2%}, EER {dlib.eer:.2%}, {dlib.fta} without)"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; paths default to the shared folders next to the repository."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", type=Path, default=REPO.parent / "shared" / "models", metavar="DIR"
    )
    parser.add_argument(
        "--dev", type=Path, default=REPO.parent / "shared" / "data" / "faces" / "dev", metavar="DIR"
    )
    parser.add_argument("--packs", nargs="+", default=list(PACKS), metavar="PACK")
    parser.add_argument(
        "--repeat", type=int, default=2, metavar="N", help="passes over each latency set"
    )
    parser.add_argument(
        "--threads", type=int, default=physical_cores(), metavar="N", help="onnxruntime threads"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a quarter of the photos, 64 batch images, no accuracy"
    )
    return parser.parse_args(argv)


def print_header(args: argparse.Namespace) -> None:
    """What ran where, so a pasted output can be read later."""
    from importlib.metadata import version

    libs = ", ".join(
        f"{p} {version(p)}" for p in ("onnxruntime", "opencv-python", "dlib-bin", "insightface")
    )
    print(f"Gerbang face engine benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"python {sys.version.split()[0]}, {libs}")
    print(
        f"{physical_cores()} physical cores, onnxruntime threads {args.threads}, repeat {args.repeat}, quick {args.quick}"
    )
    print(f"load average (1/5/15 min) at start: {load_text()}\n", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure everything, print the tables, then the verdicts."""
    args = parse_args(argv)
    started = time.perf_counter()
    print_header(args)
    rows = dev_rows(args.dev)
    photos = [path for path, identity in rows if identity.startswith(COLOUR_PREFIXES)]
    if args.quick:
        photos, rows = photos[::4], rows[::8]
    run = Run()
    with tempfile.TemporaryDirectory(prefix="gerbang-bench-") as scratch:
        specs = {
            pack: make_spec(args.models, Path(scratch), pack, args.threads) for pack in args.packs
        }
        for spec in specs.values():  # in a child: the converter's memory is not the engine's
            in_child(ensure_converted, spec.store, spec.pack)
        run.memory.append(("after imports", rss_mb(), peak_mb()))
        run_batches(run, specs, [path for path, _ in rows])
        sets = image_sets(photos)
        for pack, spec in specs.items():
            measure_pack(run, pack, spec, sets, args.repeat)
        dlib = run_peers(run, args, sets, Path(scratch))
        print_dlib_peer(run, args.packs)
        print_insightface_peer(run)
        if not args.quick:
            run_accuracy(run, dlib, [path for path, _ in rows], [label for _, label in rows])
    print_memory(run)
    print_summary(run, args.packs)
    print(
        f"load average (1/5/15 min) at end: {load_text()}; run took {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
