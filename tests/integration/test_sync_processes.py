"""A real registry and two real site services as separate processes over loopback HTTP.

`gerbang registry serve` on a fresh PostgreSQL database and two `gerbang serve` processes, each
with its own data dir, a key from `gerbang sync keygen` registered with `gerbang registry sites
add`, and its site agent running inside the service (EDGE_SYNC__REGISTRY_URL). Enrolments go
through the sites' HTTP APIs with real photos; officers act through the registry's HTTP API.

Backlogs (the registry killed mid-push, a week offline) are made by the site's own outbox writer
(`gallery_sync.outbox.append_change`), thousands of `gate.event` rows in one transaction on the
live site database: cheap to make, and pushed exactly like the rows a gate writes.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from enrollment.accounts import AccountStore
from enrollment.db import Database
from gallery_sync.outbox import append_change
from registry.db import open_database
from registry.errors import RegistryStorageError
from registry.settings import RegistrySettings
from tests.integration.test_registry import ADMIN_URL, PASSWORD, database_url  # noqa: F401

pytestmark = [pytest.mark.model, pytest.mark.slow]

PERSON = "deepface-img26"  # eight photos, all of enrolment quality
REGION_A, REGION_B = "KW-JABAR", "KW-JATIM"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    """Poll until check() returns something truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if value := check():
                return value
        except (httpx.HTTPError, psycopg.OperationalError, RegistryStorageError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def _gerbang(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> str:
    """Run one `gerbang` command to completion; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        check=False, env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, f"gerbang {' '.join(args)}: {done.stderr}"
    return done.stdout


def _spawn(
    env: dict[str, str], args: list[str], ready_url: str, log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a long-running `gerbang` process and wait until ready_url answers 200."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "console.main", *args], env=env, stdout=out, stderr=out, cwd=cwd
        )
    try:
        _wait_for(lambda: httpx.get(ready_url, timeout=2).status_code == 200, ready_url, 90)
    except AssertionError as exc:
        process.kill()
        raise AssertionError(f"{args} did not start; {log}:\n{log.read_text()[-3000:]}") from exc
    return process


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    process.send_signal(sig)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@dataclass
class RegistryProcess:
    """`gerbang registry serve` on its own port and database (REGISTRY_DATABASE_URL, or the
    embedded default: an SQLite file under `cwd`)."""

    env: dict[str, str]
    port: int
    log: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["registry", "serve", "--port", str(self.port)]
        self.process = _spawn(self.env, args, f"{self.url}/v1/health", self.log, self.cwd)

    def kill(self) -> None:
        """SIGKILL: no shutdown, a transaction in flight is simply lost."""
        assert self.process is not None
        _stop(self.process, signal.SIGKILL)

    def account(self, username: str, role: str, region: str | None = None) -> None:
        args = ["registry", "accounts", "add", username, "--role", role, "--password-stdin"]
        region_args = ["--region", region] if region else []
        _gerbang(self.env, *args, *region_args, stdin=PASSWORD + "\n", cwd=self.cwd)
        self.tokens[username] = _bearer(self.url, username)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows as tuples, read through the registry's database seam, whichever backend it is
        (rows are dicts there: give every selected column its own name)."""
        url = self.env.get("REGISTRY_DATABASE_URL") or RegistrySettings().database_url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = f"sqlite:///{(self.cwd or Path.cwd()) / url.removeprefix('sqlite:///')}"
        with open_database(url).transaction() as tx:
            return [tuple(row.values()) for row in tx.execute(sql, params).fetchall()]

    def get(self, path: str, user: str) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.tokens[user], timeout=30)

    def post(self, path: str, user: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.tokens[user], timeout=30)


@dataclass
class SiteProcess:
    """`gerbang serve` for one site, with its agent syncing to the registry."""

    site_id: str
    env: dict[str, str]
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["serve", "--port", str(self.port)]
        self.process = _spawn(self.env, args, f"{self.url}/ready", self.data_dir / "serve.log")
        self.headers = _bearer(self.url, "desk")

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(self.url + path, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def photo(self, identity_id: str) -> bytes:
        """The photo of record as the site keeps it."""
        response = httpx.get(f"{self.url}/v1/identities/{identity_id}/photo", headers=self.headers, timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return response.content

    def enrol(
        self, name: str, number: int, photos: list[Path], national: list[str] | None = None
    ) -> str:
        """An inmate enrolled through the capture API; returns the new identity id.

        `national`: the people the registry must show as national candidates first (the desk
        then answers 'same person' for each and saves).
        """
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as client:
            session = client.post("/v1/captures", json={"role": "inmate"}).json()["session_id"]
            for photo in photos:
                files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
                added = client.post(f"/v1/captures/{session}/frames", files=files)
                assert added.status_code == 200 and added.json()["accepted"], added.text
            identity = {"full_name": name, "birth_date": "1961-08-04", "sex": "M",
                        "registration_number": f"B.I-{number}/2025"}  # fmt: skip
            body: dict[str, Any] = {"identity": identity}
            if national:
                shown = client.post(f"/v1/captures/{session}/commit", json=body)
                assert shown.status_code == 409, shown.text
                found = shown.json()["error"]["details"]["national_candidates"]
                assert [c["identity_id"] for c in found] == national
                body["decisions"] = [{"candidate_identity_id": n, "decision": "same_person",
                                      "reason": "shown by the national search"} for n in national]  # fmt: skip
            done = client.post(f"/v1/captures/{session}/commit", json=body)
            assert done.status_code == 201, done.text
            assert done.json()["national_search"]["status"] == "searched"
            return str(done.json()["identity_id"])

    def identify(self, photo: Path) -> list[dict[str, Any]]:
        files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
        response = httpx.post(f"{self.url}/v1/identify", files=files, headers=self.headers, timeout=60)  # fmt: skip
        assert response.status_code == 200, response.text
        return list(response.json()["candidates"])

    def queue_changes(self, count: int, tag: str) -> int:
        """`count` gate events written by the outbox writer in one transaction; the last seq."""
        db = Database(self.data_dir / "gerbang.db")
        try:
            with db.transaction() as tx:
                for number in range(count):
                    payload = {"event_id": number, "result": "admit", "passage": "visitor_entry"}
                    last = append_change(tx, "gate.event", f"{tag}-{number}", payload)
        finally:
            db.close()
        return last

    def sync_status(self) -> dict[str, Any]:
        """`gerbang sync status` on the live site database."""
        return dict(json.loads(_gerbang(self.env, "sync", "status", "--json")))


def _bearer(base_url: str, username: str) -> dict[str, str]:
    login = httpx.post(f"{base_url}/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=30)  # fmt: skip
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def _new_site(site_id: str, region: str, registry: RegistryProcess, root: Path, model_dir: Path) -> SiteProcess:  # fmt: skip
    """Data dir, key (keygen), registration (sites add), an officer account; not yet started."""
    data_dir = root / site_id
    env = {**os.environ, "EDGE_MODEL_DIR": str(model_dir), "EDGE_DATA_DIR": str(data_dir),
           "EDGE_SITE_ID": site_id, "EDGE_LIVENESS": "false", "EDGE_ENROLMENT__MIN_CAPTURES": "2",
           "EDGE_SYNC__REGISTRY_URL": registry.url, "EDGE_SYNC__POLL_SECONDS": "0.3",
           "EDGE_SYNC__BATCH_SIZE": "25", "EDGE_SYNC__MAX_BACKOFF_SECONDS": "1",
           # Western dev faces, two people: the pack's FMR points, not the strict shipped fallback
           "EDGE_MATCH__OPEN_SET_FALLBACK": "fmr-points"}  # fmt: skip
    public_key = _gerbang(env, "sync", "keygen").strip().splitlines()[-1]
    _gerbang(registry.env, "registry", "sites", "add", site_id, "--name", f"Lapas {site_id}",
             "--region", region, "--public-key", public_key, cwd=registry.cwd)  # fmt: skip
    db = Database(data_dir / "gerbang.db")
    with db.transaction() as tx:
        AccountStore(tx).add_operator("desk", "Desk", "supervisor", PASSWORD)
    db.close()
    return SiteProcess(site_id, env, _free_port(), data_dir)


@dataclass
class World:
    registry: RegistryProcess
    a: SiteProcess
    b: SiteProcess


@pytest.fixture(scope="module")
def world(
    database_url: str,  # noqa: F811
    model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The registry, two sites of different regions, and officer accounts; all stopped after."""
    root = tmp_path_factory.mktemp("sync-processes")
    registry_env = {**os.environ, "REGISTRY_DATABASE_URL": database_url}
    registry = RegistryProcess(registry_env, _free_port(), root / "registry.log")
    registry.start()
    a = _new_site("UPT-A", REGION_A, registry, root, model_dir)
    b = _new_site("UPT-B", REGION_B, registry, root, model_dir)
    for username, role, region in (("admin", "central_admin", None),
                                   ("judge", "adjudicator", None),
                                   ("jabar", "kanwil_monitor", REGION_A)):  # fmt: skip
        registry.account(username, role, region)
    a.start()
    b.start()
    try:
        yield World(registry, a, b)
    finally:
        for process in (a.process, b.process, registry.process):
            if process is not None and process.poll() is None:
                _stop(process)


def _applied(registry: RegistryProcess, site_id: str) -> tuple[int, int, int]:
    """(rows, distinct seqs, highest seq) of what the registry applied from a site."""
    row = registry.query(
        "SELECT count(*) AS n, count(DISTINCT seq) AS seqs, COALESCE(max(seq), 0) AS top FROM applied_changes"
        " WHERE site_id = %s",
        site_id,
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


def _open_case(registry: RegistryProcess, ids: set[str]) -> dict[str, Any] | None:
    cases = registry.get("/v1/cases", "judge").json()["cases"]
    return next((c for c in cases if {c["identity_a"], c["identity_b"]} == ids), None)


def _delivered_photo(registry: RegistryProcess, identity_id: str) -> bytes | None:
    """The photo the registry holds for a person, once a site has delivered it."""
    response = registry.get(f"/v1/identities/{identity_id}/photo", "judge")
    if response.status_code == 404:
        assert response.json()["error"]["details"]["state"] == "requested", response.text
        return None
    assert response.status_code == 200, response.text
    return response.content


def test_enrolment_duplicate_merge_and_transfer_flow_between_two_site_processes(
    world: World, dev_faces: Path
) -> None:
    registry, a, b = world.registry, world.a, world.b
    photos = sorted((dev_faces / PERSON).glob("*.jpg"))
    at_a = a.enrol("Barack", 1, photos[:2])
    _wait_for(lambda: registry.query("SELECT site_id FROM national_identities WHERE id = %s", at_a) == [("UPT-A",)],
              "A's enrolment at the registry")  # fmt: skip

    at_b = b.enrol("Hussein", 2, photos[3:5], national=[at_a])  # B's desk is shown A's person
    case = _wait_for(lambda: _open_case(registry, {at_a, at_b}), "a duplicate case for A and B")
    assert [(d["site_id"], d["candidate_id"], d["decision"]) for d in case["site_decisions"]] == [
        ("UPT-B", at_a, "same_person")
    ]
    # Before deciding, the adjudicator sees both faces: photos travel now, and only on request.
    for identity_id in (at_a, at_b):
        asked = registry.post(f"/v1/identities/{identity_id}/photo-requests", "judge", {})
        assert asked.status_code == 201, asked.text
    for identity_id, site in ((at_a, a), (at_b, b)):
        delivered = _wait_for(lambda: _delivered_photo(registry, identity_id), "a photo")  # noqa: B023
        assert (
            hashlib.sha256(delivered).digest() == hashlib.sha256(site.photo(identity_id)).digest()
        )
    people = _open_case(registry, {at_a, at_b})["people"]  # type: ignore[index]
    assert all(p["photo"]["available"] for p in people)
    decided = registry.post(f"/v1/cases/{case['id']}/decision", "judge",
                            {"decision": "same", "reason": "same face, same birth date"})  # fmt: skip
    assert decided.status_code == 200 and decided.json()["survivor_id"] == at_a
    # B holds only the merged record: by the written rule the merge waits there for its survivor
    _wait_for(lambda: b.get(f"/v1/identities/{at_b}")["details"].get("registry_survivor_id") == at_a,
              "the merge at B")  # fmt: skip
    assert a.get(f"/v1/identities/{at_a}")["status"] == "active"  # the survivor stays as it is

    moved = registry.post("/v1/transfers", "admin",
                          {"identity_id": at_a, "to_site": "UPT-B", "reason": "mutasi"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    _wait_for(lambda: a.get(f"/v1/identities/{at_a}")["status"] == "transferred_out", "transferred_out at A")  # fmt: skip
    arrived = _wait_for(lambda: b.get(f"/v1/identities/{at_b}")["status"] == "merged" and b.get(f"/v1/identities/{at_a}"),
                        "the transfer and the completed merge at B")  # fmt: skip
    assert arrived["status"] == "active" and arrived["origin_site"] == "UPT-A"
    assert b.get(f"/v1/identities/{at_b}")["merged_into"] == at_a
    found = b.identify(photos[7])  # a photo neither site enrolled, against B's live gallery
    assert [c["identity_id"] for c in found] == [at_a], found


def test_registry_killed_mid_push_loses_and_duplicates_nothing(world: World) -> None:
    registry, a = world.registry, world.a
    registry.kill()
    last = a.queue_changes(1000, "killed")
    registry.start()
    before = _applied(registry, "UPT-A")[0]
    _wait_for(lambda: _applied(registry, "UPT-A")[0] > before, "the push to begin", 60)
    registry.kill()
    at_kill = _applied(registry, "UPT-A")
    assert at_kill[2] < last, "the push finished before the kill: the test proved nothing"
    registry.start()
    _wait_for(lambda: _applied(registry, "UPT-A")[2] == last, "A's outbox to drain", 60)
    assert _applied(registry, "UPT-A") == (last, last, last)  # every seq once, none missing
    events = registry.query("SELECT count(*) AS n, count(DISTINCT entity_id) AS entities FROM site_events WHERE site_id = 'UPT-A'")  # fmt: skip
    assert events[0][0] == events[0][1] >= 1000


def test_a_week_offline_drains_completely(world: World) -> None:
    registry, a = world.registry, world.a
    registry.kill()
    last = a.queue_changes(5000, "week")  # a busy gate's week
    assert a.sync_status()["waiting"] >= 5000
    started = time.monotonic()
    registry.start()
    _wait_for(lambda: _applied(registry, "UPT-A")[2] == last, "the week's backlog to drain", 120)
    drained_s = time.monotonic() - started
    assert _applied(registry, "UPT-A") == (last, last, last)
    events = registry.query("SELECT count(*) AS n, count(DISTINCT entity_id) AS entities FROM site_events"
                            " WHERE site_id = 'UPT-A' AND entity_id LIKE 'week-%%'")  # fmt: skip
    assert events == [(5000, 5000)]
    _wait_for(lambda: a.sync_status()["waiting"] == 0, "A to see its outbox acknowledged", 60)
    print(f"5000-change backlog drained in {drained_s:.1f}s")


def test_a_kanwil_monitor_cannot_write_or_see_another_regions_site(world: World) -> None:
    registry = world.registry
    sites = registry.get("/v1/reports/sites", "jabar").json()["sites"]
    assert [s["id"] for s in sites] == ["UPT-A"]
    assert registry.get("/v1/reports/sites/UPT-B", "jabar").status_code == 404
    assert registry.get("/v1/reports/sites/UPT-B", "admin").status_code == 200
    denied = registry.post("/v1/transfers", "jabar",
                           {"identity_id": "0" * 36, "to_site": "UPT-A", "reason": "mutasi"})  # fmt: skip
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
