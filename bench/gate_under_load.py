"""The gate's latency while the desk floods the site with face analyses, bounded and unbounded.

Run from the repository root with the models (a few minutes on 2 cores, nice it):
    EDGE_MODEL_DIR=/work/shared/models GERBANG_DEV_FACES=/work/shared/data/faces/dev \
        nice -n 10 python bench/gate_under_load.py --desk-clients 6 --passages 30

One real site service (uvicorn on 127.0.0.1, a random free port, real models, SQLite) per
variant, in this process. A gate terminal sends `--passages` staff passages one after another
(dev photos); meanwhile `--desk-clients` desk clients each send `/v1/faces/analyse` as fast as
they are answered. Variants, in the same run:
- idle: no desk traffic (the floor);
- bounded: the shipped `EDGE_WORK__*` settings (2 slots, desk at most 1, short desk queue);
- unbounded: the peer, slots and queues so large they never bind (the service before issue 13).
Printed: gate latency p50/p95/p99 and max, desk answers (200 and 503) per second, peak RSS.
The machine is shared: the load average is printed with the figures.

Measured 2026-12-07 (2 cores shared with other agents, load average 9.5 before, 19 after), the
command above, pack open-yunet-dlib, 30 passages:

| variant | desk clients | gate p50 ms | p95 | p99 | max | desk 200/s | desk 503/s |
|---|---|---|---|---|---|---|---|
| idle | 0 | 182 | 325 | 429 | 468 | 0.0 | 0.0 |
| bounded | 6 | 306 | 660 | 767 | 809 | 3.7 | 40.5 |
| unbounded | 6 | 1584 | 4289 | 4660 | 4800 | 2.8 | 0.0 |

peak RSS 740 MiB (the process, all three sites). The desk clients here retry at once on a 503;
a real desk page waits Retry-After, so the bounded figure is pessimistic.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from edge.app import create_app
from edge.settings import MatchSettings, Settings
from edge.site import Site
from edge.work import WorkSettings
from enrollment.accounts import AccountStore

PASSWORD = "correct horse battery"
UNBOUNDED = WorkSettings(slots=64, desk_slots=64, gate_waiting=1000, desk_waiting=1000,
                         gate_wait_seconds=120, desk_wait_seconds=300)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_site(folder: Path, work: WorkSettings) -> Iterator[tuple[str, dict[str, str], str]]:
    """A site on loopback; yields its URL, an officer's headers and a gate device key."""
    settings = Settings(model_dir=Path(os.environ["EDGE_MODEL_DIR"]), data_dir=folder,
                        match=MatchSettings(open_set_fallback="fmr-points"), work=work)  # fmt: skip
    site = Site(settings)
    with site.db.transaction() as tx:
        accounts = AccountStore(tx)
        accounts.add_operator("desk", "Desk", "enrolment_officer", PASSWORD)
        accounts.add_operator("admin", "Admin", "site_admin", PASSWORD)
        _, device_key = accounts.add_device("main-terminal", "main")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, site), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            token = lambda name: client.post(  # noqa: E731
                "/v1/auth/login", json={"username": name, "password": PASSWORD}
            ).json()["token"]
            admin = {"Authorization": f"Bearer {token('admin')}"}
            client.post("/v1/gates", headers=admin, json={"id": "main", "name": "Main",
                        "directions": ["in", "out"], "roles": ["staff"]})  # fmt: skip
            yield url, {"Authorization": f"Bearer {token('desk')}"}, device_key
    finally:
        server.should_exit = True
        thread.join(30)


def flood(url: str, officer: dict[str, str], image: bytes, stop: threading.Event,
          answers: dict[int, int]) -> None:  # fmt: skip
    """One desk client sending analyses back to back until stopped."""
    with httpx.Client(base_url=url, timeout=300) as client:
        while not stop.is_set():
            response = client.post("/v1/faces/analyse", headers=officer,
                                   files={"image": ("f.jpg", image, "image/jpeg")})  # fmt: skip
            answers[response.status_code] = answers.get(response.status_code, 0) + 1


def gate_latencies(url: str, device_key: str, images: list[bytes], passages: int) -> list[float]:
    """Milliseconds per staff passage, one after another."""
    times = []
    with httpx.Client(base_url=url, timeout=300) as client:
        for n in range(passages):
            started = time.perf_counter()
            response = client.post(
                "/v1/gates/main/staff",
                headers={"X-Device-Key": device_key},
                files={"image": ("g.jpg", images[n % len(images)], "image/jpeg")},
                data={"direction": "in"},
            )
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text[:200]
    return times


def run(name: str, work: WorkSettings, clients: int, passages: int, images: list[bytes]) -> str:
    with tempfile.TemporaryDirectory() as folder, served_site(Path(folder), work) as served:
        url, officer, device_key = served
        gate_latencies(url, device_key, images, 2)  # warm-up
        stop, answers = threading.Event(), {}
        desks = [threading.Thread(target=flood, args=(url, officer, images[0], stop, answers))
                 for _ in range(clients)]  # fmt: skip
        for desk in desks:
            desk.start()
        time.sleep(1.0 if clients else 0)  # let the flood build up
        started = time.perf_counter()
        times = np.array(gate_latencies(url, device_key, images, passages))
        elapsed = time.perf_counter() - started
        stop.set()
        for desk in desks:
            desk.join(300)
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    ok, busy = answers.get(200, 0) / elapsed, answers.get(503, 0) / elapsed
    return (f"| {name} | {clients} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {times.max():.0f} "
            f"| {ok:.1f} | {busy:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desk-clients", type=int, default=6)
    parser.add_argument("--passages", type=int, default=30)
    args = parser.parse_args()
    faces = Path(os.environ["GERBANG_DEV_FACES"])
    images = [(faces / f"facerec-obama/{n}.jpg").read_bytes() for n in (1, 2, 3)]
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print("| variant | desk clients | gate p50 ms | p95 | p99 | max | desk 200/s | desk 503/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(run("idle", WorkSettings(), 0, args.passages, images), flush=True)
    print(run("bounded", WorkSettings(), args.desk_clients, args.passages, images), flush=True)
    print(run("unbounded", UNBOUNDED, args.desk_clients, args.passages, images), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
