"""`gerbang registry exchange`: a national record out as ANSI/NIST-ITL (Types 1, 2, 10, 9), read by
an independent reader (nistitl); a received transaction in, sealed for the registry's key, its real
face searched against the national gallery and held for an adjudicator; on both backends.

The national record is made the way sites make it (tests/integration/test_registry.py's FakeSite
pushing the site's own payloads): real templates of four dev photos of one person, a photo
delivered on request, two ISO/IEC 19794-2 finger records. The fifth photo comes back in a file.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nistitl
import numpy as np
import pytest

from console import main as cli
from edge import wiring
from edge.settings import Settings
from enrollment.exchange.sealing import is_sealed
from enrollment.exchange.transaction import FaceImage, PersonText, Transaction, build
from models.fingerprint import iso19794
from models.fingerprint.minutiae import BIFURCATION, ENDING, MinutiaeTemplate
from models.obtain import ensure_converted
from tests.integration import test_registry as world
from tests.integration.test_registry import PACK, PASSWORD, PERSON, Registry
from tests.integration.test_registry_photos import ask, provided, requested

pytestmark = pytest.mark.model
database_url, registry_url, registry = world.database_url, world.registry_url, world.registry


def _iso(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    rows = np.column_stack([
        rng.integers(20, 360, 25), rng.integers(20, 360, 25), rng.uniform(0, 2 * np.pi, 25),
        rng.integers(40, 101, 25), rng.choice([ENDING, BIFURCATION], 25),
    ]).astype(np.float64)  # fmt: skip
    return iso19794.encode([(2 + seed, MinutiaeTemplate(388, 374, 500, rows, "nbis-mindtct"))])


@pytest.fixture(scope="module")
def person(registry: Registry, model_dir: Path, dev_faces: Path,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:  # fmt: skip
    """A nationally held inmate: four real templates, a delivered photo, two finger records."""
    settings = Settings(model_dir=model_dir, data_dir=tmp_path_factory.mktemp("e"), liveness=False)
    spec = wiring.engine_spec(settings, PACK)
    ensure_converted(spec.store, spec.pack)
    engine = spec.build()
    photos = sorted((dev_faces / PERSON).glob("*.jpg"))
    vectors = [engine.analyse_bytes(p.read_bytes()).template for p in photos[:4]]
    site = registry.site()
    identity_id, enrolled = site.enrol("Barack Hussein", vectors)
    fingers = [
        site.change(
            "finger.enrolled",
            identity_id,
            {
                "position": 2 + i,
                "impression": 1,
                "extractor": "nbis-mindtct",
                "quality": 70.0,
                "iso_record_b64": base64.b64encode(_iso(i)).decode(),
            },
        )
        for i in range(2)
    ]
    assert registry.push(site, site.batch([enrolled, *fingers])).status_code == 200
    assert ask(registry, identity_id).status_code in (200, 201)
    request = requested(registry, site)[0]
    jpeg = photos[0].read_bytes()
    answer = provided(site, identity_id, request["request_id"], jpeg)
    assert registry.push(site, site.batch([answer])).status_code == 200
    return {"id": identity_id, "site": site, "jpeg": jpeg, "held_out": photos[4].read_bytes()}


def _as(monkeypatch: pytest.MonkeyPatch, registry: Registry, user: str, model_dir: Path,
        cache: Path) -> None:  # fmt: skip
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    monkeypatch.setenv("REGISTRY_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("REGISTRY_MODEL_CACHE_DIR", str(cache))
    monkeypatch.setenv("GERBANG_USERNAME", user)
    monkeypatch.setenv("GERBANG_PASSWORD", PASSWORD)


def test_a_national_record_exports_with_its_photo_and_minutiae(
    registry: Registry, person: dict[str, object], model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _as(monkeypatch, registry, "judge", model_dir, tmp_path)
    out = tmp_path / "national.an2"
    argv = ["registry", "exchange", "export", "--identity", str(person["id"]), "--out", str(out)]
    assert cli.main([*argv, "--case-ref", "POLDA-7"]) == 2  # sealed, or plain by name
    assert "exchange_protection_required" in capsys.readouterr().err and not out.exists()
    assert cli.main([*argv, "--case-ref", "POLDA-7", "--plain"]) == 0
    message = nistitl.Message()
    message.parse(out.read_bytes())
    records = list(message)
    assert [r.type for r in records] == [1, 2, 10, 9, 9]
    assert records[0]._8 == "DITJENPAS" and records[1]._18 == "Barack Hussein"
    assert records[1]._905 == "POLDA-7" and records[1]._903 == person["id"]
    assert records[2]._999 == person["jpeg"]
    assert [(r._6, r._10) for r in records[3:]] == [("2", "25"), ("3", "25")]
    assert out.stat().st_mode & 0o777 == 0o600
    events = registry.query(
        "SELECT actor, details FROM audit WHERE action = 'exchange.exported' AND subject = %s",
        person["id"],
    )
    details = events[-1][1] if isinstance(events[-1][1], dict) else json.loads(events[-1][1])
    assert events[-1][0] == "judge" and details["minutiae"] == 2 and details["encryption"] == "none"
    _as(monkeypatch, registry, "jabar", model_dir, tmp_path)  # a regional monitor may not
    assert cli.main([*argv, "--plain"]) == 2
    assert "[forbidden]" in capsys.readouterr().err


def test_a_received_face_is_searched_nationally_and_held_for_an_adjudicator(
    registry: Registry, person: dict[str, object], model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert cli.main(["exchange", "keygen", "--out", str(tmp_path / "pusat")]) == 0
    sent = build(Transaction("POLDA-JABAR", "DITJENPAS", PersonText("B. Hussein", case_ref="LP-9"),
                             [FaceImage(bytes(person["held_out"]), "image/jpeg", "2026-11-30")],  # type: ignore[arg-type]
                             tcn=f"POLDA-{tmp_path.name}"))  # fmt: skip
    _as(monkeypatch, registry, "judge", model_dir, tmp_path / "cache")
    received = tmp_path / "received.an2"
    received.write_bytes(sent)
    sealed = tmp_path / "received.sealed"
    from enrollment.exchange.sealing import for_recipient

    sealed.write_bytes(for_recipient(tmp_path / "pusat.pub").wrap(sent, {}))
    assert is_sealed(sealed.read_bytes())
    assert cli.main(["registry", "exchange", "import", str(sealed)]) == 2
    assert "exchange_file_sealed" in capsys.readouterr().err
    assert cli.main(["registry", "exchange", "import", str(sealed), "--key",
                     str(tmp_path / "pusat.key")]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out.split("\nheld for")[0])
    assert printed["candidates"][0]["identity_id"] == person["id"]
    assert printed["case_ref"] == "LP-9" and printed["sender"] == "POLDA-JABAR"
    assert cli.main(["registry", "exchange", "import", str(received)]) == 2  # the same tcn again
    assert "registry_exchange_already_received" in capsys.readouterr().err
    assert cli.main(["registry", "exchange", "list"]) == 0
    assert printed["import_id"] in capsys.readouterr().out
    decide = ["registry", "exchange", "decide", printed["import_id"], "--reason", "foto cocok"]
    assert cli.main([*decide, "--same", "00000000-0000-0000-0000-000000000000"]) == 2
    assert "registry_exchange_not_candidate" in capsys.readouterr().err
    assert cli.main([*decide, "--same", str(person["id"])]) == 0
    assert cli.main([*decide, "--none"]) == 2
    assert "registry_exchange_import_decided" in capsys.readouterr().err
    rows = registry.query(
        "SELECT decision, decided_by, file_sha256 FROM exchange_imports WHERE id = %s",
        printed["import_id"],
    )
    assert rows[0][:2] == ("same", "judge")
    actions = [r[0] for r in registry.query("SELECT action FROM audit WHERE subject = %s",
                                             printed["import_id"])]  # fmt: skip
    assert actions == ["exchange.imported", "exchange.decided"]
