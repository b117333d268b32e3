"""The README's `sh` blocks run as written, in order, so that the documentation cannot drift.

They run in one bash session in a scratch copy of the checkout (its own var/, with ../shared
pointing at the real models and photos), as a reader would type them. What the runner adds:
- every `gerbang serve` / `gerbang registry serve` goes to the background, and the next line waits
  until it is ready (the first command runs in the foreground in a terminal of its own);
- the README's ports (8080, 8081, 8082, 8090) are mapped to free ones, so runs cannot collide;
- `curl` fails on an HTTP error (`--fail-with-body`), and bash stops at the first failure;
- the few lines in SKIPPED are not run, each for the reason given there, and are printed.
At the end every server started is stopped. A synopsis with placeholders belongs in a `text`
block; a block tagged bash, shell or console fails the test (it would escape it).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_sync_processes import _free_port

README = REPO / "README.md"
PORTS = (8080, 8081, 8082, 8090)
SHELL_TAGS = {"bash", "shell", "console", "shell-session", "zsh"}
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e . && "
# What is not run here, and why. Each must appear in the README exactly once (a stale entry fails).
SKIPPED = {
    INSTALL: "the install: scripts/test ran `python3 -m venv .venv` and `pip install -e '.[test]'`"
    " before pytest; pip here would point the checkout's editable install at the scratch copy",
    "bash scripts/test": "the test command itself: this test runs inside it",
    ".venv/bin/pip install -e '.[registry]'": "installed already: the test extra includes"
    " the registry extra",
    "gerbang gate run main --source rtsp://camera/stream --passage visitor_exit": "needs a"
    " camera at that address and runs until stopped; tests/integration/test_camera_real.py"
    " drives `gate run` on a real stream",
}
SERVER = re.compile(r"gerbang (registry )?serve\b")


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string, the README line it starts on, its text."""

    tag: str
    line: int
    text: str


def fenced_blocks(markdown: str) -> list[Block]:
    """Every fenced block of the README, in order."""
    blocks: list[Block] = []
    current: list[str] = []
    tag: str | None = None
    start = 0
    for number, line in enumerate(markdown.splitlines(), 1):
        if line.startswith("```"):
            if tag is None:
                tag, start, current = line[3:].strip(), number, []
            else:
                blocks.append(Block(tag, start, "\n".join(current)))
                tag = None
        elif tag is not None:
            current.append(line)
    assert tag is None, f"README line {start}: a fenced block is never closed"
    return blocks


def _without_skipped(line: str) -> str:
    for skipped in SKIPPED:
        if skipped == INSTALL and line.startswith(INSTALL):
            return line[len(INSTALL) :]
        if line.split("  #", maxsplit=1)[0].strip() == skipped:
            return f"true  # skipped: {skipped}"
    return line


def _port_of(line: str) -> int:
    found = re.search(r"--port (\d+)", line)
    return int(found.group(1)) if found else 8080


def runnable(block: Block) -> str:
    """The block as bash runs it: skipped lines out, servers backgrounded and waited for."""
    out = [f'echo "### README line {block.line} (after $SECONDS s)"']
    for written in block.text.splitlines():
        line = _without_skipped(written)
        if SERVER.search(line) and not line.rstrip().endswith("\\"):
            code = line.split("  #", maxsplit=1)[0].rstrip()
            code = code if code.endswith("&") else code + " &"
            path = "/v1/health" if "registry serve" in code else "/ready"
            out += [code, f"__wait_ready http://127.0.0.1:{_port_of(code)}{path}"]
        else:
            out.append(line)
    return "\n".join(out)


PRELUDE = r"""set -euo pipefail
shopt -s inherit_errexit
curl() { command curl --fail-with-body --show-error --max-time 120 "$@" && echo; }
__wait_ready() {
    local url=$1 pid=$!
    for _ in $(seq 1 900); do
        command curl -sf -o /dev/null --max-time 5 "$url" && return 0
        kill -0 "$pid" 2>/dev/null || { echo "the server for $url exited" >&2; return 1; }
        sleep 0.2
    done
    echo "timed out waiting for $url:" >&2; command curl -s "$url" >&2; return 1
}
__stop() {
    local pids; pids=$(jobs -p); [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 $pids 2>/dev/null || return 0; sleep 0.2; done
    kill -9 $pids 2>/dev/null || true
}
trap __stop EXIT
set -x
"""


def script(markdown: str, ports: dict[int, int]) -> str:
    """Every sh block in order, as one bash script, with the README's ports mapped."""
    body = "\n".join(runnable(b) for b in fenced_blocks(markdown) if b.tag == "sh")
    return PRELUDE + re.sub(r"\b(8080|8081|8082|8090)\b", lambda m: str(ports[int(m[1])]), body)


def test_every_block_is_tagged_and_every_skipped_line_is_still_there() -> None:
    markdown = README.read_text(encoding="utf-8")
    blocks = fenced_blocks(markdown)
    escaping = [b.line for b in blocks if b.tag in SHELL_TAGS]
    assert not escaping, f"README lines {escaping}: tag commands `sh` (run here) or `text`"
    shell = "\n".join(b.text for b in blocks if b.tag == "sh")
    for skipped in SKIPPED:
        assert shell.count(skipped) == 1, f"SKIPPED lists {skipped!r}, not in one README sh block"


def _sandbox(root: Path, model_dir: Path, dev_faces: Path, fingerprints: Path) -> Path:
    """<root>/gerbang: the checkout's files (linked) with an empty var/; <root>/shared beside it."""
    shared = root / "shared"
    (shared / "data" / "faces").mkdir(parents=True)
    (shared / "models").symlink_to(model_dir.resolve())
    (shared / "data" / "faces" / "dev").symlink_to(dev_faces.resolve())
    (shared / "data" / "fingerprints").symlink_to(fingerprints.resolve())
    checkout = root / "gerbang"
    checkout.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in ("var", ".venv", ".git"):
            (checkout / entry.name).symlink_to(entry)
    (checkout / ".venv").symlink_to(Path(sys.prefix))
    (checkout / "var").mkdir()
    return checkout


@pytest.mark.model
@pytest.mark.slow
def test_the_readme_runs_as_written(
    model_dir: Path, dev_faces: Path, fingerprints: Path, tmp_path: Path
) -> None:
    for skipped, why in SKIPPED.items():
        print(f"not run: {skipped.strip()}\n    because {why}")
    checkout = _sandbox(tmp_path, model_dir, dev_faces, fingerprints)
    ports = {port: _free_port() for port in PORTS}
    print(f"ports: {ports}")
    (tmp_path / "readme.sh").write_text(script(README.read_text(encoding="utf-8"), ports))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "REGISTRY_"))}
    env = {k: v for k, v in env.items() if not k.startswith("GERBANG_") or k == "GERBANG_NBIS_LIB"}
    env |= {"EDGE_PORT": str(ports[8080]), "PATH": f"{checkout / '.venv/bin'}:{env['PATH']}"}
    log = tmp_path / "readme.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=420)
        finally:
            with contextlib.suppress(ProcessLookupError):  # servers its trap did not stop
                os.killpg(process.pid, signal.SIGKILL)
    printed = log.read_text(errors="replace")
    assert code == 0, f"the README failed (script {tmp_path / 'readme.sh'}):\n{printed[-6000:]}"
    # What the README says these commands answer.
    assert '"result":"candidates"' in printed and '"full_name":"Budi Santoso"' in printed
    assert '"ok": true' in printed  # gerbang gallery check
    assert "the site now uses scrfd-dlib" in printed  # gerbang reembed
    listed = re.compile(r"\nmain +Pintu utama +in,out +visitor,inmate,staff +1\n")
    assert listed.search(printed)  # gerbang gate list, after devices add
