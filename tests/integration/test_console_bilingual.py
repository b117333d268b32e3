"""What the console says to a person is said in Indonesian, then in English: `devices add` at a
gate not yet configured, `tls init`, `backup`, `restore` and `keys status`, each run as its own
process on a real data folder (SQLite, the development KEK, a real sealed backup file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh site data folder, nothing else configured."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "GERBANG_"))}
    return {**keep, "EDGE_DATA_DIR": str(tmp_path / "site")}


def gerbang(env: dict[str, str], *args: str) -> str:
    """One command to completion; its standard output (it must succeed, without a traceback)."""
    done = subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done.stdout


def said(out: str, indonesian: str, english: str) -> None:
    """`indonesian` starts a line and the next line starts with `english`."""
    lines = out.splitlines()
    found = [n for n, line in enumerate(lines) if line.startswith(indonesian)]
    assert found, f"no line starting {indonesian!r} in:\n{out}"
    assert lines[found[0] + 1].startswith(english), out


def test_devices_add_at_an_unconfigured_gate_notes_it_in_both_languages(
    env: dict[str, str],
) -> None:
    out = gerbang(env, "devices", "add", "kiosk-9", "--gate", "pintu-9")
    said(out, "catatan: gerbang pintu-9 belum diatur; atur dengan `gerbang gate add pintu-9",
         "note: gate pintu-9 is not configured yet; configure it with `gerbang gate add pintu-9")  # fmt: skip


def test_tls_init_says_how_desks_trust_the_site(env: dict[str, str]) -> None:
    out = gerbang(env, "tls", "init", "--host", "gate-1.lapas.local")
    said(out, "PC meja mempercayai situs ini dengan mengimpor ca.pem",
         "Desk PCs trust the site by importing ca.pem")  # fmt: skip


def test_backup_and_restore_say_what_they_did_and_what_comes_next(
    env: dict[str, str], tmp_path: Path
) -> None:
    gerbang(env, "devices", "add", "kiosk-1", "--gate", "main")  # a database worth keeping
    out = gerbang(env, "backup", "--out", str(tmp_path / "site.gbk"), "--insecure-plain")
    said(out, f"cadangan ditulis ke {tmp_path / 'site.gbk'}, tidak terenkripsi: basis data",
         f"wrote {tmp_path / 'site.gbk'}, unencrypted (--insecure-plain): database")  # fmt: skip
    said(out, "Kunci pembungkus (KEK) biometrik tidak ada di dalam cadangan",
         "The key-encryption key (KEK) of the biometrics is not in the backup")  # fmt: skip
    back = gerbang(env, "restore", str(tmp_path / "site.gbk"), "--to", str(tmp_path / "again"))
    said(back, "situs ", "restored site ")
    said(back, f"Jalankan layanan dengan EDGE_DATA_DIR={tmp_path / 'again'} dan KEK situs",
         f"Start the service with EDGE_DATA_DIR={tmp_path / 'again'} and the site's KEK")  # fmt: skip


def test_keys_status_says_whether_the_kek_fits_in_both_languages(env: dict[str, str]) -> None:
    gerbang(env, "devices", "add", "kiosk-1", "--gate", "main")
    out = gerbang(env, "keys", "status")
    said(out, "KEK: ", "KEK: ")
    assert "; membuka kunci data\nKEK: " in out and "; it unwraps the data key" in out
    said(out, "peringatan: KEK ini berkas kunci pengembangan",
         "warning: the KEK is a development key file")  # fmt: skip
