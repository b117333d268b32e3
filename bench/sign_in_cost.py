"""What a refused sign-in costs, and what it tells: unknown username vs wrong password, at both
services, and the memory a 16-bit PNG takes to decode.

Run from the repository root (about a minute on 2 cores):
    python bench/sign_in_cost.py

Sign-in. The registry (`RegistryService` on a temporary SQLite file) and a site database each
get one account; `--rounds` refused sign-ins with an unknown username and as many with the real
username and a wrong password are timed alternately (a fresh throttle each time, so no delay is
counted). Issue 13 measured 11 ms against 101 ms at the registry: an unknown username answered
without any scrypt work. The medians should now be within a few per cent of each other.

Decoding. `models.imaging.decode_image` on a 16-bit grayscale PNG of `--side` pixels a side,
peak traced memory (tracemalloc) in bytes per pixel.

The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from enrollment.accounts import AccountStore, sign_in
from enrollment.db import Database
from kernel.access import SignInThrottle
from kernel.errors import Unauthenticated
from models.imaging import ImageLimits, decode_image
from registry.service import RegistryService
from registry.settings import RegistrySettings

PASSWORD = "correct horse battery"


def _median_ms(attempt: Callable[[str], None], username: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        with contextlib.suppress(Unauthenticated):
            attempt(username)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def registry_timings(folder: Path, rounds: int) -> tuple[float, float]:
    settings = RegistrySettings(database_url=f"sqlite:///{folder / 'registry.db'}")
    service = RegistryService(settings)
    service.db.migrate()
    service.add_account("pusat", "central_admin", PASSWORD, None)

    def attempt(username: str) -> None:
        service.sign_ins = SignInThrottle()
        service.login(username, "a wrong password", "bench")

    with contextlib.suppress(Unauthenticated):
        attempt("warm-up")
    return _median_ms(attempt, "nobody", rounds), _median_ms(attempt, "pusat", rounds)


def site_timings(folder: Path, rounds: int) -> tuple[float, float]:
    db = Database(folder / "site.db")
    db.migrate()
    with db.transaction() as tx:
        AccountStore(tx).add_operator("desk", "Desk", "enrolment_officer", PASSWORD)

    def attempt(username: str) -> None:
        sign_in(db, username, "a wrong password", SignInThrottle(), "bench")

    with contextlib.suppress(Unauthenticated):
        attempt("warm-up")
    return _median_ms(attempt, "nobody", rounds), _median_ms(attempt, "desk", rounds)


def decode_peak(side: int) -> float:
    values = (np.arange(side * side, dtype=np.uint32) % 65536).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values.reshape(side, side)).save(buffer, format="PNG")
    tracemalloc.start()
    decode_image(buffer.getvalue(), ImageLimits(max_pixels=side * side, max_decode_bytes=2**31))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (side * side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--side", type=int, default=2000)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        for name, measure in (("registry", registry_timings), ("site", site_timings)):
            unknown, wrong = measure(Path(folder), args.rounds)
            print(f"{name}: unknown username {unknown:.1f} ms, wrong password {wrong:.1f} ms"
                  f" (median of {args.rounds})")  # fmt: skip
    peak = decode_peak(args.side)
    print(f"16-bit PNG {args.side}x{args.side}: decoding peak {peak:.1f} bytes a pixel"
          f" ({peak * args.side**2 / 2**20:.0f} MiB traced)")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
