"""TLS for both services: a site CA and server certificate made on the spot, and the rules for serving.

`gerbang tls init` (and `gerbang registry tls init`) writes, under `<data dir>/tls/`:
- `ca.pem` / `ca.key`: a private certificate authority for this site (ECDSA P-256, 10 years); desk
  PCs and the registry's agents trust `ca.pem` and nothing else;
- `server.pem` / `server.key`: the service's certificate (2 years) for the names given, signed by it.
Keys are written 0600. The service serves HTTPS from the configured files, or from these when
present. Serving on an address other than loopback without TLS is refused at start: biometric
data never crosses a network in clear.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as Message_

from httpkit.front_door import PageLink, start_lines
from kernel.errors import Message, Unavailable
from kernel.network import is_loopback

HSTS = "max-age=31536000"


class TlsRequired(Unavailable):
    code = "tls_required"
    message = Message(
        "Layanan menolak berjalan tanpa TLS di alamat jaringan. Jalankan `gerbang tls init` "
        "atau atur berkas sertifikat.",
        "The service refuses to serve a network address without TLS. Run `gerbang tls init` "
        "or configure the certificate files.",
    )


class PortInUse(Unavailable):
    code = "port_in_use"
    message = Message(
        "Alamat dan port ini sudah dipakai program lain (mungkin layanan ini sudah berjalan)."
        " Hentikan program itu, atau pilih port lain dengan --port atau EDGE_PORT/REGISTRY_PORT.",
        "This address and port are already taken by another program (perhaps this service is"
        " already running). Stop it, or choose another port with --port or EDGE_PORT/REGISTRY_PORT.",
    )


def check_port_free(host: str, port: int) -> None:
    """PortInUse when nothing could listen at host:port now (checked before any model loads, so
    a second start says so at once instead of after loading, in uvicorn's English)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(host=host, port=port) from exc
            # anything else (a name that does not resolve here...) is uvicorn's to report


class TlsFilesMissing(Unavailable):
    code = "tls_files_missing"
    message = Message(
        "Berkas sertifikat atau kunci TLS tidak ditemukan. Periksa pengaturan TLS.",
        "The TLS certificate or key file was not found. Check the TLS settings.",
    )


class TlsSettings(BaseModel):
    """HTTPS for a service; unset, the server files `gerbang tls init` wrote are used if present."""

    model_config = ConfigDict(extra="forbid")

    cert_file: Path | None = Field(None, description="PEM certificate chain the service presents.")
    key_file: Path | None = Field(None, description="PEM private key of that certificate.")


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate chain and its private key."""

    cert: Path
    key: Path


def server_files(folder: Path, cert: Path | None, key: Path | None) -> TlsFiles | None:
    """The configured files, else `folder`'s server.pem/server.key when both exist, else None."""
    if cert is not None or key is not None:
        if cert is None or key is None or not cert.is_file() or not key.is_file():
            raise TlsFilesMissing(cert_file=str(cert), key_file=str(key))
        return TlsFiles(cert, key)
    default = TlsFiles(folder / "server.pem", folder / "server.key")
    return default if default.cert.is_file() and default.key.is_file() else None


def serving_options(host: str, files: TlsFiles | None) -> dict[str, str | None]:
    """uvicorn's ssl_certfile/ssl_keyfile; refuses a non-loopback address without TLS."""
    if files is None:
        if not is_loopback(host):
            raise TlsRequired(host=host)
        return {"ssl_certfile": None, "ssl_keyfile": None}
    return {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _subject_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _load_or_make_ca(
    folder: Path, label: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The folder's CA, made once: re-running init re-issues the server certificate only."""
    ca_pem, ca_key_path = folder / "ca.pem", folder / "ca.key"
    if ca_pem.is_file() and ca_key_path.is_file():
        key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(ca_pem.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Gerbang CA {label}")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(ca_key_path, _pem_key(key))
    ca_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def init_tls(folder: Path, hosts: list[str], label: str) -> TlsFiles:
    """Make (or keep) the CA under folder and issue a server certificate for hosts."""
    ca_cert, ca_key = _load_or_make_ca(folder, label)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")])
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=730))
        .add_extension(x509.SubjectAlternativeName(_subject_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "server.pem", folder / "server.key")
    _write_private(files.key, _pem_key(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


class StrictTransportSecurity:
    """ASGI middleware: HSTS on every answer given over TLS (plain loopback answers lack it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message_) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def base_url(host: str, port: int, files: TlsFiles | None) -> str:
    """The address a browser on the network opens. For a wildcard host: over HTTPS, the first
    network name the certificate holds (a browser refuses any other), else this machine's name."""
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = (files and certified_name(files.cert)) or socket.gethostname()
    shown = f"[{shown}]" if ":" in shown else shown
    return f"{'https' if files else 'http'}://{shown}:{port}"


def certified_name(cert: Path) -> str | None:
    """The first name in the certificate's subject alternative names other than loopback:
    DNS names first, then addresses; None when it holds none (or cannot be read)."""
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    dns = [n for n in names.get_values_for_type(x509.DNSName) if n != "localhost"]
    addresses = [str(a) for a in names.get_values_for_type(x509.IPAddress) if not a.is_loopback]
    return next(iter(dns + addresses), None)


def serve(
    build_app: Callable[[], ASGIApp],
    host: str,
    port: int,
    tls_dir: Path,
    tls: TlsSettings,
    links: tuple[PageLink, ...] = (),
) -> None:
    """Serve the app built by build_app: HTTPS when certificates exist, plain only on loopback.

    The TLS rule and the port are checked before the app is built, so a refused start loads
    nothing. The pages' addresses are printed once the app is built (a start it refuses, such as
    a wrong key, lists no pages) and before uvicorn's own line, which names the bare address only.
    """
    import uvicorn

    files = server_files(tls_dir, tls.cert_file, tls.key_file)
    options = serving_options(host, files)
    check_port_free(host, port)
    app = build_app()
    if links:
        print(start_lines(base_url(host, port, files), links), flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=options["ssl_certfile"],
        ssl_keyfile=options["ssl_keyfile"],
    )
