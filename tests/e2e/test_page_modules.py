"""The pages' pure modules run in a real Chromium, served from the source folders at a made-up
origin (no service): the desk's identity-number checks give the same verdict as
enrollment/identifiers.py on seeded random numbers, and the kiosk reads its setup from the
README's address with the key taken only from the fragment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from enrollment.identifiers import (
    PROVINCE_CODES,
    InvalidIdentifier,
    validate_nik,
    validate_nip,
    validate_registration_number,
)
from httpkit.pages import SHARED_WEB_DIR
from tests.e2e.conftest import CHROMIUM_FLAGS, _chromium, _playwright

pytestmark = [pytest.mark.e2e]

ORIGIN = "http://gerbang.test"
FOLDERS = {"/web/shared/": SHARED_WEB_DIR, "/web/": Path(__file__).parents[2] / "edge" / "web"}
NIK_KEYS = {
    None: "nik_ok",
    "not_digits": "digits_only",
    "length": "nik_length",
    "province": "nik_province",
    "region": "nik_region",
    "serial": "nik_serial",
    "birth_date": "nik_date",
    "mismatch_birth_date": "nik_birth_mismatch",
    "mismatch_sex": "nik_sex_mismatch",
    "future_birth": "date_future",
    "too_old": "date_too_old",
}
NIP_KEYS = {
    None: "nip_ok",
    "not_digits": "digits_only",
    "length": "nip_length",
    "birth_date": "nip_date",
    "future_birth": "date_future",
    "too_old": "date_too_old",
    "appointment": "nip_appointment",
    "sex_digit": "nip_sex_digit",
    "serial": "nip_serial",
    "mismatch_birth_date": "nip_birth_mismatch",
    "mismatch_sex": "nip_sex_mismatch",
}
REGISTRATION_KEYS = {None: "ok", "format": "registration_format", "year": "registration_year"}


def _serve(route: Any) -> None:
    path = urlparse(route.request.url).path
    for prefix, folder in FOLDERS.items():
        if path.startswith(prefix):
            file = folder / path.removeprefix(prefix)
            if not file.is_file():
                route.fulfill(status=404)
            else:
                route.fulfill(body=file.read_text(encoding="utf-8"), content_type="text/javascript")
            return
    route.fulfill(body="<!doctype html><title>modules</title>", content_type="text/html")


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """A blank page at ORIGIN, from which the modules can be imported."""
    with _playwright().sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(_chromium()), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.route(f"{ORIGIN}/**", _serve)
        page.goto(f"{ORIGIN}/")
        yield page
        browser.close()


def _in_browser(page: Any, module: str, call: str, cases: list[dict[str, Any]]) -> list[Any]:
    """`call` (a JS expression over `m`, the module, and `c`, one case) for each case."""
    script = f"async (cases) => {{ const m = await import('{module}'); return cases.map((c) => {call}); }}"
    return list(page.evaluate(script, cases))


def _reason(check: Any) -> str | None:
    try:
        check()
    except InvalidIdentifier as error:
        return str(error.details["reason"])
    return None


def _random_date(rng: random.Random) -> date:
    return date(1900, 1, 1) + timedelta(days=rng.randrange(365 * 130))


def _nik_cases(rng: random.Random, count: int) -> list[dict[str, Any]]:
    provinces = [*sorted(PROVINCE_CODES), "10", "20", "37", "99"]
    cases = []
    for _ in range(count):
        born = _random_date(rng)
        sex = rng.choice("MF")
        day = born.day + (40 if sex == "F" else 0)
        if rng.random() < 0.1:
            day = rng.randrange(0, 80)
        region = rng.choice(["0101", "3204", "0001", "1200"])
        serial = rng.choice(["0001", "0420", "0000"])
        nik = (
            f"{rng.choice(provinces)}{region}{day:02d}{born.month:02d}{born.year % 100:02d}{serial}"
        )
        if rng.random() < 0.05:
            nik = nik[:-1]
        entered = born if rng.random() < 0.5 else _random_date(rng)
        cases.append({
            "nik": nik,
            "birth": entered.isoformat() if rng.random() < 0.7 else None,
            "sex": rng.choice([sex, "M", "F", None]),
        })  # fmt: skip
    return cases


def _nip_cases(rng: random.Random, count: int) -> list[dict[str, Any]]:
    cases = []
    for _ in range(count):
        born = (
            _random_date(rng)
            if rng.random() < 0.3
            else date(1960, 1, 1) + timedelta(rng.randrange(20000))
        )
        appointed = born.year + rng.randrange(15, 45)
        month = rng.choice([born.month, 1, 6, 12, 13, 0])
        nip = f"{born:%Y%m%d}{appointed:04d}{month:02d}{rng.choice('1123')}{rng.choice(['001', '000', '123'])}"
        cases.append({
            "nip": nip,
            "birth": (born if rng.random() < 0.7 else _random_date(rng)).isoformat(),
            "sex": rng.choice(["M", "F", None]),
        })  # fmt: skip
    return cases


def test_nik_hints_agree_with_the_server_rules(page: Any) -> None:
    cases = _nik_cases(random.Random(14), 400)
    verdicts = _in_browser(
        page, "/web/identity-checks.js", "m.checkNik(c.nik, m.parseDate(c.birth), c.sex)[0]", cases
    )
    for case, verdict in zip(cases, verdicts, strict=True):
        birth = date.fromisoformat(case["birth"]) if case["birth"] else None
        reason = _reason(lambda c=case, b=birth: validate_nik(c["nik"], birth_date=b, sex=c["sex"]))
        assert verdict == NIK_KEYS[reason], (case, reason)
    assert len(set(verdicts)) >= 7  # the seeded cases reach most rules


def test_nip_hints_agree_with_the_server_rules(page: Any) -> None:
    cases = _nip_cases(random.Random(18), 400)
    verdicts = _in_browser(
        page, "/web/identity-checks.js", "m.checkNip(c.nip, m.parseDate(c.birth), c.sex)[0]", cases
    )
    for case, verdict in zip(cases, verdicts, strict=True):
        birth = date.fromisoformat(case["birth"])
        reason = _reason(lambda c=case, b=birth: validate_nip(c["nip"], birth_date=b, sex=c["sex"]))
        assert verdict == NIP_KEYS[reason], (case, reason)
    assert len(set(verdicts)) >= 7


def test_registration_hints_agree_with_the_server_rules(page: Any) -> None:
    texts = ["B.I-123/2024", "AIII.45/2023", "b iia 7/2020", "B.I-123/1949", "B.I-123/2999",
             "C.I-1/2020", "B.VI-1/2020", "B.I-1234567/2020", "B . I - 12 / 2021", "BIV9/1950"]  # fmt: skip
    verdicts = _in_browser(
        page,
        "/web/identity-checks.js",
        "m.checkRegistration(c.text)[0]",
        [{"text": t} for t in texts],
    )
    for text, verdict in zip(texts, verdicts, strict=True):
        reason = _reason(lambda t=text: validate_registration_number(t))
        assert verdict == REGISTRATION_KEYS[reason], text


@pytest.mark.parametrize(
    ("search", "fragment", "expected"),
    [
        ("?gate=main", "#key=K1", {"gate": "main", "key": "K1", "keyInQuery": False}),
        ("", "#gate=main&key=K1", {"gate": "main", "key": "K1", "keyInQuery": False}),
        ("?gate=side", "#gate=main&key=K1", {"gate": "main", "key": "K1", "keyInQuery": False}),
        ("?gate=main&key=K1", "", {"gate": "main", "key": "", "keyInQuery": True}),
        ("?gate=main", "", {"gate": "main", "key": "", "keyInQuery": False}),
    ],
)
def test_the_kiosk_takes_the_gate_from_query_or_fragment_and_the_key_only_from_the_fragment(
    page: Any, search: str, fragment: str, expected: dict[str, Any]
) -> None:
    [found] = _in_browser(
        page, "/web/kiosk-address.js", "m.setupFromAddress(c.search, c.hash)",
        [{"search": search, "hash": fragment}],
    )  # fmt: skip
    assert found == expected
    [cleaned] = _in_browser(
        page,
        "/web/kiosk-address.js",
        "m.addressWithoutKey('/gate', c.search)",
        [{"search": search}],
    )
    assert "key" not in cleaned and cleaned.startswith("/gate")
