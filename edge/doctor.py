"""`gerbang doctor`: everything a site needs, checked one by one, each with what to fix.

Each check returns a `Finding`: OK, WARN (the site works, something is missing or soon will
be) or FAIL (a part of the site will not work), with the fix in Indonesian and English. A check
never raises: whatever goes wrong inside one is that check's FAIL. The command exits 1 on any
FAIL, so it can gate an install script or a monitoring probe. The registry check signs a request
with the site key, as the agent does: a registry that answers but refuses the key is a FAIL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge import wiring
from edge.nbis_build import NbisBuild
from edge.settings import Settings
from enrollment.keyring import (
    DEV_KEK_NAME,
    KeyUnavailable,
    development_kek,
    stored_keys,
    supplied_kek,
    unwrap,
)
from enrollment.reextraction import census_of
from enrollment.site_identity import SiteIdMismatch, check_site
from httpkit.tls import server_files
from kernel.errors import GerbangError, Message
from kernel.network import is_loopback
from models.store import FileStatus
from site_sync import problems
from site_sync.site_key import key_path, site_key
from site_sync.state import PULLED, read_int
from site_sync.uplink import RegistryClient, RegistryUnreachable, SyncRefused, describe

Status = Literal["OK", "WARN", "FAIL"]
CERT_WARN_DAYS = 30
DISK_WARN_BYTES, DISK_FAIL_BYTES = 2 * 1024**3, 200 * 1024**2


@dataclass(frozen=True)
class Finding:
    """One check's result: its status, what was seen, and (unless OK) what to do."""

    check: str
    status: Status
    seen: str
    fix: Message | None = None


def ok(check: str, seen: str) -> Finding:
    """A check that passed."""
    return Finding(check, "OK", seen)


def models(settings: Settings) -> Finding:
    """Every file of the pack in use (the one `gerbang reembed` switched to, else EDGE_PACK) is
    present and matches its sha256."""
    pack = wiring.pack_named(settings, wiring.pack_in_use(settings))
    states = wiring.model_store(settings).pack_status(pack)
    bad = [s for s in states if s.state != "verified"]
    if not bad:
        return ok("models", f"pack {pack.id}: {len(states)} files verified")
    only_conversions = all(s.file.conversion and s.state == "missing" for s in bad)
    seen = f"pack {pack.id}: " + "; ".join(_file_seen(s) for s in bad)
    if only_conversions:
        return Finding(
            "models",
            "WARN",
            seen,
            Message(
                "Model akan dikonversi saat layanan pertama kali berjalan, atau jalankan"
                " `gerbang models convert`.",
                "The model is converted when the service first starts, or run"
                " `gerbang models convert`.",
            ),
        )
    return Finding(
        "models",
        "FAIL",
        seen,
        Message(
            f"Letakkan berkas model di {settings.model_dir} (EDGE_MODEL_DIR): `gerbang models"
            " fetch`, atau `gerbang models install BERKAS` dari USB.",
            f"Put the model files in {settings.model_dir} (EDGE_MODEL_DIR): `gerbang models"
            " fetch`, or `gerbang models install FILE` from a USB stick.",
        ),
    )


def _file_seen(status: FileStatus) -> str:
    """A file that is not verified; a converted one says why (absent, or made by an old converter)."""
    seen = f"{status.file.name} {status.state} ({status.path})"
    if status.file.conversion and status.state == "missing":
        return f"{seen}: {status.detail}"
    return seen


def fingerprint_extractor(_: Settings) -> Finding:
    """The NBIS library loads (or this machine can build it at start)."""
    build = NbisBuild()
    if build.loadable():
        return ok("fingerprint_extractor", f"NBIS at {build.library}")
    reason = build.cannot_build()
    fix = Message(
        "Pasang gcc dan make lalu jalankan `bash scripts/build_nbis.sh`, atau atur GERBANG_NBIS_LIB.",
        "Install gcc and make, then run `bash scripts/build_nbis.sh`, or set GERBANG_NBIS_LIB.",
    )
    if reason:
        return Finding("fingerprint_extractor", "FAIL", reason, fix)
    return Finding(
        "fingerprint_extractor", "WARN", f"not built yet at {build.library}; built at start", fix
    )


def reader(_: Settings) -> Finding:
    """libfprint is importable and lists a reader; none attached is a warning."""
    try:
        import gi

        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint
    except (ImportError, ValueError) as exc:
        return Finding(
            "reader",
            "WARN",
            f"libfprint not importable: {exc}",
            Message(
                "Untuk pemindai sidik jari, jalankan `bash scripts/install_fingerprint_stack.sh`.",
                "For a fingerprint reader, run `bash scripts/install_fingerprint_stack.sh`.",
            ),
        )
    devices = FPrint.Context().get_devices()
    if not devices:
        return Finding(
            "reader",
            "WARN",
            "libfprint present, no reader attached",
            Message(
                "Colokkan pemindai sidik jari (USB) bila situs ini memakainya.",
                "Plug in the fingerprint reader (USB) if this site uses one.",
            ),
        )
    names = ", ".join(f"{d.get_driver()} ({d.get_name()})" for d in devices)
    return ok("reader", names)


def camera(source: str) -> Callable[[Settings], Finding]:
    """OpenCV opens the camera; none is a warning (a server has no camera)."""

    def check(_: Settings) -> Finding:
        import cv2

        with contextlib.suppress(AttributeError):  # OpenCV's own log would bury the answer
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
        try:
            opened = bool(capture.isOpened()) and capture.read()[0]
        finally:
            capture.release()
        if opened:
            return ok("camera", f"source {source} gives frames")
        return Finding(
            "camera",
            "WARN",
            f"OpenCV cannot read source {source}",
            Message(
                "Pasang kamera atau beri alamatnya: `gerbang doctor --camera rtsp://...`"
                " (abaikan di server tanpa kamera).",
                "Attach the camera or give its address: `gerbang doctor --camera rtsp://...`"
                " (ignore on a server without a camera).",
            ),
        )

    return check


def tls(settings: Settings, today: dt.datetime | None = None) -> Finding:
    """Certificate files present, readable and not expiring within 30 days."""
    files = server_files(settings.tls_dir, settings.tls.cert_file, settings.tls.key_file)
    init = Message(
        "Jalankan `gerbang tls init --host NAMA` (atau atur EDGE_TLS__CERT_FILE/KEY_FILE).",
        "Run `gerbang tls init --host NAME` (or set EDGE_TLS__CERT_FILE/KEY_FILE).",
    )
    if files is None:
        status: Status = "WARN" if is_loopback(settings.host) else "FAIL"
        return Finding("tls", status, f"no certificate; listening on {settings.host}", init)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    if not files.key.is_file():
        return Finding("tls", "FAIL", f"key file missing: {files.key}", init)
    left = cert.not_valid_after_utc - (today or dt.datetime.now(dt.UTC))
    seen = f"{files.cert} valid until {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days)"
    if left.total_seconds() <= 0:
        return Finding("tls", "FAIL", seen, init)
    if left.days < CERT_WARN_DAYS:
        return Finding("tls", "WARN", seen, init)
    return ok("tls", seen)


def clock(_: Settings) -> Finding:
    """The system clock is plausibly set (certificates and audit times depend on it)."""
    now = dt.datetime.now(dt.UTC)
    if 2025 <= now.year < 2100:
        return ok("clock", f"{now:%Y-%m-%d %H:%M} UTC")
    return Finding(
        "clock",
        "FAIL",
        f"{now:%Y-%m-%d %H:%M} UTC",
        Message(
            "Jam sistem salah. Setel jam (NTP: `timedatectl set-ntp true`).",
            "The system clock is wrong. Set it (NTP: `timedatectl set-ntp true`).",
        ),
    )


def disk(settings: Settings) -> Finding:
    """Free space where the database and images grow."""
    folder = settings.data_dir if settings.data_dir.exists() else Path()
    free = shutil.disk_usage(folder).free
    seen = f"{free / 1024**3:.1f} GB free in {folder.resolve()}"
    if free >= DISK_WARN_BYTES:
        return ok("disk", seen)
    fix = Message(
        "Kosongkan disk atau pindahkan EDGE_DATA_DIR ke disk yang lebih besar.",
        "Free disk space or move EDGE_DATA_DIR to a larger disk.",
    )
    return Finding("disk", "FAIL" if free < DISK_FAIL_BYTES else "WARN", seen, fix)


def database(settings: Settings) -> Finding:
    """The SQLite file opens and passes a quick integrity check."""
    path = settings.database_path
    if not path.is_file():
        return Finding(
            "database",
            "WARN",
            f"no database at {path}",
            Message(
                "Basis data dibuat saat layanan pertama kali berjalan; periksa EDGE_DATA_DIR.",
                "The database is created when the service first starts; check EDGE_DATA_DIR.",
            ),
        )
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = connection.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        connection.close()
    if result == "ok":
        try:
            check_site(path, settings.site_id)
        except SiteIdMismatch as exc:  # every command would refuse this data folder
            return Finding("database", "FAIL", f"{path}: {exc.details}", exc.message)
        return ok("database", f"{path}: quick_check ok")
    return Finding(
        "database",
        "FAIL",
        f"{path}: {result}",
        Message(
            "Basis data rusak. Hentikan layanan lalu pulihkan dari cadangan: `gerbang restore`.",
            "The database is damaged. Stop the service and restore the last backup:"
            " `gerbang restore`.",
        ),
    )


def registry(settings: Settings) -> Finding:
    """When the site syncs: its key exists, the registry answers and accepts a request signed
    with it, and the agent's last push or pull was not refused for another reason."""
    url = settings.sync.registry_url
    if url is None:
        return ok("registry", "no registry configured (EDGE_SYNC__REGISTRY_URL unset)")
    if not key_path(settings).is_file():
        return Finding(
            "registry",
            "FAIL",
            f"site key missing: {key_path(settings)}",
            Message(
                "Jalankan `gerbang sync keygen` dan daftarkan kunci publiknya di registri.",
                "Run `gerbang sync keygen` and register its public key at the registry.",
            ),
        )
    pulled, stored = _agent_state(settings)
    try:
        client = RegistryClient.connect(
            url, settings.site_id, site_key(settings), 5.0, settings.sync.registry_ca_file
        )
    except GerbangError as exc:  # a CA file that is not there, plain http across a network
        return Finding("registry", "FAIL", f"{url}: {exc.code} {exc.details}", exc.message)
    try:
        client.health()
        client.changes(pulled, 1)  # signed with the site key, as the agent's pulls are
    except RegistryUnreachable as exc:
        return Finding("registry", "FAIL", f"{url}: {describe(exc)}", REGISTRY_UNREACHABLE)
    except SyncRefused as exc:
        answer = problems.answer_of(exc)
        return Finding(
            "registry",
            "FAIL",
            f"{url} answers but refuses site {settings.site_id}: {_answer(answer)}",
            problems.fix_for(answer, settings.site_id),
        )
    finally:
        client.close()
    return _after_refusal(url, settings, stored)


REGISTRY_UNREACHABLE = Message(
    "Registri pusat tidak terjangkau. Periksa jaringan, EDGE_SYNC__REGISTRY_URL dan"
    " EDGE_SYNC__REGISTRY_CA_FILE. Situs tetap bekerja dan menyinkron nanti.",
    "The central registry cannot be reached. Check the network, EDGE_SYNC__REGISTRY_URL and"
    " EDGE_SYNC__REGISTRY_CA_FILE. The site keeps working and syncs later.",
)
RESUMES = Message(
    "Registri kini menerima kunci situs: agen melanjutkan pada putarannya berikutnya. Periksa"
    " lagi dengan `gerbang sync status`.",
    "The registry accepts the site key now: the agent resumes at its next round. Check again"
    " with `gerbang sync status`.",
)


def _agent_state(settings: Settings) -> tuple[int, dict[str, dict[str, Any] | None]]:
    """The agent's pull cursor and stored problems, read without writing (none: no database)."""
    path = settings.database_path
    if not path.is_file():
        return 0, {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return read_int(connection, PULLED), dict(problems.stored(connection))
    except sqlite3.OperationalError:  # a database the service has not migrated yet
        return 0, {}
    finally:
        connection.close()


def _answer(answer: dict[str, Any]) -> str:
    return f"{answer.get('status')} {answer.get('registry_code')}: {answer.get('reason')}"


def _after_refusal(
    url: str, settings: Settings, stored: dict[str, dict[str, Any] | None]
) -> Finding:
    """OK, unless the agent's last push or pull was refused: for the key (accepted now: it
    resumes) a warning; for anything else the stored fix."""
    for direction, problem in stored.items():
        if problem is None or not problems.is_refusal(problem):
            continue
        seen = f"{direction} refused since {problem['since']}: {_answer(problem)}"
        if problem.get("status") in (401, 403):
            return Finding("registry", "WARN", f"{url} accepts the site key now; {seen}", RESUMES)
        fix = problem.get("fix") or {}
        return Finding("registry", "FAIL", seen, Message(fix.get("id", ""), fix.get("en", "")))
    return ok("registry", f"{url} answers and accepts the site key {key_path(settings)}")


def finger_templates(settings: Settings) -> Finding:
    """Every finger template this site could re-extract was made by the configured extractor
    (thresholds are calibrated per extractor: models/fingerprint/extractors.py)."""
    path, extractor = settings.database_path, wiring.finger_extractor(settings)
    if not path.is_file():
        return ok("finger_templates", f"no database yet; {extractor.name} makes the templates")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = census_of(connection, extractor.label)
    finally:
        connection.close()
    seen = f"{found.current} by {extractor.name}"
    if found.without_image:
        seen += f", {found.without_image} from the registry by another extractor"
    if found.done:
        return ok("finger_templates", seen)
    return Finding(
        "finger_templates",
        "WARN",
        f"{seen}, {found.other} by another extractor: matched less well until re-extracted",
        Message(
            "Buat ulang templat dari citra sidik jari: `gerbang finger reextract`.",
            "Make the templates again from the fingerprint images: `gerbang finger reextract`.",
        ),
    )


def keys(settings: Settings) -> Finding:
    """The key that seals the biometrics at rest opens the site's data keys, as the service will
    at start; and it is supplied by the operator, not the development key file beside the
    database (a stolen disk would hold the key with the data). Reads only: it never creates that
    file nor a data key (the service does, on first start)."""
    key, dev = settings.key, settings.data_dir / DEV_KEK_NAME
    stored = stored_keys(settings.database_path)
    try:
        kek = supplied_kek(key.passphrase_file, key.kek_file)
        if kek is None and (dev.exists() or stored):  # else the service makes it: nothing to try
            kek = development_kek(settings.data_dir, {kind for *_, kind in stored})
        if kek is not None:
            for key_id, salt, wrapped, kind in stored:
                unwrap(kek, key_id, salt, wrapped, kind)
    except KeyUnavailable as exc:
        seen = ", ".join(f"{k}={v}" for k, v in exc.details.items())
        return Finding("keys", "FAIL", f"{exc.code}: {seen}", exc.message)
    opens = f"unwraps {len(stored)} data key(s)" if stored else "no data key yet (made at start)"
    if kek is not None and not kek.development:
        return ok("keys", f"KEK: {kek.kind} ({kek.source}); {opens}")
    return Finding(
        "keys",
        "WARN",
        f"development key file {dev}: the biometrics are sealed with a key kept beside them"
        + (f"; {opens}" if kek is not None else ""),
        Message(
            "Pindahkan ke kunci di media terpisah: `gerbang keys rewrap --new-kek-file"
            " /media/usb/gerbang.kek`, lalu jalankan layanan dengan EDGE_KEY__KEK_FILE.",
            "Move to a key on separate media: `gerbang keys rewrap --new-kek-file"
            " /media/usb/gerbang.kek`, then start the service with EDGE_KEY__KEK_FILE.",
        ),
    )


def checks(camera_source: str) -> list[tuple[str, Callable[[Settings], Finding]]]:
    """Every check, in the order they are printed."""
    return [
        ("models", models),
        ("fingerprint_extractor", fingerprint_extractor),
        ("reader", reader),
        ("camera", camera(camera_source)),
        ("tls", tls),
        ("clock", clock),
        ("disk", disk),
        ("database", database),
        ("finger_templates", finger_templates),
        ("keys", keys),
        ("registry", registry),
    ]


def run(settings: Settings, camera_source: str = "0") -> list[Finding]:
    """Run every check; an unexpected error inside one is that check's FAIL."""
    findings = []
    for name, check in checks(camera_source):
        try:
            findings.append(check(settings))
        except Exception as exc:
            findings.append(
                Finding(
                    name,
                    "FAIL",
                    f"{type(exc).__name__}: {exc}",
                    Message("Lihat pesan di atas.", "See the message above."),
                )
            )
    return findings


def format_findings(findings: list[Finding]) -> str:
    """One line per check, then the fix in both languages under anything not OK."""
    lines = []
    for finding in findings:
        lines.append(f"[{finding.status:<4}] {finding.check:<22} {finding.seen}")
        if finding.fix is not None:
            lines.append(f"{'':7} perbaiki: {finding.fix.id}")
            lines.append(f"{'':7} fix:      {finding.fix.en}")
    return "\n".join(lines)
