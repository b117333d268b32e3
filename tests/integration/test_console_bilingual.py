"""What the console says to a person is said in Indonesian, then in English: `devices add` at a
gate not yet configured, `gate add|list`, `operators add`, `audit verify`, `tls init`, `backup`,
`restore`, `recover` and `keys status`, each run as its own process on a real data folder
(SQLite, the development KEK, a real sealed backup file). `reembed` and a whole `recover` are
checked where they run with real models and a real registry (test_admin_commands.py,
test_site_recovery.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh site data folder, nothing else configured."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "GERBANG_"))}
    return {**keep, "EDGE_DATA_DIR": str(tmp_path / "site")}


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """One command to completion, never with a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        env=env, input=stdin, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stdout + done.stderr
    return done


def gerbang(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """One command to completion; its standard output (it must succeed)."""
    done = run(env, *args, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
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
    gerbang(env, "keys", "status")  # its data key, wrapped by the development key file
    out = gerbang(env, "backup", "--out", str(tmp_path / "site.gbk"), "--insecure-plain")
    said(out, f"cadangan ditulis ke {tmp_path / 'site.gbk'}, tidak terenkripsi: basis data",
         f"wrote {tmp_path / 'site.gbk'}, unencrypted (--insecure-plain): database")  # fmt: skip
    said(out, "Kunci pembungkus (KEK) biometrik tidak ada di dalam cadangan",
         "The key-encryption key (KEK) of the biometrics is not in the backup")  # fmt: skip
    said(out, "Situs ini memakai kunci pengembangan vault-dev.key: salin juga berkas itu",
         "This site is on the development key vault-dev.key: copy that file too")  # fmt: skip
    again = tmp_path / "again"
    back = gerbang(env, "restore", str(tmp_path / "site.gbk"), "--to", str(again))
    said(back, "situs ", "restored site ")
    said(back, "Cadangan tidak berisi KEK situs (berkas kuncinya, atau vault-dev.key untuk situs",
         "The backup does not hold the site's KEK (its key file, or vault-dev.key for a")  # fmt: skip
    said(back, f"Situs ini memakai kunci pengembangan: salin vault-dev.key dari folder data lama"
         f" ke {again}.", f"This site used the development key: copy vault-dev.key from the old"
         f" data folder into {again}.")  # fmt: skip
    check = f"EDGE_DATA_DIR={again} EDGE_SITE_ID=UPT-DEV gerbang doctor"
    said(back, f"Lalu `{check}` memeriksa bahwa KEK itu cocok",
         f"Then `{check}` checks that the KEK fits")  # fmt: skip


def test_keys_status_says_whether_the_kek_fits_in_both_languages(env: dict[str, str]) -> None:
    gerbang(env, "devices", "add", "kiosk-1", "--gate", "main")
    out = gerbang(env, "keys", "status")
    said(out, "KEK: ", "KEK: ")
    assert "; membuka kunci data\nKEK: " in out and "; it unwraps the data key" in out
    said(out, "peringatan: KEK ini berkas kunci pengembangan",
         "warning: the KEK is a development key file")  # fmt: skip


def test_gate_add_and_list_say_what_they_did_in_both_languages(env: dict[str, str]) -> None:
    said(gerbang(env, "gate", "list"),
         "belum ada gerbang yang diatur: gerbang gate add GATE_ID", "no gate configured yet: ")  # fmt: skip
    gate = ("gate", "add", "pintu-2", "--name", "Pintu dua", "--directions", "out", "--roles", "visitor")  # fmt: skip
    said(gerbang(env, *gate), "gerbang pintu-2 diatur: nama 'Pintu dua', arah out, peran visitor",
         "gate pintu-2 configured: name 'Pintu dua', directions out, roles visitor")  # fmt: skip
    said(gerbang(env, *gate), "gerbang pintu-2 sudah diatur seperti ini: tidak ada yang berubah",
         "gate pintu-2 is already configured this way: nothing changed")  # fmt: skip
    gerbang(env, "devices", "add", "kiosk-9", "--gate", "pintu-9")
    said(gerbang(env, "gate", "list"),
         "catatan: ada terminal terdaftar di gerbang yang belum diatur (tidak dapat meloloskan"
         " siapa pun): pintu-9 (1)",
         "note: terminals registered at gates not configured (they cannot pass anyone): pintu-9 (1)")  # fmt: skip


def test_operators_add_says_who_was_created_in_both_languages(env: dict[str, str]) -> None:
    out = gerbang(env, "operators", "add", "budi", "--role", "gate_officer", "--password-stdin",
                  stdin="kata sandi panjang 1\n")  # fmt: skip
    said(out, "akun petugas budi (gate_officer) dibuat: ", "operator budi (gate_officer) created: ")


def test_audit_verify_gives_its_verdict_and_the_broken_link_in_both_languages(
    env: dict[str, str], tmp_path: Path
) -> None:
    gerbang(env, "devices", "add", "kiosk-1", "--gate", "main")
    gerbang(env, "devices", "add", "kiosk-2", "--gate", "main")
    said(gerbang(env, "audit", "verify"), "rantai audit utuh: 2 peristiwa, mencapai 0 kepala",
         "audit chain intact: 2 events, reaching 0 anchored heads")  # fmt: skip
    beyond = run(env, "audit", "verify", "--anchor", f"5:{'a' * 64}")
    assert beyond.returncode == 1, beyond.stderr
    said(beyond.stdout, "rantai audit rusak pada peristiwa 3: peristiwa 3..5 hilang: rantai"
         " berakhir di 2 padahal auditor memegang kepala 5 (dipotong)",
         "audit chain broken at event 3: events 3..5 are missing: the chain ends at 2 but kept by"
         " an auditor holds head 5 (truncated)")  # fmt: skip
    with sqlite3.connect(tmp_path / "site" / "gerbang.db") as db:
        db.execute("UPDATE audit_events SET actor = 'someone else' WHERE seq = 2")
    broken = run(env, "audit", "verify")
    assert broken.returncode == 1, broken.stderr
    said(broken.stdout, "rantai audit rusak pada peristiwa 2: isinya diubah setelah ditulis",
         "audit chain broken at event 2: its content was changed after it was written")  # fmt: skip


def test_recover_without_a_registry_says_how_to_name_it_in_both_languages(
    env: dict[str, str], tmp_path: Path
) -> None:
    refused = run(env, "recover", str(tmp_path / "site.gbk"), "--to", str(tmp_path / "again"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said(refused.stderr, "error [recovery_registry_missing]: Pemulihan mengambil data dari"
         " registri pusat: sebutkan alamatnya dengan --registry URL",
         "  Recovery takes data back from the central registry: name it with --registry URL")  # fmt: skip
    assert not (tmp_path / "again").exists()
