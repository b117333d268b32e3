"""`gerbang keys ...`: the data key that seals biometrics at rest, and the KEK that wraps it.

`rotate` makes a new data key and re-seals every value under it while the service keeps running
(its next seal uses the new key); `rewrap` wraps the same data key under a new KEK (a new
passphrase, or a key file moved to separate media); `status` says which KEK is in use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.settings import Settings, site_settings
from enrollment.audit import append_event
from enrollment.db import Database
from enrollment.keyring import (
    Kek,
    KeyUnavailable,
    SealedVault,
    passphrase_kek,
    read_key_file,
    resolve_kek,
    write_key_file,
)
from enrollment.resealing import rewrap, rotate

ACTOR = "console"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="encryption at rest: rotate the data key, rewrap it")
    actions = keys.add_subparsers(dest="action", required=True)
    rotate_parser = actions.add_parser("rotate", help="new data key; re-seal everything, online")
    rotate_parser.add_argument("--batch", type=int, default=200, help="rows per transaction")
    rotate_parser.set_defaults(handler=rotate_command)
    rewrap_parser = actions.add_parser("rewrap", help="wrap the data key under a new KEK")
    new = rewrap_parser.add_mutually_exclusive_group(required=True)
    new.add_argument("--new-passphrase-file", type=Path, help="file holding the new passphrase")
    new.add_argument("--new-kek-file", type=Path, help="new 32-byte key file (created if absent)")
    rewrap_parser.set_defaults(handler=rewrap_command)
    status = actions.add_parser("status", help="which KEK wraps the data key")
    status.set_defaults(handler=status_command)


def _current(settings: Settings, db: Database) -> Kek:
    key = settings.key
    return resolve_kek(key.passphrase_file, key.kek_file, settings.data_dir, db)


def rotate_command(args: argparse.Namespace) -> int:
    """Re-seal every stored biometric under a new data key; the old one is then deleted."""
    settings = site_settings()
    db = Database(settings.database_path)
    try:
        changed = rotate(db, _current(settings, db), batch=args.batch)
        with db.transaction() as tx:
            append_event(tx, ACTOR, "vault.key_rotated", settings.site_id, {"resealed": changed})
    finally:
        db.close()
    print(f"data key rotated: {changed} values re-sealed; the old key is deleted")
    return 0


def rewrap_command(args: argparse.Namespace) -> int:
    """Wrap the data key under a new KEK; set the matching EDGE_KEY__* before the next start."""
    settings = site_settings()
    if args.new_kek_file is not None:
        if not args.new_kek_file.exists():
            write_key_file(args.new_kek_file)
        new = Kek("key_file", read_key_file(args.new_kek_file), False, str(args.new_kek_file))
        setting = f"EDGE_KEY__KEK_FILE={args.new_kek_file}"
    else:
        new = passphrase_kek(args.new_passphrase_file)
        setting = f"EDGE_KEY__PASSPHRASE_FILE={args.new_passphrase_file}"
    db = Database(settings.database_path)
    try:
        old = _current(settings, db)
        count = rewrap(db, old, new)
        with db.transaction() as tx:
            append_event(tx, ACTOR, "vault.key_rewrapped", settings.site_id, {"kek": new.kind})
    finally:
        db.close()
    if old.development:  # it unwraps nothing now; left beside the database it would mislead
        Path(old.source).unlink(missing_ok=True)
    print(f"{count} data key(s) now wrapped by the new KEK; start the service with {setting}")
    return 0


def status_command(_args: argparse.Namespace) -> int:
    """Print the KEK in use and the data keys (ids and states only); 1 if the KEK does not fit."""
    settings = site_settings()
    db = Database(settings.database_path)
    try:
        kek = _current(settings, db)
        try:
            SealedVault(db, kek)
            opens, code = ("membuka kunci data", "it unwraps the data key"), 0
        except KeyUnavailable:
            opens, code = ("TIDAK membuka kunci data", "it does NOT unwrap the data key"), 1
        rows = db.query("SELECT id, kek_kind, state, created_at FROM vault_keys ORDER BY id")
    finally:
        db.close()
    print(f"KEK: {kek.kind} ({kek.source}); {opens[0]}\nKEK: {kek.kind} ({kek.source}); {opens[1]}")
    for key_id, kind, state, created in rows:
        print(f"  data key {key_id}: {state}, wrapped by {kind}, created {created}")
    if kek.development:
        print(
            "peringatan: KEK ini berkas kunci pengembangan di samping basis data\n"
            "warning: the KEK is a development key file beside the database"
        )
    return code
