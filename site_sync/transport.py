"""The one way the site opens a connection to the registry: https verified against a pinned CA.

Plain http is refused unless the registry is on this machine (a demo or a test); with
`EDGE_SYNC__REGISTRY_CA_FILE` the registry's certificate must chain to that CA (the registry's own,
made by `gerbang tls init`), not to whatever the system trusts.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from kernel.errors import Message, Unavailable
from kernel.network import is_loopback


class PlainHttpRefused(Unavailable):
    code = "plain_http_refused"
    message = Message(
        "Alamat registri harus https (http hanya untuk registri di mesin ini).",
        "The registry address must use https (plain http only for a registry on this machine).",
    )


class RegistryCaMissing(Unavailable):
    code = "registry_ca_missing"
    message = Message(
        "Berkas CA registri tidak ditemukan. Periksa EDGE_SYNC__REGISTRY_CA_FILE.",
        "The registry's CA file was not found. Check EDGE_SYNC__REGISTRY_CA_FILE.",
    )


def check_registry_url(url: str) -> str:
    """The URL, unless it is plain http to somewhere other than this machine."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and is_loopback(parts.hostname or "")
    ):
        raise PlainHttpRefused(url=url)
    return url


def verification(ca_file: Path | None) -> ssl.SSLContext | bool:
    """The pinned CA when given, else the system's trust store."""
    if ca_file is None:
        return True
    if not ca_file.is_file():
        raise RegistryCaMissing(ca_file=str(ca_file))
    return ssl.create_default_context(cafile=str(ca_file))


def registry_http_client(
    base_url: str, timeout_s: float, ca_file: Path | None = None
) -> httpx.Client:
    """A connection pool to the registry, refused for plain http across a network."""
    return httpx.Client(
        base_url=check_registry_url(base_url), timeout=timeout_s, verify=verification(ca_file)
    )
