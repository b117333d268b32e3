"""A second operator or terminal of the same name is a clear refusal, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrollment.accounts import AccountExists, AccountStore
from enrollment.db import Database

PASSWORD = "correct horse battery"


def test_a_name_already_taken_is_refused_with_its_code(tmp_path: Path) -> None:
    db = Database(tmp_path / "gerbang.db")
    with db.transaction() as tx:
        AccountStore(tx).add_operator("desk", "Desk", "enrolment_officer", PASSWORD)
        AccountStore(tx).add_device("kiosk-1", "main")
    for add in (
        lambda s: s.add_operator("desk", "Desk again", "supervisor", PASSWORD),
        lambda s: s.add_device("kiosk-1", "main"),
    ):
        with pytest.raises(AccountExists) as caught, db.transaction() as tx:
            add(AccountStore(tx))
        assert caught.value.code == "account_exists"
    with db.transaction() as tx:  # nothing half-written: one of each
        assert tx.execute("SELECT COUNT(*) FROM operators").fetchone()[0] == 1
        assert tx.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 1
