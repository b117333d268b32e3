"""`gerbang gallery check|rebuild` and `gerbang reembed` against a real site service served on
127.0.0.1, as a site admin runs them at the console: separate processes, real HTTP, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.test_sync_processes import _free_port, _spawn, _stop

pytestmark = [pytest.mark.model, pytest.mark.slow]

ADMIN = ("admin", "admin password 1")
GATE_OFFICER = ("petugas", "gate officer password 1")
PERSON = "facerec-obama"


@dataclass
class Served:
    """A `gerbang serve` process, its environment and its address."""

    env: dict[str, str]
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.data_dir / "serve.log"
        self.process = _spawn(self.env, ["serve"], f"{self.url}/ready", log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _stop(self.process)


def gerbang(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One `gerbang` command run to completion, as at the console."""
    return subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        check=False,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _enrol(url: str, dev_faces: Path) -> str:
    """One inmate enrolled through the capture API by the admin; returns the identity id."""
    with httpx.Client(base_url=url, timeout=60) as client:
        login = client.post("/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        session = client.post("/v1/captures", json={"role": "inmate"}).json()["session_id"]
        for n in (1, 2, 3):
            image = (dev_faces / PERSON / f"{n}.jpg").read_bytes()
            added = client.post(
                f"/v1/captures/{session}/frames", files={"image": ("f.jpg", image, "image/jpeg")}
            )
            assert added.status_code == 200 and added.json()["accepted"], added.text
        identity = {
            "full_name": "Budi Santoso",
            "birth_date": "1990-12-01",
            "sex": "M",
            "registration_number": "B.I-123/2024",
        }
        saved = client.post(f"/v1/captures/{session}/commit", json={"identity": identity})
        assert saved.status_code == 201, saved.text
        return str(saved.json()["identity_id"])


@pytest.fixture(scope="module")
def site(
    model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A served site with a site admin and one enrolled inmate; the admin's credentials in env."""
    data_dir = tmp_path_factory.mktemp("admin-site")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "GERBANG_USER"))}
    env |= {
        "EDGE_MODEL_DIR": str(model_dir),
        "EDGE_DATA_DIR": str(data_dir),
        "EDGE_PORT": str(port),
        "GERBANG_USERNAME": ADMIN[0],
        "GERBANG_PASSWORD": ADMIN[1],
    }
    added = gerbang(
        env, "operators", "add", ADMIN[0], "--role", "site_admin", "--password-stdin",
        stdin=ADMIN[1] + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    officer = gerbang(
        env, "operators", "add", GATE_OFFICER[0], "--role", "gate_officer", "--password-stdin",
        stdin=GATE_OFFICER[1] + "\n",
    )  # fmt: skip
    assert officer.returncode == 0, officer.stderr
    served = Served(env, port, data_dir)
    served.start()
    try:
        _enrol(served.url, dev_faces)
        yield served
    finally:
        served.stop()


def test_gallery_check_and_rebuild_ask_the_running_service(site: Served) -> None:
    check = gerbang(site.env, "gallery", "check")
    assert check.returncode == 0, check.stderr
    assert '"ok": true' in check.stdout
    rebuilt = gerbang(site.env, "gallery", "rebuild", "--url", site.url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout) == {"templates": 3}


def test_an_import_while_the_service_runs_reaches_its_gallery_without_a_restart(
    site: Served, dev_faces: Path, tmp_path: Path
) -> None:
    """`gerbang import` is another process writing the same database: the running service
    applies its writes through the gallery feed (site_sync/follow.py) within seconds."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "hendra.jpg").write_bytes((dev_faces / "facerec-steve_wozniak/1.jpg").read_bytes())
    export = tmp_path / "export.csv"
    export.write_text(
        "row_id,role,full_name,birth_date,sex,registration_number,photos\n"
        "r1,inmate,Hendra Gunawan,1979-05-04,M,B.I-777/2024,hendra.jpg\n",
        encoding="utf-8",
    )
    imported = gerbang(
        site.env, "import", str(export), "--photos", str(photos), "--officer", "admin"
    )
    assert imported.returncode == 0 and "imported 1," in imported.stdout, (
        imported.stdout + imported.stderr
    )

    with httpx.Client(base_url=site.url, timeout=60) as client:
        login = client.post("/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        probe = {"image": ("p.jpg", (photos / "hendra.jpg").read_bytes(), "image/jpeg")}
        deadline = time.monotonic() + 30  # the feed is applied every 2 s
        while True:
            found = client.post("/v1/identify", files=probe).json()
            names = [c["full_name"] for c in found["candidates"]]
            if names or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert names == ["Hendra Gunawan"], found
        ready = client.get("/ready").json()
        assert ready["ready"] and ready["gallery"] == 4, ready  # 3 of the inmate above, 1 here


def _said_in_both_languages(
    run: subprocess.CompletedProcess[str], code: str, id_: str, en: str
) -> None:
    """An error as the console prints it: code, Indonesian line, English line; no traceback."""
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith(f"error [{code}]: {id_}"), run.stderr
    assert f"\n  {en}" in run.stderr
    assert "Traceback" not in run.stderr and "{" not in run.stderr  # no raw JSON either


def test_gallery_check_says_when_it_cannot_sign_in_or_reach_the_service(site: Served) -> None:
    wrong = gerbang({**site.env, "GERBANG_PASSWORD": "not the password"}, "gallery", "check")
    _said_in_both_languages(wrong, "sign_in_refused", "Nama pengguna atau kata sandi salah.",
                            "Wrong username or password.")  # fmt: skip
    assert "service_code: unauthenticated" in wrong.stderr
    nobody = gerbang(site.env, "gallery", "check", "--url", f"http://127.0.0.1:{_free_port()}")
    _said_in_both_languages(nobody, "service_unreachable", "Layanan situs tidak dapat dihubungi",
                            "The site service cannot be reached")  # fmt: skip


def test_gallery_commands_refuse_a_role_without_permission_in_both_languages(site: Served) -> None:
    officer = {**site.env, "GERBANG_USERNAME": GATE_OFFICER[0], "GERBANG_PASSWORD": GATE_OFFICER[1]}
    for action in ("check", "rebuild"):
        refused = gerbang(officer, "gallery", action)
        _said_in_both_languages(refused, "service_refused", "Peran Anda tidak berwenang",
                                "Your role may not do this.")  # fmt: skip
        assert (
            "service_code: forbidden" in refused.stderr and "role: gate_officer" in refused.stderr
        )


def test_gallery_check_without_credentials_or_a_terminal_says_what_to_set(site: Served) -> None:
    cron = {k: v for k, v in site.env.items() if not k.startswith("GERBANG_")}
    unattended = subprocess.run(
        [sys.executable, "-m", "console.main", "gallery", "check"],
        env=cron, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    _said_in_both_languages(unattended, "console_credentials_missing",
                            "Nama pengguna atau kata sandi tidak diberikan",
                            "No username or password was given")  # fmt: skip
    assert "missing: GERBANG_USERNAME, GERBANG_PASSWORD" in unattended.stderr


def test_reembed_switches_the_running_site_which_then_asks_for_a_restart(site: Served) -> None:
    moved = gerbang(site.env, "reembed", "--pack", "scrfd-dlib", "--officer", "admin")
    assert moved.returncode == 0, moved.stderr
    assert (
        "situs kini memakai scrfd-dlib; mulai ulang layanan untuk memuatnya\nthe site now uses"
        " scrfd-dlib" in moved.stdout
    )
    ready = httpx.get(f"{site.url}/ready", timeout=10)
    assert (ready.status_code, ready.json()["problem"]["code"]) == (503, "pack_changed")
    refused = gerbang(site.env, "gallery", "rebuild")
    assert refused.returncode == 2 and "service_code: pack_changed" in refused.stderr
    assert (
        refused.stderr.startswith("error [service_refused]: ") and "Traceback" not in refused.stderr
    )
    site.stop()
    site.start()  # waits for /ready: the restarted service loads scrfd-dlib and its gallery
    assert httpx.get(f"{site.url}/ready", timeout=10).json()["pack"] == "scrfd-dlib"
    check = gerbang(site.env, "gallery", "check")
    assert check.returncode == 0 and '"ok": true' in check.stdout, check.stdout + check.stderr
    again = gerbang(site.env, "reembed", "--pack", "scrfd-dlib")  # nothing left: still fine
    assert again.returncode == 0 and "0 embedded" in again.stdout, again.stdout + again.stderr
    assert "paket scrfd-dlib: 0 templat dibuat, 0 gagal, 0 tersisa\npack " in again.stdout
