"""A site service killed with SIGKILL in the middle of enrolments restarts consistent: every
identity whole, database and gallery equal, the audit chain intact, nothing half-written."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from edge.settings import Settings
from enrollment.accounts import AccountStore
from enrollment.audit import verify_chain
from enrollment.db import Database

pytestmark = [pytest.mark.model, pytest.mark.slow]

PHOTOS = [
    "deepface-img26/1.jpg",
    "deepface-img26/2.jpg",
    "facerec-obama/1.jpg",
    "facerec-obama/2.jpg",
]
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "console.main", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # model loading on a busy 2-core machine
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the service did not become ready")


def _enrol_forever(
    base: str, dev_faces: Path, first_number: int, stop: threading.Event, saved: threading.Event
) -> None:
    """Enrol inmates one after another (deciding 'different person' on every candidate); set
    `saved` once a commit has been answered 201."""
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post(
            "/v1/auth/login", json={"username": "desk", "password": PASSWORD}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        number = first_number
        while not stop.is_set():
            try:
                session = client.post("/v1/captures", json={"role": "inmate"}).json()["session_id"]
                for relative in random.sample(PHOTOS, 2):
                    files = {"image": (relative, (dev_faces / relative).read_bytes(), "image/jpeg")}
                    client.post(f"/v1/captures/{session}/frames", files=files)
                candidates = client.get(f"/v1/captures/{session}/duplicates").json()["candidates"]
                decisions = [
                    {
                        "candidate_identity_id": c["identity_id"],
                        "decision": "different_person",
                        "reason": "load test",
                    }
                    for c in candidates
                ]
                identity = {
                    "full_name": f"Inmate {number}",
                    "birth_date": "1990-01-01",
                    "sex": "M",
                    "registration_number": f"B.I-{number}/2024",
                }
                committed = client.post(
                    f"/v1/captures/{session}/commit",
                    json={"identity": identity, "decisions": decisions},
                )
                if committed.status_code == 201:
                    saved.set()
                number += 1
            except (httpx.HTTPError, KeyError, ValueError):
                return  # the server died under us: that is the point


def _check_consistent(settings: Settings) -> int:
    db = Database(settings.database_path)
    with db.reading() as tx:
        identities = tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0]
        orphans = tx.execute(
            "SELECT COUNT(*) FROM identities i WHERE NOT EXISTS (SELECT 1 FROM templates t WHERE t.identity_id = i.id)"
        ).fetchone()[0]
        unaudited = tx.execute(
            "SELECT COUNT(*) FROM identities i WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.subject = i.id)"
        ).fetchone()[0]
        unsynced = tx.execute(
            "SELECT COUNT(*) FROM identities i WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity_id = i.id)"
        ).fetchone()[0]
        committed_without_identity = tx.execute(
            "SELECT COUNT(*) FROM capture_sessions s WHERE s.state = 'committed' AND NOT EXISTS"
            " (SELECT 1 FROM audit_events a WHERE a.details LIKE '%' || s.id || '%')"
        ).fetchone()[0]
        assert verify_chain(tx) is None
    db.close()
    assert (orphans, unaudited, unsynced, committed_without_identity) == (0, 0, 0, 0)
    return int(identities)


def test_sigkill_during_enrolments_leaves_nothing_half_written(
    model_dir: Path, dev_faces: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "EDGE_MODEL_DIR": str(model_dir),
        "EDGE_DATA_DIR": str(tmp_path),
        "EDGE_ENROLMENT__MIN_CAPTURES": "2",
    }
    settings = Settings(model_dir=model_dir, data_dir=tmp_path)
    db = Database(settings.database_path)
    with db.transaction() as tx:
        AccountStore(tx).add_operator("desk", "Desk", "enrolment_officer", PASSWORD)
    db.close()
    port, enrolled = _free_port(), 0
    for round_number in range(3):
        server = _start(env, port)
        stop, saved = threading.Event(), threading.Event()
        worker = threading.Thread(
            target=_enrol_forever,
            args=(f"http://127.0.0.1:{port}", dev_faces, 1000 * round_number, stop, saved),
        )
        worker.start()
        # One enrolment saved first (a slow machine may need far longer than the 1.5-3 s this
        # slept), then the kill lands at a random point in the ones after it.
        deadline = time.monotonic() + 120
        while not saved.wait(0.1) and worker.is_alive():
            assert time.monotonic() < deadline, "no enrolment saved in 120 s"
        time.sleep(random.uniform(0.0, 1.5))
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        stop.set()
        worker.join(30)
        now = _check_consistent(settings)
        assert now >= enrolled
        enrolled = now
    assert enrolled > 0, "no enrolment completed before the kills: the test proved nothing"
    server = _start(env, port)  # /ready also checks gallery == database
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=30)
        assert ready.json()["gallery"] >= 2 * enrolled
    finally:
        server.kill()
        server.wait(10)
