"""A model bundle made where the models are installs on a fresh site with no network, and a
bundle with one flipped byte is refused without installing anything."""

from __future__ import annotations

import shutil
import socket
import tarfile
from pathlib import Path

import pytest

from console.main import main

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def bundle_file(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of the default pack, made from a temporary copy of the shared models."""
    root = tmp_path_factory.mktemp("bundle-source")
    shutil.copytree(model_dir, root / "models")
    out = root / "usb" / "gerbang-models.tar"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EDGE_MODEL_DIR", str(root / "models"))
        env.setenv("EDGE_DATA_DIR", str(root / "data"))
        assert main(["models", "bundle", "--out", str(out)]) == 0
    return out


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _fresh_site(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("EDGE_MODEL_DIR", str(root / "models"))
    monkeypatch.setenv("EDGE_DATA_DIR", str(root / "data"))


def test_a_bundle_installs_on_a_fresh_site_offline_and_verifies(
    bundle_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None
) -> None:
    _fresh_site(monkeypatch, tmp_path)
    assert main(["models", "verify"]) == 1  # nothing there yet
    assert main(["models", "install", str(bundle_file)]) == 0
    assert main(["models", "verify"]) == 0
    assert (tmp_path / "data" / "model-cache" / "converted" / "dlib_resnet_v1.onnx").is_file()


def test_install_to_a_named_folder(
    bundle_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None
) -> None:
    _fresh_site(monkeypatch, tmp_path)
    elsewhere = tmp_path / "usb-models"
    assert main(["models", "install", str(bundle_file), "--to", str(elsewhere)]) == 0
    monkeypatch.setenv("EDGE_MODEL_DIR", str(elsewhere))
    assert main(["models", "verify"]) == 0


def test_a_flipped_byte_is_refused_and_nothing_is_installed(
    bundle_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tampered = tmp_path / "tampered.tar"
    shutil.copy(bundle_file, tampered)
    with tarfile.open(tampered) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("MiniFASNetV2.onnx"))
    data = bytearray(tampered.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    _fresh_site(monkeypatch, tmp_path)
    assert main(["models", "install", str(tampered)]) == 2
    err = capsys.readouterr().err
    assert "model_bundle_rejected" in err and "MiniFASNetV2" in err
    assert not [p for p in (tmp_path / "models").rglob("*") if p.is_file()]
    assert main(["models", "verify"]) == 1


def test_a_bundle_path_with_no_file_says_so_not_that_it_is_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fresh_site(monkeypatch, tmp_path)
    assert main(["models", "install", str(tmp_path / "usb" / "nothing.tar")]) == 2
    err = capsys.readouterr().err
    assert "error [model_bundle_rejected]: Berkas paket model tidak ditemukan" in err
    assert "There is no model bundle at that path" in err and "damaged" not in err
