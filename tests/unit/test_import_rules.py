"""The house plan's import contracts (pyproject.toml) hold, and the checker really catches a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.catalogue import PROJECT_PACKAGES

REPO = Path(__file__).resolve().parents[2]
PACKAGES = PROJECT_PACKAGES
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is not installed at {LINT_IMPORTS} (the test extra has it)")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _copy_tree(tmp_path: Path) -> Path:
    """The packages' sources and the contracts, without data, caches or the venv."""
    for package in PACKAGES:
        shutil.copytree(
            REPO / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns(
                "__pycache__", "web", "migrations", "packs", "calibrations"
            ),
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_repository_keeps_every_import_contract() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "statement"),
    [
        ("models/planted.py", "import edge.settings\n"),
        ("kernel/planted.py", "from models import errors\n"),
        ("registry/planted.py", "from edge import app\n"),
        ("edge/planted.py", "import registry.service\n"),
        ("enrollment/planted.py", "import fastapi\n"),
    ],
)
def test_a_planted_violation_fails_the_check(tmp_path: Path, module: str, statement: str) -> None:
    root = _copy_tree(tmp_path)
    (root / module).write_text(statement)
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def test_every_top_level_package_is_installed_and_under_the_contracts() -> None:
    """A new top-level package must be packaged (setuptools) and placed in the layers."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    installed = {
        name.rstrip("*") for name in config["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    layered = set(config["tool"]["importlinter"]["root_packages"])
    assert on_disk == set(PACKAGES)
    assert on_disk <= installed
    assert on_disk == layered
