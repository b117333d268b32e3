"""`gerbang devices add|rekey|revoke|list`: a site's gate terminals, on the database of EDGE_DATA_DIR.

    gerbang devices add kiosk-1 --gate main     # its key, printed once
    gerbang devices list                        # every terminal: the NAME `rekey` takes
    gerbang devices rekey kiosk-1               # a new key; the old one is refused at once
    gerbang devices revoke kiosk-1              # a lost or stolen terminal: its key is refused

A key is shown once, when it is made; only its sha256 is stored, and `list` shows neither.
"""

from __future__ import annotations

import argparse
from contextlib import closing

from edge.admin_commands import login_name
from edge.settings import Settings
from enrollment.accounts import AccountStore
from enrollment.db import Database
from enrollment.unit_of_work import unit_of_work
from kernel.console_table import table, utc_minute

COLUMNS = ("NAME", "GATE", "STATE", "CREATED (UTC)")


def devices_add(args: argparse.Namespace) -> int:
    """Register a gate terminal and print its key once."""
    db = Database(Settings().database_path)
    with unit_of_work(db) as uow:
        device_id, key = uow.accounts.add_device(args.name, args.gate, login_name())
        configured = uow.connection.execute(
            "SELECT 1 FROM gates WHERE id = ?", (args.gate,)
        ).fetchone()
    print(f"terminal {args.name} di gerbang {args.gate}: {device_id}\n"
          f"device {args.name} at gate {args.gate}: {device_id}\n"
          f"kunci (ditampilkan sekali saja; masukkan di pengaturan kios) /"
          f" key (shown once; send as X-Device-Key): {key}")  # fmt: skip
    if configured is None:
        how = f"`gerbang gate add {args.gate} --directions ... --roles ...`"
        print(f"catatan: gerbang {args.gate} belum diatur; atur dengan {how} (atau POST /v1/gates)"
              " sebelum kios dapat memakainya\n"
              f"note: gate {args.gate} is not configured yet; configure it with {how} (or POST"
              " /v1/gates) before the kiosk can use it")  # fmt: skip
    return 0


def devices_rekey(args: argparse.Namespace) -> int:
    """Give a gate terminal a new key (the old one is refused at once) and print it once."""
    db = Database(Settings().database_path)
    with unit_of_work(db) as uow:
        device_id, key = uow.accounts.rekey_device(args.name, login_name())
    print(
        f"terminal {args.name}: {device_id}\n"
        f"kunci baru (ditampilkan sekali saja) / new key (shown once; send as X-Device-Key): {key}\n"
        "kunci lama ditolak mulai sekarang; masukkan kunci baru di pengaturan terminal\n"
        "the old key is refused from now on; enter the new key in the terminal's setup"
    )
    return 0


def devices_revoke(args: argparse.Namespace) -> int:
    """Refuse a terminal's key from now on; its decisions stay on record."""
    db = Database(Settings().database_path)
    with unit_of_work(db) as uow:
        device_id, was_active = uow.accounts.revoke_device(args.name, login_name())
    if was_active:
        print(f"terminal {args.name} ({device_id}) dicabut: kuncinya ditolak mulai sekarang;"
              f" `gerbang devices rekey {args.name}` memberinya kunci baru\n"
              f"terminal {args.name} ({device_id}) revoked: its key is refused from now on;"
              f" `gerbang devices rekey {args.name}` gives it a new key")  # fmt: skip
    else:
        print(f"terminal {args.name} sudah dicabut: tidak ada yang berubah\n"
              f"terminal {args.name} was already revoked: nothing changed")  # fmt: skip
    return 0


def devices_list(_args: argparse.Namespace) -> int:
    """Every terminal: its name, gate, whether its key is accepted, and when it was registered."""
    with closing(Database(Settings().database_path)) as db, db.reading() as tx:
        devices = AccountStore(tx).devices()
    if not devices:
        print("belum ada terminal gerbang: gerbang devices add NAMA --gate GATE_ID\n"
              "no gate terminal registered yet: gerbang devices add NAME --gate GATE_ID")  # fmt: skip
        return 0
    rows = [(d.name, d.gate_id, "active" if d.active else "revoked", utc_minute(d.created_at)) for d in devices]  # fmt: skip
    print("\n".join(table([COLUMNS, *rows])))
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `devices add|rekey|revoke|list` to the main parser."""
    devices = sub.add_parser("devices", help="gate terminals").add_subparsers(
        dest="action", required=True
    )
    device = devices.add_parser("add", help="register a gate terminal")
    device.add_argument("name")
    device.add_argument("--gate", required=True, help="the gate this terminal stands at")
    device.set_defaults(handler=devices_add)
    rekey = devices.add_parser(
        "rekey", help="give a gate terminal a new key; its old key is refused at once"
    )
    rekey.add_argument("name", help="the terminal's name, as given to `devices add`")
    rekey.set_defaults(handler=devices_rekey)
    revoke = devices.add_parser(
        "revoke", help="refuse a lost or stolen terminal's key from now on (rekey brings it back)"
    )
    revoke.add_argument("name", help="the terminal's name, as `devices list` shows it")
    revoke.set_defaults(handler=devices_revoke)
    listing = devices.add_parser(
        "list",
        help="every terminal: name, gate, active or revoked, when registered (never its key)",
    )
    listing.set_defaults(handler=devices_list)
