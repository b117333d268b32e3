#!/usr/bin/env bash
# The fingerprint reader stack for the project venv: libfprint-2 and its typelib from Debian 12,
# then PyGObject built from source against the system's girepository-1.0.
#
# Why build PyGObject instead of reusing Debian's python3-gi: that one is compiled for the
# system Python and would only be reachable through --system-site-packages (which leaks every
# Debian Python package into the venv) and breaks silently once the venv's Python minor version
# differs. PyGObject 3.51+ needs girepository-2.0 (GLib 2.80), which Debian 12 lacks, hence the
# `finger` extra's pin below 3.51. pip caches the built wheel, so later runs take seconds.
#
# Usage: scripts/install_fingerprint_stack.sh        (PYTHON=path/to/python to pick another venv)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
# Runtime: the library and its GObject typelib. Build: headers and tools to compile PyGObject
# (and pycairo, a hard dependency of PyGObject).
PACKAGES=(libfprint-2-2 gir1.2-fprint-2.0 libgirepository1.0-dev libcairo2-dev pkg-config gcc make)  # make: NBIS

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$PYTHON" -m pip install --quiet -e '.[finger]'

# Fail here, with a clear message, rather than in the middle of the test run.
"$PYTHON" - <<'EOF'
import gi

gi.require_version("FPrint", "2.0")
from gi.repository import FPrint

print(f"fingerprint stack ready: PyGObject {gi.__version__}, FPrint {FPrint._version}")
EOF
