"""`gerbang gate run`: a gate camera deciding passages on this machine until Ctrl-C (`gate add` and
`gate list`, which configure the gates, are in setup_commands.py).

    gerbang gate run main --source 0 --passage visitor_exit
    gerbang gate run staff-door --source rtsp://10.0.0.7/stream1 --passage staff_in

Each decision is stored by the gate service like one made through the API (kiosks follow them
with GET /v1/gates/{id}/events) and printed here: time, result, reason, name.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from edge.gate import setup_commands
from edge.gate.camera import PassageLoop, PassageSettings
from edge.gate.service import GateDecision, GateService
from edge.gate.sources import CameraUnavailable, open_source, source_kind
from edge.gate.unit_of_work import gate_reading
from edge.settings import Settings
from edge.site import Site

PASSAGES = ("visitor_exit", "staff_in", "staff_out")
log = logging.getLogger(__name__)


def decider(gate: GateService, gate_id: str, passage: str, actor: str) -> Callable[[bytes], GateDecision]:  # fmt: skip
    """The gate-service call for one kind of passage, on a JPEG frame."""
    if passage == "visitor_exit":
        return lambda jpeg: gate.visitor_exit(gate_id, jpeg, actor)
    direction = "in" if passage == "staff_in" else "out"
    return lambda jpeg: gate.staff_passage(gate_id, jpeg, actor, direction)


def decision_line(decision: GateDecision) -> str:
    """Time, result, reason, name and what the kiosk says (Indonesian first)."""
    event, who = decision.event, decision.identity
    name = who.full_name if who is not None else "-"
    at = datetime.fromisoformat(event.at).astimezone().strftime("%Y-%m-%d %H:%M:%S")  # local
    return f"{at}  {event.result.upper():<5}  {event.reason:<22}  {name}  | {decision.message.id}"


def follow_database(site: Site, every_s: float, stop: threading.Event) -> None:
    """Keep this process's gallery equal to the database until `stop` is set.

    This command is its own process, with its own in-memory gallery: without this, a person
    enrolled (or an inmate released, a visitor banned) through the service after it started
    would be unknown here, and an inmate enrolled this morning could walk out without an alarm.
    Each round applies the gallery feed (site_sync/follow.py), which `Site.start` positioned
    before it loaded the gallery, so a write landing during the load is applied, not missed.
    """
    while not stop.wait(every_s):
        try:
            if site.pack_changed():
                # A re-embed switched the site's pack. This process has no enrolment desk, so
                # it follows at once rather than wait for a restart: new engine, new gallery.
                log.warning("the site's model pack changed: reloading the engine and gallery")
                site.start()
            elif changed := site.gallery_feed.follow():
                log.info("database changed: %d people changed in the gallery", changed)
        except Exception:  # the next round tries again; the gate keeps deciding meanwhile
            log.exception("could not refresh the gallery")


@contextmanager
def following_database(site: Site, every_s: float) -> Iterator[None]:
    """Run follow_database on a background thread for the duration of the block."""
    stop = threading.Event()
    follower = threading.Thread(target=follow_database, args=(site, every_s, stop), daemon=True)
    follower.start()
    try:
        yield
    finally:
        stop.set()
        follower.join()


def _check_source(spec: str) -> None:
    """A file or folder that is not there will not appear: fail now instead of retrying."""
    if source_kind(spec) in ("file", "folder") and not Path(spec).exists():
        raise CameraUnavailable(source=spec, reason="no such file or folder")


def build_loop(site: Site, args: argparse.Namespace) -> PassageLoop[GateDecision]:
    """The loop for the gate and passage asked for, printing each decision."""
    engine = site.engine()  # raises the ModelNotReady that says what to fix
    with gate_reading(site.db, site.vault) as uow:
        uow.gates.gate(args.gate_id)  # unknown gate: GateNotFound, before any camera work
    actor = args.actor or f"camera:{args.gate_id}"
    return PassageLoop.with_engine(
        engine,
        lambda: open_source(args.source, args.fps, pace=not args.no_pacing),
        decider(site.gate, args.gate_id, args.passage, actor),
        lambda decision: print(decision_line(decision), flush=True),
        PassageSettings(window_seconds=args.window_seconds, window_frames=args.window_frames),
    )


def run(args: argparse.Namespace) -> int:
    """Start the site's engine, then run the passage loop until Ctrl-C or the source ends."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _check_source(args.source)
    site = Site(Settings())
    try:
        site.load()
        loop = build_loop(site, args)
        print(f"gate {args.gate_id}: {args.passage} from {args.source}; Ctrl-C to stop", flush=True)
        with following_database(site, args.refresh_seconds):
            _run_until_interrupted(loop)
        print(loop.stats.summary())
        return 0
    finally:
        site.close()


def _run_until_interrupted(loop: PassageLoop[GateDecision]) -> None:
    """Wait on the loop in short steps so Ctrl-C reaches this thread, then stop it cleanly."""
    loop.start()
    try:
        while not loop.join(timeout=0.5):
            pass
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        loop.stop()


def _positive(text: str) -> float:
    """An argparse type: a number above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above zero, got {text}")
    return value


def _count(text: str) -> int:
    """An argparse type: a whole number of at least one."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `gate run`, `gate add` and `gate list` to the main parser."""
    gate = sub.add_parser("gate", help="gates: configure them, run a gate camera").add_subparsers(
        dest="action", required=True
    )
    setup_commands.add_parsers(gate)
    run_parser = gate.add_parser("run", help="decide passages from a camera until Ctrl-C")
    run_parser.add_argument("gate_id", metavar="GATE_ID", help="a gate configured at this site")
    run_parser.add_argument(
        "--source",
        required=True,
        help="V4L2 device index (0), rtsp:// or http:// URL, video file, or folder of images",
    )
    run_parser.add_argument("--passage", required=True, choices=PASSAGES)
    run_parser.add_argument(
        "--window-seconds", type=_positive, default=1.0, help="time to pick the best frame (1.0)"
    )
    run_parser.add_argument(
        "--window-frames", type=_count, default=8, help="or this many frames of the face (8)"
    )
    run_parser.add_argument(
        "--fps", type=_positive, default=10.0, help="frame rate of a folder (10)"
    )
    run_parser.add_argument(
        "--no-pacing",
        action="store_true",
        help="read files and folders as fast as possible instead of at their frame rate",
    )
    run_parser.add_argument(
        "--refresh-seconds",
        type=_positive,
        default=2.0,
        help="how often to apply enrolments and status changes made elsewhere (2)",
    )
    run_parser.add_argument("--actor", help="recorded as the decider (default: camera:GATE_ID)")
    run_parser.set_defaults(handler=run)
