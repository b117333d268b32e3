"""A site database records which site it belongs to, and a process with another EDGE_SITE_ID is
refused before it reads or writes anything else (edge/site.py, edge/settings.site_settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.app import create_app
from edge.doctor import database
from edge.settings import Settings
from enrollment.db import Database
from enrollment.site_identity import SiteIdMismatch, check_site, claim_site


def test_the_first_code_is_recorded_and_another_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "gerbang.db")
    claim_site(db, "UPT-A")
    claim_site(db, "UPT-A")  # the same site again: fine
    with pytest.raises(SiteIdMismatch) as refused:
        claim_site(db, "UPT-DEV")
    assert refused.value.details == {"recorded": "UPT-A", "configured": "UPT-DEV"}
    assert "EDGE_SITE_ID=UPT-A" in refused.value.message.id
    assert "EDGE_SITE_ID=UPT-A" in refused.value.message.en
    db.close()
    check_site(tmp_path / "gerbang.db", "UPT-A")
    with pytest.raises(SiteIdMismatch):
        check_site(tmp_path / "gerbang.db", "UPT-DEV")


def test_checking_a_folder_without_a_database_makes_none(tmp_path: Path) -> None:
    check_site(tmp_path / "gerbang.db", "UPT-DEV")
    assert not (tmp_path / "gerbang.db").exists()


def test_a_console_command_on_another_site_s_data_says_so_in_both_languages(
    tmp_path: Path,
) -> None:
    """The tryout's case: `gerbang report` and `sync status` on UPT-A's folder from a shell
    without EDGE_SITE_ID labelled the site UPT-DEV."""
    db = Database(tmp_path / "gerbang.db")
    claim_site(db, "UPT-A")
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env["EDGE_DATA_DIR"] = str(tmp_path)
    for command in (["report"], ["sync", "status"], ["keys", "status"]):
        done = subprocess.run([sys.executable, "-m", "console.main", *command], env=env,
                              capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.startswith("error [site_id_mismatch]: Basis data di EDGE_DATA_DIR milik UPT UPT-A")  # fmt: skip
        assert "EDGE_SITE_ID=UPT-A" in done.stderr and "Traceback" not in done.stderr
    good = subprocess.run([sys.executable, "-m", "console.main", "report"],
                          env={**env, "EDGE_SITE_ID": "UPT-A"},
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert good.returncode == 0 and "UPT-A" in good.stdout, good.stderr


def test_doctor_fails_the_database_check_for_another_site_s_data(tmp_path: Path) -> None:
    db = Database(tmp_path / "gerbang.db")
    claim_site(db, "UPT-A")
    db.close()
    finding = database(Settings(data_dir=tmp_path, site_id="UPT-DEV"))
    assert finding.status == "FAIL" and finding.fix is not None
    assert "EDGE_SITE_ID=UPT-A" in finding.fix.en
    assert database(Settings(data_dir=tmp_path, site_id="UPT-A")).status == "OK"


def test_only_the_service_records_the_code_so_a_plain_shell_cannot_lock_it_out(
    tmp_path: Path,
) -> None:
    """A console command run first, from a shell without EDGE_SITE_ID (an upgrade, a new
    install), records nothing; the service then records its own code when it starts."""
    Database(tmp_path / "gerbang.db").close()  # a database from before, no code recorded
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env["EDGE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "console.main", "sync", "status"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    check_site(tmp_path / "gerbang.db", "UPT-A")  # still nobody's
    settings = Settings(data_dir=tmp_path, site_id="UPT-A", fetch_models=False)
    app = create_app(settings)
    app.state.site.close()
    with pytest.raises(SiteIdMismatch):
        check_site(tmp_path / "gerbang.db", "UPT-DEV")
