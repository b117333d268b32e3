"""A site's backup: one sealed file holding a consistent copy of the database and every file
under the data folder that cannot be made again, and the restore that brings it back.

The database is copied with SQLite's online backup API while the service runs: the copy is one
snapshot (a read transaction in WAL mode does not stop the desk or the gate from writing). It
holds the wrapped data keys of encryption at rest. Kept beside it: the site's signing key
(keys/), its TLS files (tls/), calibrations, and whatever else the site writes under
EDGE_DATA_DIR. Left out: the model cache (made again from the models), the NBIS build, earlier
backups kept in `backups/`, the backup's own key file, and the key-encryption key (KEK). The KEK
must be kept apart from the backup, or the backup would open the biometrics it protects: a site
on the development KEK file (`vault-dev.key`) copies that file separately.

The archive is a tar: `backup.json` (what it holds, with a sha256 per member), `gerbang.db`,
then `files/<path>`; it is sealed by kernel/sealed.py (AES-256-GCM, a key file or a passphrase).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kernel import sealed
from kernel.clock import now_iso
from kernel.errors import Conflict, InputError, Message, Unavailable

DATABASE = "gerbang.db"
FORMAT = "gerbang-site-backup/1"
# Made again or kept apart, never in a backup: see the module docstring.
SKIPPED_FOLDERS = frozenset({"model-cache", "nbis", "backups"})
SKIPPED_FILES = frozenset(
    {DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal", "vault-dev.key"}
)
SCRATCH_PREFIX = ".backup-"


class BackupKeyMissing(InputError):
    code = "backup_key_missing"
    message = Message(
        "Cadangan tidak ditulis tanpa enkripsi. Atur EDGE_BACKUP__KEY_FILE, beri --key-file atau"
        " --passphrase-stdin (atau --insecure-plain bila memang disengaja).",
        "A backup is not written unencrypted. Set EDGE_BACKUP__KEY_FILE, give --key-file or"
        " --passphrase-stdin (or --insecure-plain if you really mean it).",
    )


# Restoring a sealed backup with no key given at all (not a wrong key), by how it was sealed.
KEY_TO_OPEN: dict[str, Message] = {
    "key_file": Message(
        "Cadangan ini disegel dengan berkas kunci, tetapi tidak ada kunci yang diberikan."
        " Berikan berkas kunci yang sama: --key-file BERKAS atau EDGE_BACKUP__KEY_FILE."
        " Tidak ada yang dipulihkan.",
        "This backup is sealed with a key file, but no key was given. Give the same key"
        " file: --key-file FILE or EDGE_BACKUP__KEY_FILE. Nothing was restored.",
    ),
    "scrypt": Message(
        "Cadangan ini disegel dengan frasa sandi, tetapi tidak ada frasa sandi yang diberikan."
        " Berikan frasa sandi yang sama: --ask-passphrase atau --passphrase-stdin. Tidak ada"
        " yang dipulihkan.",
        "This backup is sealed with a passphrase, but none was given. Give the same"
        " passphrase: --ask-passphrase or --passphrase-stdin. Nothing was restored.",
    ),
}


class BackupUnreadable(InputError):
    code = "backup_unreadable"
    message = Message(
        "Berkas cadangan tidak dapat dibuka: kunci atau frasa sandi salah, atau berkas rusak."
        " Tidak ada yang dipulihkan.",
        "The backup cannot be opened: wrong key or passphrase, or the file is damaged. Nothing"
        " was restored.",
    )


class RestoreTargetNotEmpty(Conflict):
    code = "restore_target_not_empty"
    message = Message(
        "Folder tujuan pemulihan tidak kosong. Pilih folder kosong, atau tambahkan --force untuk"
        " menimpanya (hentikan layanan dahulu).",
        "The folder to restore into is not empty. Choose an empty folder, or add --force to"
        " overwrite it (stop the service first).",
    )


class BackupSourceMissing(Unavailable):
    code = "backup_database_missing"
    message = Message(
        "Basis data situs tidak ditemukan di EDGE_DATA_DIR. Periksa EDGE_DATA_DIR.",
        "The site database was not found in EDGE_DATA_DIR. Check EDGE_DATA_DIR.",
    )


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, as `backup.json` records it."""

    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per table of interest at the moment of the snapshot."""
        return dict(self.manifest["counts"])

    @property
    def files(self) -> list[str]:
        """The kept files, relative to the data folder."""
        return [m["member"].removeprefix("files/") for m in self.manifest["members"][1:]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def snapshot_database(source: Path, target: Path) -> dict[str, int]:
    """Copy a live database with SQLite's online backup API; check it; count what it holds."""
    if not source.is_file():
        raise BackupSourceMissing(path=str(source))
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)  # all pages in one step: one consistent snapshot
        problem = copy.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupSourceMissing(path=str(source), integrity=problem)
        tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        counted = ("identities", "templates", "audit_events", "images")
        return {
            t: int(copy.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in counted
            if t in tables
        }
    finally:
        copy.close()
        live.close()


def _registrys(name: str) -> bool:
    """A demo registry's files beside the site (`var/registry.db`, `var/registry-keys/`): the
    registry has its own backup, `gerbang registry backup`."""
    return name.startswith("registry.db") or name.startswith("registry-")


def kept_files(data_dir: Path, apart: frozenset[Path] = frozenset()) -> list[Path]:
    """Every regular file under the data folder a backup carries, relative to it; files in
    `apart` (resolved paths: the backup's own key file) stay out, and so does what belongs to
    someone else: another site's data folder inside this one (any folder with its own database,
    as the README's demo makes), a demo registry's files, converted models at any depth."""
    kept: list[Path] = []
    for folder, folders, files in os.walk(data_dir):
        here = Path(folder).relative_to(data_dir)
        if here == Path():
            folders[:] = [f for f in folders if f not in SKIPPED_FOLDERS and not _registrys(f)]
        folders[:] = sorted(f for f in folders if not f.startswith(SCRATCH_PREFIX)
                            and f != "model-cache" and not (Path(folder) / f / DATABASE).exists())  # fmt: skip
        for name in sorted(files):
            path = Path(folder) / name
            skipped = here == Path() and (name in SKIPPED_FILES or _registrys(name))
            skipped = skipped or path.resolve() in apart
            if not skipped and path.is_file() and not path.is_symlink():
                kept.append(here / name)
    return kept


def write_backup(
    data_dir: Path,
    out: Path,
    key: sealed.SealingKey | None,
    site_id: str,
    apart: frozenset[Path] = frozenset(),
) -> BackupSummary:
    """Snapshot the database, gather the kept files, seal them into `out` (atomically)."""
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=SCRATCH_PREFIX) as scratch:
        snapshot = Path(scratch) / DATABASE
        counts = snapshot_database(data_dir / DATABASE, snapshot)
        sources = [(DATABASE, snapshot)] + [
            (f"files/{p.as_posix()}", data_dir / p)
            for p in kept_files(data_dir, apart | {out.resolve()})
        ]
        manifest = {
            "format": FORMAT,
            "site_id": site_id,
            "created_at": now_iso(),
            "counts": counts,
            "kek_included": False,
            "members": [
                {"member": m, "sha256": _sha256(p), "size": p.stat().st_size, "mode": _mode(p)}
                for m, p in sources
            ],
        }
        archive = Path(scratch) / "backup.tar"
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
            encoded = json.dumps(manifest, indent=2).encode("utf-8")
            manifest_file = Path(scratch) / "backup.json"
            manifest_file.write_bytes(encoded)
            tar.add(manifest_file, "backup.json")
            for member, path in sources:
                tar.add(path, member, recursive=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(out.name + ".tmp")
        meta = {"format": FORMAT, "site_id": site_id, "created_at": manifest["created_at"]}
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with archive.open("rb") as source, os.fdopen(descriptor, "wb") as sink:
            sealed.seal(source, sink, key, meta)
        os.replace(temporary, out)
    return BackupSummary(manifest)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def restore_backup(
    backup: Path,
    data_dir: Path,
    key_file: Path | None,
    passphrase: str | None,
    force: bool = False,
) -> BackupSummary:
    """Open, check and unpack a backup into `data_dir` (empty, unless `force`)."""
    if not backup.is_file():  # a typo or an unmounted disk, not a wrong key
        raise BackupUnreadable(
            Message(
                "Berkas cadangan tidak ditemukan di alamat itu. Periksa nama berkas dan apakah"
                " media penyimpanannya sudah terpasang. Tidak ada yang dipulihkan.",
                "There is no backup file at that path. Check the file name and that its disk is"
                " mounted. Nothing was restored.",
            ),
            path=str(backup),
            reason="the file does not exist",
        )
    if key_file is None and passphrase is None:
        _refuse_without_key(backup)
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise RestoreTargetNotEmpty(path=str(data_dir))
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=SCRATCH_PREFIX) as scratch:
        archive = Path(scratch) / "backup.tar"
        try:
            with backup.open("rb") as source, archive.open("wb") as sink:
                sealed.unseal(
                    source, sink, lambda kdf: sealed.key_for_header(kdf, key_file, passphrase)
                )
        except sealed.SealError as exc:
            raise BackupUnreadable(path=str(backup), reason=str(exc)) from exc
        except OSError as exc:
            raise BackupUnreadable(path=str(backup), reason=exc.strerror or str(exc)) from exc
        unpacked = Path(scratch) / "unpacked"
        manifest = _unpack_checked(backup, archive, unpacked)
        _move_into_place(unpacked, data_dir)
    return BackupSummary(manifest)


def _refuse_without_key(backup: Path) -> None:
    """A sealed backup and no key given at all: say which key it needs, not that it is wrong."""
    try:
        with backup.open("rb") as source:
            header, _ = sealed.read_header(source)
    except (sealed.SealError, OSError):
        return  # opening it says what is wrong with the file
    kdf = header.get("kdf")
    kind = kdf.get("kind") if isinstance(kdf, dict) else None
    if header.get("cipher") != "none" and kind in KEY_TO_OPEN:
        raise BackupKeyMissing(KEY_TO_OPEN[kind], path=str(backup), sealed_with=kind)


def _unpack_checked(backup: Path, archive: Path, target: Path) -> dict[str, Any]:
    """Extract every member listed in backup.json and check its sha256 and size."""
    try:
        with tarfile.open(archive, "r:") as tar:
            handle = tar.extractfile("backup.json")
            assert handle is not None
            manifest = dict(json.loads(handle.read()))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"unknown format {manifest.get('format')!r}")
            for item in manifest["members"]:
                name = PurePosixPath(item["member"])
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"a member's name is not allowed: {name}")
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(str(name))
                assert source is not None
                with source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                destination.chmod(int(item.get("mode", 0o600)))
                if (_sha256(destination), destination.stat().st_size) != (
                    item["sha256"],
                    item["size"],
                ):
                    raise ValueError(f"{name} differs from its digest")
    except (tarfile.TarError, KeyError, ValueError, TypeError) as exc:
        raise BackupUnreadable(path=str(backup), reason=str(exc)) from exc
    return manifest


def _move_into_place(unpacked: Path, data_dir: Path) -> None:
    """The database first (after removing any stale WAL), then the kept files."""
    for suffix in ("-wal", "-shm", "-journal"):
        (data_dir / f"{DATABASE}{suffix}").unlink(missing_ok=True)
    os.replace(unpacked / DATABASE, data_dir / DATABASE)
    files = unpacked / "files"
    for path in sorted(files.rglob("*")) if files.is_dir() else []:
        if path.is_file():
            destination = data_dir / path.relative_to(files)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
