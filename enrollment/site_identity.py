"""Which site a database belongs to: recorded once, checked by every process that opens it.

Every record a site writes is stamped with its code (EDGE_SITE_ID), and the sync agent signs as
that site. A console command run from a shell without the service's settings would otherwise
work on UPT-A's data as the default UPT-DEV: wrong labels in the daily report and sync status,
identities stamped with the wrong origin. The service records its code in `site_state` when it
starts (`claim_site`, edge/app.py): it runs with the site's real settings. Every other process
only compares (`check_site`, `check_claimed`): a console command run first from a plain shell
records nothing, so it can never lock the service out of its own data.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from enrollment.db import Database
from kernel.errors import Conflict, Message

SITE_KEY = "site.id"


class SiteIdMismatch(Conflict):
    code = "site_id_mismatch"
    message = Message(
        "Basis data ini milik UPT lain daripada EDGE_SITE_ID: jalankan perintah dengan pengaturan"
        " yang sama dengan layanan.",
        "This database belongs to another site than EDGE_SITE_ID: run the command with the same"
        " settings as the service.",
    )

    @classmethod
    def between(cls, recorded: str, configured: str) -> SiteIdMismatch:
        return cls(
            Message(
                f"Basis data di EDGE_DATA_DIR milik UPT {recorded}, tetapi EDGE_SITE_ID={configured}:"
                f" jalankan dengan EDGE_SITE_ID={recorded} (pengaturan yang sama dengan layanan),"
                " atau arahkan EDGE_DATA_DIR ke folder data UPT itu.",
                f"The database in EDGE_DATA_DIR belongs to site {recorded}, but"
                f" EDGE_SITE_ID={configured}: run with EDGE_SITE_ID={recorded} (the service's"
                " settings), or point EDGE_DATA_DIR at that site's data folder.",
            ),
            recorded=recorded,
            configured=configured,
        )


def claim_site(db: Database, site_id: str) -> None:
    """Record `site_id` in a database that holds no site code yet; refuse one holding another.
    The service's start only (see the module's docstring)."""
    with db.transaction() as tx:
        row = tx.execute("SELECT value FROM site_state WHERE key = ?", (SITE_KEY,)).fetchone()
        if row is None:
            tx.execute("INSERT INTO site_state (key, value) VALUES (?, ?)", (SITE_KEY, site_id))
        elif row[0] != site_id:
            raise SiteIdMismatch.between(str(row[0]), site_id)


def check_claimed(db: Database, site_id: str) -> None:
    """SiteIdMismatch if the open database records another site (reads only)."""
    row = db.query("SELECT value FROM site_state WHERE key = ?", (SITE_KEY,))
    if row and row[0][0] != site_id:
        raise SiteIdMismatch.between(str(row[0][0]), site_id)


def check_site(database: Path, site_id: str) -> None:
    """SiteIdMismatch if the database file records another site; reads only (no file is made)."""
    if not database.is_file():
        return
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT value FROM site_state WHERE key = ?", (SITE_KEY,)
        ).fetchone()
    except sqlite3.OperationalError:  # no site_state yet: nothing recorded to disagree with
        return
    finally:
        connection.close()
    if row is not None and row[0] != site_id:
        raise SiteIdMismatch.between(str(row[0]), site_id)
