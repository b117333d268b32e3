"""The passage loop on a real video file through a real site: a visitor with an open visit
leaves (admitted), the scene empties, then an inmate walks up to the exit (alarm). Exactly two
decisions, whatever the number of frames each person stands in view. Then tailgating: an inmate
beside or behind a visitor, in one real frame, raises the alarm naming the inmate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from console.main import main as gerbang
from edge.gate.camera import PassageLoop
from edge.gate.cli import follow_database
from edge.gate.records import Gate, GateStore
from edge.gate.service import GateDecision
from edge.gate.sources import open_source
from edge.settings import EnrolmentSettings, MatchSettings, Settings
from edge.site import Site
from enrollment.records import Consent, IdentityDraft
from enrollment.service import OfficerDecision, PossibleDuplicate

pytestmark = pytest.mark.model

FPS = 10.0
FRAME_W, FRAME_H = 640, 480
PHOTO_HEIGHT = 380  # head and shoulders filling a gate camera's view (as bench/face_engine.py)
VISITOR, INMATE = "deepface-img8", "deepface-img26"  # as in tests/e2e/test_gate_day.py


def letterboxed(photo: Path, dx: int = 0) -> np.ndarray:
    """A dev photo shrunk onto a grey 640x480 frame, shifted dx px (a person sways)."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    scale = min(PHOTO_HEIGHT / image.shape[0], (FRAME_W - 40) / image.shape[1])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    top, left = (FRAME_H - small.shape[0]) // 2, (FRAME_W - small.shape[1]) // 2 + dx
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def side_by_side(left: Path, right: Path) -> np.ndarray:
    """Two dev photos, each fitted into one half of a grey 640x480 frame: two people at the gate."""
    halves = []
    for photo in (left, right):
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        scale = min(FRAME_H / image.shape[0], (FRAME_W // 2) / image.shape[1])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        half = np.full((FRAME_H, FRAME_W // 2, 3), 128, np.uint8)
        top, offset = (FRAME_H - small.shape[0]) // 2, (FRAME_W // 2 - small.shape[1]) // 2
        half[top : top + small.shape[0], offset : offset + small.shape[1]] = small
        halves.append(half)
    return np.hstack(halves)


def jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def standing(photo: Path, seconds: float) -> list[np.ndarray]:
    """Frames of a person in view: a slight sway, the first two blurred as they step up."""
    frames = [letterboxed(photo, dx) for dx in np.resize([-6, -3, 0, 3, 6, 3, 0, -3], int(seconds * FPS))]  # fmt: skip
    for i in (0, 1):
        frames[i] = cv2.GaussianBlur(frames[i], (0, 0), 3)
    return frames


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """An MJPG .avi (this OpenCV build writes mp4v and MJPG; MJPG keeps every frame whole)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (FRAME_W, FRAME_H))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def enrol(site: Site, photos: list[Path], draft: IdentityDraft) -> str:
    """Capture frames until the session is ready, then commit (another person, if asked)."""
    session = site.enrolment.start_session(draft.role, "desk")
    for photo in photos:
        if site.enrolment.add_frame(session, photo.read_bytes()).ready:
            break
    try:
        return site.enrolment.commit(session, draft, [], "desk").identity_id
    except PossibleDuplicate as exc:
        decisions = [
            OfficerDecision(c["identity_id"], "different_person", "checked")
            for c in exc.details["candidates"]
        ]
        return site.enrolment.commit(session, draft, decisions, "desk").identity_id


@pytest.fixture(scope="module")
def site(
    model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, dict[str, str]]]:
    """A started site with an inmate, a visitor inside on an open visit, and gate 'main'."""
    settings = Settings(
        model_dir=model_dir,
        data_dir=tmp_path_factory.mktemp("camera-site"),
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3),
        # Western dev faces, a handful of people: the pack's FMR points (tests/integration/conftest.py)
        match=MatchSettings(open_set_fallback="fmr-points"),
    )
    site = Site(settings)
    site.start()
    assert site.ready, site.problem
    with site.db.transaction() as tx:
        GateStore(tx).add_gate(Gate("main", "Pintu utama", ("in", "out"), ("visitor", "inmate")))
    inmate = enrol(site, [dev_faces / INMATE / f"{n}.jpg" for n in (1, 2, 3)], IdentityDraft(
        "inmate", "Andi", birth_date=date(1990, 12, 1), sex="M", registration_number="B.I-1/2024"))  # fmt: skip
    visitor = enrol(site, [dev_faces / VISITOR / f"{n}.jpg" for n in (1, 2, 3)], IdentityDraft(
        "visitor", "Sari", birth_date=date(1985, 3, 7), sex="F", nik="3201014703850001",
        consent=Consent("kunjungan", "desk", "2026-01-05T08:00:00+00:00")))  # fmt: skip
    entry = site.gate.visitor_entry(
        "main", (dev_faces / VISITOR / "4.jpg").read_bytes(), "officer", visitor_id=visitor,
        inmate_id=inmate,
    )  # fmt: skip
    assert (entry.event.result, entry.event.reason) == ("admit", "visitor_verified")
    yield site, {"inmate": inmate, "visitor": visitor}
    site.close()


def test_a_video_of_a_visitor_then_an_inmate_leaving_gives_one_admit_and_one_alarm(
    site: tuple[Site, dict[str, str]], dev_faces: Path, tmp_path: Path
) -> None:
    gate_site, people = site
    empty = [np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)] * int(1.0 * FPS)
    frames = standing(dev_faces / VISITOR / "5.jpg", 1.5) + empty
    frames += standing(dev_faces / INMATE / "5.jpg", 1.5)
    video = write_video(tmp_path / "exit.avi", frames)

    decided: list[GateDecision] = []
    loop = PassageLoop.with_engine(
        gate_site.engine(),
        lambda: open_source(str(video), pace=False),
        lambda jpeg: gate_site.gate.visitor_exit("main", jpeg, "camera:main"),
        decided.append,
    )
    loop.start()
    assert loop.join(timeout=300), "the loop did not finish the video"

    outcomes = [(d.event.result, d.event.reason, d.identity.id if d.identity else None) for d in decided]  # fmt: skip
    assert outcomes == [
        ("admit", "visitor_exit_matched", people["visitor"]),
        ("alarm", "inmate_leaving", people["inmate"]),
    ], [d.event.evidence for d in decided]
    stats = loop.stats
    assert (stats.frames_analysed, stats.passages, stats.decisions) == (len(frames), 2, 2)
    # The decided frame was a sharp one: the blurred step-up frames scored lower.
    assert all(d.event.evidence["quality"]["measures"]["sharpness"] > 100 for d in decided)
    with gate_site.db.reading() as tx:
        assert GateStore(tx).open_visit_of(people["visitor"]) is None


def test_gate_run_prints_each_decision_of_a_video_and_ends_with_it(
    site: tuple[Site, dict[str, str]],
    dev_faces: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate_site, _ = site
    video = write_video(tmp_path / "inmate.avi", standing(dev_faces / INMATE / "5.jpg", 1.5))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(gate_site.settings.model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(gate_site.settings.data_dir))
    monkeypatch.setenv("EDGE_MATCH__OPEN_SET_FALLBACK", "fmr-points")  # as the gate_site fixture
    argv = ["gate", "run", "main", "--source", str(video), "--passage", "visitor_exit"]
    assert gerbang([*argv, "--no-pacing"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "inmate_leaving" in line]
    assert len(lines) == 1 and "ALARM" in lines[0] and "Andi" in lines[0]
    assert gerbang(["gate", "run", "nowhere", "--source", str(video), "--passage", "staff_in"]) == 2
    assert "gate_not_found" in capsys.readouterr().err


def test_a_gate_process_picks_up_inmates_enrolled_by_the_service_after_it_started(
    site: tuple[Site, dict[str, str]], dev_faces: Path
) -> None:
    """One enrolled after the gate process loaded its gallery and before its follower's first
    round (the feed's cursor, set before the load, must not hide it), one while it follows."""
    service, _ = site
    gate_process = Site(service.settings)  # `gerbang gate run` is a process of its own
    gate_process.start()
    stop = threading.Event()
    follower = threading.Thread(target=follow_database, args=(gate_process, 0.05, stop))
    try:
        early = enrol(service, [dev_faces / "facerec-paul_allen" / f"{n}.jpg" for n in (1, 2, 4)],
                      IdentityDraft("inmate", "Rudi", birth_date=date(1990, 12, 1), sex="M",
                                    registration_number="B.I-2/2024"))  # fmt: skip
        follower.start()
        _wait_until_known(gate_process, early)
        later = enrol(service, [dev_faces / "facerec-steve_wozniak" / f"{n}.jpg" for n in (1, 2, 3)],
                      IdentityDraft("inmate", "Joko", birth_date=date(1988, 4, 2), sex="M",
                                    registration_number="B.I-3/2024"))  # fmt: skip
        _wait_until_known(gate_process, later)
    finally:
        stop.set()
        if follower.is_alive():
            follower.join()
        gate_process.close()


def _wait_until_known(gate_process: Site, identity_id: str) -> None:
    """Poll the gate process's gallery for the identity; fail after 60 s."""
    deadline = time.monotonic() + 60
    while identity_id not in {meta[0] for meta in gate_process.gallery().snapshot().values()}:
        assert time.monotonic() < deadline, f"the gate process never loaded {identity_id}"
        time.sleep(0.02)


def test_a_frame_with_a_visitor_and_an_inmate_beside_them_raises_the_alarm_naming_the_inmate(
    site: tuple[Site, dict[str, str]], dev_faces: Path
) -> None:
    gate_site, people = site
    # The inmate's face is the smaller one (65 px high against 107): a step further back.
    frame = side_by_side(dev_faces / VISITOR / "5.jpg", dev_faces / INMATE / "5.jpg")
    decision = gate_site.gate.visitor_exit("main", jpeg(frame), "camera:main")
    event = decision.event
    assert (event.result, event.reason) == ("alarm", "inmate_leaving"), event.evidence
    assert decision.identity is not None and decision.identity.id == people["inmate"]
    assert decision.identity.full_name == "Andi"
    search = event.evidence["search:inmate/active"]
    assert search["faces_searched"] == 2 and len(event.evidence["people"]) == 2
    assert [(c["identity_id"], c["face"]) for c in search["candidates"]] == [(people["inmate"], 1)]


def test_an_inmate_stepping_up_behind_a_visitor_at_the_camera_raises_the_alarm(
    site: tuple[Site, dict[str, str]], dev_faces: Path, tmp_path: Path
) -> None:
    """The visitor stands alone at the exit camera (decided), then an inmate steps in beside
    them: a passage of its own, decided on a frame with both, is an alarm naming the inmate."""
    gate_site, people = site
    entry = gate_site.gate.visitor_entry(
        "main",
        (dev_faces / VISITOR / "6.jpg").read_bytes(),
        "officer",
        visitor_id=people["visitor"],
    )
    assert entry.event.reason in ("visitor_verified", "already_inside")  # inside, either way
    visitor, inmate = dev_faces / VISITOR / "4.jpg", dev_faces / INMATE / "6.jpg"
    blank = np.full((FRAME_H, FRAME_W // 2, 3), 128, np.uint8)
    with_inmate = side_by_side(visitor, inmate)
    only_visitor = np.hstack([with_inmate[:, : FRAME_W // 2], blank])
    video = write_video(tmp_path / "tailgate.avi", [only_visitor] * 15 + [with_inmate] * 15)

    decided: list[GateDecision] = []
    loop = PassageLoop.with_engine(
        gate_site.engine(),
        lambda: open_source(str(video), pace=False),
        lambda frame: gate_site.gate.visitor_exit("main", frame, "camera:main"),
        decided.append,
    )
    loop.start()
    assert loop.join(timeout=300), "the loop did not finish the video"
    outcomes = [(d.event.result, d.event.reason, d.identity.id if d.identity else None) for d in decided]  # fmt: skip
    assert outcomes == [
        ("admit", "visitor_exit_matched", people["visitor"]),
        ("alarm", "inmate_leaving", people["inmate"]),
    ], [d.event.evidence for d in decided]
    assert decided[1].event.evidence["search:inmate/active"]["faces_searched"] == 2
