"""`gerbang keys rotate` against a second process that keeps sealing: nothing it stores may be left
under the deleted key.

Two `Database` objects on one file stand for two processes. Process B's vault cached the old key
before the rotation and its timed refresh is not due; B stores sealed values in its own write
transactions while the rotation runs in a thread (no settle wait), and once more after it ended.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from enrollment.db import Database
from enrollment.keyring import Kek, SealedVault, key_id_of, read_key_file, write_key_file
from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.resealing import SEALED_COLUMNS, rotate
from enrollment.vault import Vault, aad_for, open_payload, seal_payload
from gallery_sync.outbox import append_change

WAIT_S = 60.0  # for the rotating thread on a loaded CI machine; a passing test waits far less


class RotatingDatabase(Database):
    """The rotating process's connection: says when its first transaction (the flip) asks for the
    write lock and when it has committed, then waits for `resume` before going on."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asking, self.flipped, self.resume = (threading.Event() for _ in range(3))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        first = not self.asking.is_set()
        self.asking.set()
        with super().transaction() as tx:
            yield tx
        if first:
            self.flipped.set()
            self.resume.wait(WAIT_S)


def store(tx: sqlite3.Connection, vault: Vault, identity_id: str, n: int) -> None:
    """What a desk stores in one transaction: an image, its template, the outbox row."""
    repo = IdentityRepository(tx, vault)
    image_id, digest = repo.add_image(identity_id, b"\xff\xd8\xffB%d" % n, "image/jpeg", "t")
    vector = np.random.default_rng(n).normal(size=8).astype(np.float32)
    repo.add_template(identity_id, image_id, digest, "pack", vector, 0.5, "t", staged=True)
    body = {"templates": [{"vector_f32le_b64": f"B{n}"}]}
    append_change(
        tx,
        "identity.enrolled",
        identity_id,
        seal_payload(vault, "identity.enrolled", identity_id, body),
    )


def assert_every_value_opens_with_the_keys_left(db: Database, kek: Kek) -> int:
    """Every sealed value names a key still held and opens under it; return how many."""
    left = {r[0] for r in db.query("SELECT id FROM vault_keys")}
    vault, count = SealedVault(db, kek), 0
    for table, column, owner in SEALED_COLUMNS:
        sql = f"SELECT {column}, {owner} FROM {table} WHERE {column} IS NOT NULL"
        for value, owner_id in db.query(sql):
            assert key_id_of(value) in left, f"{table}.{column} sealed under a deleted key"
            vault.open(value, aad_for(table, column, owner_id))
            count += 1
    for kind, entity_id, text in db.query("SELECT kind, entity_id, payload FROM outbox"):
        payload = json.loads(text)
        assert key_id_of(base64.b64decode(payload["sealed_b64"])) in left, "outbox"
        assert open_payload(vault, kind, entity_id, payload)["templates"]
        count += 1
    return count


@pytest.mark.parametrize(
    "order", ["b_holds_the_write_lock_during_the_flip", "b_writes_just_after_the_flip"]
)
def test_a_process_that_has_not_refreshed_its_key_loses_nothing_to_a_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, order: str
) -> None:
    # were the old 5 s key cache back, B's timed check would never be due during the test
    monkeypatch.setattr("enrollment.keyring.REFRESH_SECONDS", 3600.0)
    write_key_file(tmp_path / "kek.key")
    kek = Kek("key_file", read_key_file(tmp_path / "kek.key"), False, "test")
    path = tmp_path / "data" / "gerbang.db"
    rotating, b = RotatingDatabase(path), Database(path)
    vault_b = SealedVault(b, kek)  # caches data key 1
    with b.transaction() as tx:
        identity_id = IdentityRepository(tx, vault_b).insert(
            IdentityDraft(role="visitor", full_name="Rina"), "UPT-T"
        )
        store(tx, vault_b, identity_id, 0)
    failures: list[BaseException] = []

    def rotation() -> None:
        try:
            rotate(rotating, kek, batch=1, settle=0)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=rotation)
    if order == "b_holds_the_write_lock_during_the_flip":
        rotating.resume.set()
        with b.transaction() as tx:
            thread.start()
            assert rotating.asking.wait(WAIT_S)
            assert not rotating.flipped.wait(0.2)  # the flip waits for B's write lock
            store(tx, vault_b, identity_id, 1)
    else:
        thread.start()
        assert rotating.flipped.wait(WAIT_S)
        with b.transaction() as tx:  # committed before the rotation's first re-seal pass
            store(tx, vault_b, identity_id, 1)
        newest = b.query("SELECT data FROM images ORDER BY id DESC LIMIT 1")[0][0]
        assert key_id_of(newest) == 2  # sealed under the new key, not left for the passes
        rotating.resume.set()
    thread.join(WAIT_S * 3)
    assert not thread.is_alive() and not failures, failures
    with b.transaction() as tx:  # B, paused all along, stores once more after the rotation
        store(tx, vault_b, identity_id, 2)

    assert "after the flip" not in caplog.text  # the belt pass found nothing late
    assert [r[0] for r in b.query("SELECT id FROM vault_keys")] == [2]
    assert assert_every_value_opens_with_the_keys_left(b, kek) == 3 * 3
    rotating.close()
    b.close()
