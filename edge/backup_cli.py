"""`gerbang backup`, `gerbang restore` and `gerbang recover`: a site's data folder to one sealed
file and back; and a dead site rebuilt from that file plus what the registry holds for it."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import asdict
from pathlib import Path

from edge.backup import DATABASE, BackupKeyMissing, restore_backup, write_backup
from edge.settings import Settings, site_settings
from edge.site import Site
from enrollment.keyring import DEV_KEK_NAME, stored_keys
from kernel import sealed
from kernel.credentials import NoTerminal, ask_twice
from kernel.errors import InputError, Message
from site_sync.recovery import apply_holdings, fetch_holdings
from site_sync.site_key import site_key
from site_sync.uplink import RegistryClient


class RecoveryRegistryMissing(InputError):
    code = "recovery_registry_missing"
    message = Message(
        "Pemulihan mengambil data dari registri pusat: sebutkan alamatnya dengan --registry URL"
        " atau EDGE_SYNC__REGISTRY_URL.",
        "Recovery takes data back from the central registry: name it with --registry URL or"
        " EDGE_SYNC__REGISTRY_URL.",
    )


def _passphrase(args: argparse.Namespace, confirm: bool) -> str | None:
    if args.passphrase_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not getattr(args, "ask_passphrase", False):
        return None
    if confirm:
        return ask_twice("Passphrase")
    if not sys.stdin.isatty():
        raise NoTerminal(asked="Passphrase")
    return getpass.getpass("Passphrase: ")


def _sealing_key(args: argparse.Namespace, settings: Settings) -> sealed.SealingKey | None:
    key_file = Path(args.key_file) if args.key_file else settings.backup.key_file
    passphrase = _passphrase(args, confirm=True)
    try:
        if passphrase is not None:
            return sealed.key_from_passphrase(passphrase)
        if key_file is not None:
            return sealed.key_from_file(key_file)
    except sealed.SealError as exc:
        raise BackupKeyMissing(reason=str(exc)) from exc
    if args.insecure_plain:
        return None
    raise BackupKeyMissing()


def backup(args: argparse.Namespace) -> int:
    """Write a sealed snapshot of the running site's data folder."""
    settings = site_settings()
    key = _sealing_key(args, settings)
    key_file = Path(args.key_file) if args.key_file else settings.backup.key_file
    apart = frozenset({key_file.resolve()} if key_file else set())
    summary = write_backup(settings.data_dir, Path(args.out), key, settings.site_id, apart)
    how = ("tidak terenkripsi", "unencrypted (--insecure-plain)") if key is None else (
        f"tersegel ({key.kdf['kind']})", f"sealed ({key.kdf['kind']})")  # fmt: skip
    print(f"cadangan ditulis ke {args.out}, {how[0]}: basis data {summary.counts}\n"
          f"wrote {args.out}, {how[1]}: database {summary.counts}")  # fmt: skip
    for name in summary.files:
        print(f"  kept {name}")
    print("Kunci pembungkus (KEK) biometrik tidak ada di dalam cadangan: simpan di tempat lain.\n"
          "The key-encryption key (KEK) of the biometrics is not in the backup: keep it apart.")  # fmt: skip
    if (settings.data_dir / DEV_KEK_NAME).exists():
        print(f"Situs ini memakai kunci pengembangan {DEV_KEK_NAME}: salin juga berkas itu, terpisah"
              " dari cadangan; pemulihan membutuhkannya.\n"
              f"This site is on the development key {DEV_KEK_NAME}: copy that file too, apart from"
              " the backup; a restore needs it.")  # fmt: skip
    return 0


def restore(args: argparse.Namespace) -> int:
    """Open, check and unpack a backup into a data folder."""
    settings = Settings()
    key_file = Path(args.key_file) if args.key_file else settings.backup.key_file
    passphrase = _passphrase(args, confirm=False)
    summary = restore_backup(Path(args.file), Path(args.to), key_file, passphrase, args.force)
    manifest = summary.manifest
    site, at, folder = manifest["site_id"], manifest["created_at"], Path(args.to).resolve()
    print(f"situs {site} per {at} dipulihkan ke {args.to}: basis data {summary.counts};"
          f" {len(summary.files)} berkas\n"
          f"restored site {site} as of {at} into {args.to}: database {summary.counts};"
          f" {len(summary.files)} kept files")  # fmt: skip
    for indonesian, english in _kek_advice(folder, site):
        print(f"{indonesian}\n{english}")
    return 0


# How each kind of KEK is given to the service (`vault_keys.kek_kind`, enrollment/keyring.py).
KEK_KINDS = {
    "key_file": ("berkas kunci", "a key file", "EDGE_KEY__KEK_FILE"),
    "passphrase": ("frasa sandi", "a passphrase", "EDGE_KEY__PASSPHRASE_FILE"),
    "credential": ("kredensial systemd", "a systemd credential", "LoadCredential=gerbang-kek"),
}


def _kek_advice(folder: Path, site: str) -> list[tuple[str, str]]:
    """What a restored folder needs before the service starts, in both languages: the KEK its
    data keys are wrapped by, which no backup holds (`vault-dev.key` included); then the checks,
    with the site's own code (the database refuses any other: enrollment/site_identity.py)."""
    dev, kinds = folder / DEV_KEK_NAME, {kind for *_, kind in stored_keys(folder / DATABASE)}
    advice = [
        (f"Cadangan tidak berisi KEK situs (berkas kuncinya, atau {DEV_KEK_NAME} untuk situs"
         " pengembangan): KEK itu harus terpasang sebelum layanan dijalankan.",
         f"The backup does not hold the site's KEK (its key file, or {DEV_KEK_NAME} for a"
         " development site): it must be in place before the service starts."),
    ]  # fmt: skip
    if "development" in kinds and dev.exists():
        advice.append((f"{DEV_KEK_NAME} sudah ada di {folder}.", f"{DEV_KEK_NAME} is in {folder}."))
    elif "development" in kinds:
        advice.append(
            (f"Situs ini memakai kunci pengembangan: salin {DEV_KEK_NAME} dari folder data lama"
             f" ke {folder}.",
             f"This site used the development key: copy {DEV_KEK_NAME} from the old data folder"
             f" into {folder}.")
        )  # fmt: skip
    for name_id, name_en, setting in (KEK_KINDS[k] for k in sorted(kinds & KEK_KINDS.keys())):
        advice.append(
            (f"Kunci data situs ini dibungkus oleh {name_id}: beri layanan KEK yang sama"
             f" ({setting}).",
             f"This site's data keys are wrapped by {name_en}: give the service the same KEK"
             f" ({setting}).")
        )  # fmt: skip
    where = f"EDGE_DATA_DIR={folder} EDGE_SITE_ID={site}"
    check = f"{where} gerbang doctor"
    advice.append(
        (f"Lalu `{check}` memeriksa bahwa KEK itu cocok (keys tidak FAIL); jalankan layanan dengan"
         f" {where} dan `gerbang audit verify`.",
         f"Then `{check}` checks that the KEK fits (keys does not FAIL); start the service with"
         f" {where} and run `gerbang audit verify`.")
    )  # fmt: skip
    return advice


def recover(args: argparse.Namespace) -> int:
    """Restore a backup into an empty folder, then take back from the registry what it holds."""
    settings = Settings(data_dir=Path(args.to))
    url = args.registry or settings.sync.registry_url
    if not url:
        raise RecoveryRegistryMissing()
    key_file = Path(args.key_file) if args.key_file else settings.backup.key_file
    passphrase = _passphrase(args, confirm=False)
    restored = restore_backup(Path(args.file), Path(args.to), key_file, passphrase, args.force)
    site_id, at = restored.manifest["site_id"], restored.manifest["created_at"]
    print(f"situs {site_id} per {at} dipulihkan\nrestored site {site_id} as of {at}")
    site = Site(settings)
    registry = RegistryClient.connect(
        url, settings.site_id, site_key(settings), ca_file=settings.sync.registry_ca_file
    )
    try:
        report = apply_holdings(site.db, site.vault, settings.site_id, fetch_holdings(registry))
    finally:
        registry.close()
        site.close()
    print(json.dumps(asdict(report), indent=2))
    folder, seq = Path(args.to).resolve(), report.outbox_next_seq
    print(f"Jalankan layanan dengan EDGE_DATA_DIR={folder}; pengirimannya berlanjut dari seq {seq}."
          " Jalankan `gerbang audit verify`.\n"
          f"Start the service with EDGE_DATA_DIR={folder}; it pushes from seq {seq} on."
          " Run `gerbang audit verify`.")  # fmt: skip
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `backup` and `restore`."""
    out = sub.add_parser("backup", help="write a sealed snapshot of the site (it may be running)")
    out.add_argument("--out", required=True, help="the backup file to write")
    back = sub.add_parser("restore", help="unpack a backup into a data folder")
    back.add_argument("file", help="a file written by `gerbang backup`")
    back.add_argument("--to", required=True, help="the data folder to restore into")
    back.add_argument("--force", action="store_true", help="overwrite a non-empty folder")
    again = sub.add_parser(
        "recover", help="rebuild a dead site: its backup, then its people from the registry"
    )
    again.add_argument("file", help="the site's last backup (`gerbang backup`)")
    again.add_argument("--to", required=True, help="an empty folder, the new EDGE_DATA_DIR")
    again.add_argument("--registry", help="override EDGE_SYNC__REGISTRY_URL")
    again.add_argument(
        "--force", action="store_true", help="restore over a folder a failed recovery left"
    )
    for parser in (out, back, again):
        parser.add_argument("--key-file", help="override EDGE_BACKUP__KEY_FILE")
        parser.add_argument(
            "--passphrase-stdin", action="store_true", help="read a passphrase from standard input"
        )
        parser.add_argument(
            "--ask-passphrase", action="store_true", help="ask for a passphrase at the terminal"
        )
    out.add_argument(
        "--insecure-plain", action="store_true", help="write an unencrypted backup (not advised)"
    )
    out.set_defaults(handler=backup)
    back.set_defaults(handler=restore)
    again.set_defaults(handler=recover)
