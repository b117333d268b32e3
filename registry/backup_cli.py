"""`gerbang registry backup|restore`: the registry's database to one sealed file and back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kernel import sealed
from registry.backup import RegistryBackupKeyMissing, restore_backup, write_backup
from registry.settings import RegistrySettings


def _passphrase(args: argparse.Namespace) -> str | None:
    return sys.stdin.readline().rstrip("\n") if args.passphrase_stdin else None


def backup(args: argparse.Namespace) -> int:
    """Seal a consistent snapshot of the running registry's database."""
    settings = RegistrySettings()
    passphrase = _passphrase(args)
    try:
        if passphrase is not None:
            key: sealed.SealingKey | None = sealed.key_from_passphrase(passphrase)
        elif args.key_file:
            key = sealed.key_from_file(Path(args.key_file))
        elif args.insecure_plain:
            key = None
        else:
            raise RegistryBackupKeyMissing()
    except sealed.SealError as exc:
        raise RegistryBackupKeyMissing(reason=str(exc)) from exc
    header = write_backup(settings.database_url, Path(args.out), key)
    how = "unencrypted (--insecure-plain)" if key is None else f"sealed ({key.kdf['kind']})"
    print(f"cadangan {args.out} ditulis ({how}), per {header['created_at']}\n"
          f"wrote {args.out}, {how}, as of {header['created_at']}")  # fmt: skip
    print("Simpan kunci cadangan terpisah dari cadangannya, dan kunci data registri terpisah dari"
          " keduanya.\n"
          "Keep the backup key apart from the backups, and the registry's own data key apart from"
          " both.")  # fmt: skip
    return 0


def restore(args: argparse.Namespace) -> int:
    """Load a backup into a new, empty database (created if missing)."""
    key_file = Path(args.key_file) if args.key_file else None
    summary = restore_backup(Path(args.file), args.database_url, key_file, _passphrase(args))
    print(f"registri {summary.backend} per {summary.created_at} dipulihkan ke"
          f" {summary.database_url}\n"
          f"restored the {summary.backend} registry of {summary.created_at} into"
          f" {summary.database_url}")  # fmt: skip
    print("Jalankan dengan REGISTRY_DATABASE_URL menunjuk basis data itu, lalu"
          " `gerbang registry audit verify`.\n"
          "Start it with REGISTRY_DATABASE_URL set to that database, then run"
          " `gerbang registry audit verify`.")  # fmt: skip
    return 0


def add_parsers(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`registry backup` and `registry restore`."""
    out = actions.add_parser(
        "backup", help="seal a snapshot of the registry's database (it may be running)"
    )
    out.add_argument("--out", required=True, help="the backup file to write (0600)")
    back = actions.add_parser("restore", help="load a backup into a new, empty database")
    back.add_argument("file", help="a file written by `gerbang registry backup`")
    back.add_argument("--database-url", required=True,
                      help="the database to load into: created if missing, refused if it holds a registry")  # fmt: skip
    for parser in (out, back):
        parser.add_argument("--key-file", help="32 bytes (or their base64) on separate media")
        parser.add_argument("--passphrase-stdin", action="store_true",
                            help="read a passphrase (12 characters or more) from stdin")  # fmt: skip
    out.add_argument(
        "--insecure-plain", action="store_true", help="write it unencrypted (not advised)"
    )
    out.set_defaults(handler=backup)
    back.set_defaults(handler=restore)
