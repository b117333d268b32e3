"""HTTPS on every hop: `gerbang tls init`, a site served over TLS, the refusals that keep data off plain HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from edge.settings import Settings
from httpkit.tls import HSTS, TlsRequired, init_tls, server_files, serving_options
from site_sync.transport import PlainHttpRefused, RegistryCaMissing, registry_http_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, **more: str) -> dict[str, str]:
    return {**os.environ, "EDGE_DATA_DIR": str(data_dir), **more}


def _gerbang(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_tls_init_makes_a_ca_and_a_server_certificate_with_private_keys(tmp_path: Path) -> None:
    done = _gerbang(
        _env(tmp_path), "tls", "init", "--host", "gate-1.lapas.local", "--host", "10.0.0.5"
    )
    assert done.returncode == 0, done.stderr
    tls = tmp_path / "tls"
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((tls / key).stat().st_mode) == 0o600
    server = x509.load_pem_x509_certificate((tls / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "gate-1.lapas.local" in names.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    assert server.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Re-running re-issues the server certificate under the same CA (desks keep trusting it).
    assert _gerbang(_env(tmp_path), "tls", "init").returncode == 0
    assert x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes()) == ca


def test_a_network_address_without_tls_is_refused_at_start(tmp_path: Path) -> None:
    done = _gerbang(
        _env(tmp_path), "serve", "--host", "0.0.0.0", "--port", str(_free_port()), timeout=60
    )
    assert done.returncode == 2
    assert "tls_required" in done.stderr
    with pytest.raises(TlsRequired):
        serving_options("192.168.1.20", None)
    assert serving_options("127.0.0.1", None)["ssl_certfile"] is None
    assert serving_options("::1", None)["ssl_keyfile"] is None


def test_configured_files_win_and_missing_ones_are_named(tmp_path: Path) -> None:
    files = init_tls(tmp_path / "tls", ["localhost"], label="UPT-T")
    assert server_files(tmp_path / "none", None, None) is None
    assert server_files(tmp_path / "tls", None, None) == files
    with pytest.raises(Exception, match="tls_files_missing"):
        server_files(tmp_path / "tls", tmp_path / "absent.pem", files.key)


def test_the_site_refuses_plain_http_to_a_registry_across_a_network(tmp_path: Path) -> None:
    with pytest.raises(PlainHttpRefused):
        registry_http_client("http://10.20.30.40:8090", 1.0)
    with pytest.raises(PlainHttpRefused):
        registry_http_client("ftp://registry.example", 1.0)
    registry_http_client("http://127.0.0.1:8090", 1.0).close()  # a demo on one machine
    with pytest.raises(ValueError, match="loopback"):
        Settings(data_dir=tmp_path, sync={"registry_url": "http://registry.example"})
    with pytest.raises(RegistryCaMissing):
        registry_http_client("https://registry.example", 1.0, tmp_path / "no-ca.pem")


@pytest.mark.model
@pytest.mark.slow
def test_the_site_serves_https_that_verifies_against_its_own_ca_only(
    tmp_path: Path, model_dir: Path
) -> None:
    assert _gerbang(_env(tmp_path), "tls", "init").returncode == 0
    ca = tmp_path / "tls" / "ca.pem"
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "console.main", "serve", "--port", str(port)],
        env=_env(tmp_path, EDGE_MODEL_DIR=str(model_dir)), stdout=log, stderr=log,
    )  # fmt: skip
    try:
        url = f"https://localhost:{port}"
        answer, deadline = None, time.monotonic() + 120  # model loading on a busy machine
        while answer is None and time.monotonic() < deadline:
            try:
                answer = registry_http_client(url, 30.0, ca).get("/health")
            except httpx.ConnectError:
                time.sleep(0.2)
        assert answer is not None, (tmp_path / "serve.log").read_text()[-2000:]
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"] == HSTS
        if shutil.which("curl"):  # what an operator types (the README)
            curl = subprocess.run(
                ["curl", "-sf", "--cacert", str(ca), f"{url}/health"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert curl.returncode == 0, curl.stderr
        other = init_tls(tmp_path / "other", ["localhost"], label="elsewhere")
        with pytest.raises(
            httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"
        ):
            registry_http_client(url, 30.0, other.cert.parent / "ca.pem").get("/health")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://localhost:{port}/health", timeout=2)  # no plain HTTP on that port
        assert isinstance(ssl.create_default_context(cafile=str(ca)), ssl.SSLContext)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:  # still loading models on a busy machine
            process.kill()
            process.wait(10)
        log.close()
