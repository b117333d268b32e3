"""A site-only install (no psycopg: the `registry` extra is not installed) still runs the site's
commands, and `gerbang registry ...` says how to install what it needs instead of a traceback.

Each case runs `gerbang` in a fresh interpreter whose import system refuses psycopg, as on a site
that never installed it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WITHOUT_PSYCOPG = """
import importlib.abc, runpy, sys

class NoPsycopg(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPsycopg())
sys.argv = ["gerbang", *sys.argv[1:]]
runpy.run_module("console.main", run_name="__main__")
"""


def _gerbang(*args: str, code: str = WITHOUT_PSYCOPG) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_blocker_really_hides_psycopg() -> None:
    probe = WITHOUT_PSYCOPG.split("sys.argv =", maxsplit=1)[0] + "import psycopg\n"
    done = _gerbang(code=probe)
    assert done.returncode == 1 and "No module named 'psycopg'" in done.stderr


def test_registry_commands_say_how_to_install_the_registry_extra() -> None:
    for args in (("registry", "serve"), ("registry", "sites", "add", "UPT-A", "--name", "A")):
        done = _gerbang(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error [registry_driver_missing]: Perintah registri pusat")
        assert "\n  The central registry's commands need" in done.stderr
        assert "pip install -e '.[registry]'" in done.stderr
        assert "Traceback" not in done.stderr


def test_registry_help_says_what_to_install_in_both_languages() -> None:
    done = _gerbang("registry", "--help")
    assert done.returncode == 0, done.stderr
    assert "Pasang dengan: pip install -e '.[registry]'" in done.stdout
    assert "Install it with: pip install -e '.[registry]'" in done.stdout
    assert "rest" not in done.stdout  # the stub's catch-all argument is not shown


def test_the_site_commands_still_run_without_the_registry_driver() -> None:
    done = _gerbang("--help")
    assert done.returncode == 0 and "registry" in done.stdout, done.stderr
    serve = _gerbang("serve", "--help")
    assert serve.returncode == 0 and serve.stdout.startswith("usage: gerbang serve"), serve.stderr


def test_the_site_app_builds_without_the_registry_driver() -> None:
    code = WITHOUT_PSYCOPG.split("sys.argv =", maxsplit=1)[0] + (
        "import edge.app, edge.cli, console.main\n"
        "console.main.build_parser()\n"
        "assert not any(m.startswith('psycopg') for m in sys.modules), 'psycopg was imported'\n"
        "print('ok')\n"
    )
    done = _gerbang(code=code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
