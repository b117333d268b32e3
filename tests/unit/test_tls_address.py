"""The address `gerbang serve` prints for a browser is one its certificate holds."""

from __future__ import annotations

from pathlib import Path

from httpkit.tls import base_url, init_tls


def test_a_wildcard_host_over_https_prints_a_name_on_the_certificate(tmp_path: Path) -> None:
    files = init_tls(
        tmp_path, ["localhost", "127.0.0.1", "gate-1.lapas.local", "192.168.10.5"], "t"
    )
    assert base_url("0.0.0.0", 8443, files) == "https://gate-1.lapas.local:8443"
    only_address = init_tls(tmp_path / "ip", ["127.0.0.1", "192.168.10.5"], "t")
    assert base_url("::", 8443, only_address) == "https://192.168.10.5:8443"
    assert base_url("10.0.0.7", 8443, files) == "https://10.0.0.7:8443"  # as asked for


def test_without_a_certified_network_name_the_machine_name_is_printed(tmp_path: Path) -> None:
    loopback = init_tls(tmp_path, ["localhost", "127.0.0.1"], "t")
    assert base_url("0.0.0.0", 8443, loopback).startswith("https://")
    assert "localhost" not in base_url("0.0.0.0", 8443, loopback)
