#!/usr/bin/env python3
"""What sealing biometrics at rest costs on the enrolment and gate paths.

Per value (p50 / p99 over --rounds): seal and open of an enrolment photo (the dev photos when
GERBANG_DEV_FACES is set), a face template (128 float32), a fingerprint PNG and ISO record, and
an enrolment's outbox payload; a template sealed again inside an open write transaction, as the
site seals (each seal reads the active key id from the database). Then the start-up path the
gate depends on: reading every template of a site (SealedVault vs PlainVault) to build the FAISS
gallery, from a real SQLite file. The gate's decisions themselves open nothing: the gallery is held in memory, and finger
templates are opened once and cached.

Usage:
  python bench/vault.py [--rounds 2000] [--templates 10000]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from enrollment.db import Database
from enrollment.keyring import Kek, SealedVault
from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.vault import PlainVault, Vault, aad_for, open_payload, seal_payload

PACK = "bench-pack"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1e6:8.1f} µs   p99 {p99 * 1e6:8.1f} µs"


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def photo_bytes() -> bytes:
    folder = os.environ.get("GERBANG_DEV_FACES")
    if folder:
        photos = sorted(Path(folder).rglob("*.jpg"))
        if photos:
            return photos[len(photos) // 2].read_bytes()
    return os.urandom(60_000)


def per_value(vault: SealedVault, rounds: int) -> None:
    rng = np.random.default_rng(0)
    values = {
        "enrolment photo": photo_bytes(),
        "face template (128 f32)": rng.normal(size=128).astype("<f4").tobytes(),
        "finger PNG (FVC, ~95 kB)": os.urandom(95_000),
        "ISO 19794-2 record": os.urandom(300),
    }
    aad = aad_for("images", "data", "3f0c9b1e-0000-4000-8000-000000000000")
    for name, plain in values.items():
        sealed = vault.seal(plain, aad)
        print(
            f"{name:28s} {len(plain):7d} B  seal {percentiles(timed(lambda p=plain: vault.seal(p, aad), rounds))}"
        )
        print(f"{'':28s} {'':7s}    open {percentiles(timed(lambda s=sealed: vault.open(s, aad), rounds))}")  # fmt: skip
    template = values["face template (128 f32)"]
    with vault.db.transaction():  # where the site seals: inside the transaction that stores it
        inside = timed(lambda: vault.seal(template, aad), rounds)
    print(f"{'  template, in a transaction':28s} {len(template):7d} B  seal {percentiles(inside)}")
    vectors = [
        base64.b64encode(rng.normal(size=128).astype("<f4").tobytes()).decode() for _ in range(3)
    ]
    payload = {
        "identity": {"full_name": "x"},
        "templates": [{"vector_f32le_b64": v} for v in vectors],
    }
    sealed_payload = seal_payload(vault, "identity.enrolled", "id", payload)
    print(f"{'outbox payload (3 templates)':28s} {'':7s}    seal {percentiles(timed(lambda: seal_payload(vault, 'identity.enrolled', 'id', payload), rounds))}")  # fmt: skip
    print(f"{'':28s} {'':7s}    open {percentiles(timed(lambda: open_payload(vault, 'identity.enrolled', 'id', sealed_payload), rounds))}")  # fmt: skip


def fill(db: Database, vault: Vault, count: int) -> None:
    rng = np.random.default_rng(1)
    with db.transaction() as tx:
        tx.execute("INSERT OR REPLACE INTO site_state (key, value) VALUES ('pack', ?)", (PACK,))
        repo = IdentityRepository(tx, vault)
        for n in range(count):
            identity_id = repo.insert(IdentityDraft(role="inmate", full_name=f"P{n}"), "UPT-B")
            vector = rng.normal(size=128).astype(np.float32)
            repo.add_template(identity_id, n, "x", PACK, vector, 0.5, "t", staged=True)


def gallery_read(folder: Path, count: int) -> None:
    kek = Kek("key_file", os.urandom(32), False, "bench")
    for name in ("plain", "sealed"):
        db = Database(folder / f"{name}.db")
        db.query("PRAGMA foreign_keys = OFF")  # templates without image rows
        vault: Vault = PlainVault() if name == "plain" else SealedVault(db, kek)
        fill(db, vault, count)
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            with db.reading() as tx:
                held = sum(1 for _ in IdentityRepository(tx, vault).templates_for_pack(PACK))
            samples.append(time.perf_counter() - start)
        print(
            f"read {held} templates for the gallery ({name:6s}): median {statistics.median(samples) * 1e3:7.1f} ms"
        )
        db.close()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--templates", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "keys.db")
        per_value(SealedVault(db, Kek("key_file", os.urandom(32), False, "bench")), args.rounds)
        db.close()
        gallery_read(Path(folder), args.templates)


if __name__ == "__main__":
    main()
