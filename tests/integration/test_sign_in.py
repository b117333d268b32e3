"""Sign-in at both services (issue 13, NIST SP 800-63B): throttled per account and per source,
unknown usernames answered like real ones, common and trivial passwords refused, and an
officer's token ended after 30 minutes without use.

The site runs behind TestClient with real models; the registry on PostgreSQL (module skipped
locally when it is unreachable, failed under CI=true).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import registry.accounts as registry_accounts
from enrollment.accounts import AccountStore
from kernel.access import IDLE_TIMEOUT, SignInThrottle, WeakPassword, password_problem
from tests.integration import test_registry as base
from tests.integration.conftest import PASSWORD, SiteClient, error_code, make_site_client
from tests.integration.test_registry import Registry

database_url = base.database_url
registry = base.registry


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    return database_url


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("site"))


def _login(client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/auth/login", json={"username": username, "password": password})


class SteppedThrottle(SignInThrottle):
    """The service's throttle on its own clock plus `ahead_s`, which the test moves on instead of
    sleeping: no lock can run out on a loaded machine while the test still asserts it."""

    def __init__(self, base_s: float, cap_s: float) -> None:
        super().__init__(base_s=base_s, cap_s=cap_s)
        self.ahead_s = 0.0

    def check(self, account: str, source: str, now: float) -> None:
        super().check(account, source, now + self.ahead_s)

    def failed(self, account: str, source: str, now: float) -> None:
        super().failed(account, source, now + self.ahead_s)


@pytest.mark.parametrize("service", ["site", "registry"])
def test_after_5_failures_an_account_waits_longer_each_time_even_with_the_right_password(
    service: str, site_client: SiteClient, registry: Registry
) -> None:
    if service == "site":
        client, owner, username = site_client.client, site_client.site, "supervisor"
    else:
        client, owner, username = registry.client, registry.service, "judge"
    throttle = owner.sign_ins = SteppedThrottle(base_s=60.0, cap_s=600.0)
    for _ in range(5):
        assert _login(client, username, "not the password").status_code == 401
    assert _login(client, username, "not the password").status_code == 401  # the 6th locks
    locked = _login(client, username, PASSWORD)
    assert locked.status_code == 429 and error_code(locked) == "sign_in_throttled"
    assert 30 <= locked.json()["error"]["details"]["retry_after_s"] <= 60
    throttle.ahead_s += 61  # the 60 s lock has run out
    assert _login(client, username, "not the password").status_code == 401  # 7th: 120 s now
    longer = _login(client, username, PASSWORD)
    assert longer.status_code == 429 and longer.json()["error"]["details"]["retry_after_s"] > 60
    throttle.ahead_s += 121
    assert _login(client, username, PASSWORD).status_code == 200  # success clears the count
    for _ in range(5):  # five free failures again
        assert _login(client, username, "not the password").status_code == 401
    assert _login(client, username, PASSWORD).status_code == 200


@pytest.mark.parametrize("service", ["site", "registry"])
def test_unknown_usernames_are_throttled_like_real_ones_and_a_source_is_too(
    service: str, site_client: SiteClient, registry: Registry
) -> None:
    client = site_client.client if service == "site" else registry.client
    owner = site_client.site if service == "site" else registry.service
    owner.sign_ins = SignInThrottle(base_s=30.0)
    for _ in range(6):
        assert _login(client, "nobody-here", "not the password").status_code == 401
    assert _login(client, "nobody-here", "not the password").status_code == 429
    for n in range(20 - 6 + 1):  # the same desk trying other names: the 21st failure locks it
        _login(client, f"guess-{n}", "not the password")
    refused = _login(client, "another-name", "not the password")
    assert refused.status_code == 429
    owner.sign_ins = SignInThrottle()


def test_the_registry_checks_a_password_hash_for_an_unknown_username(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = registry_accounts.check_password

    def recording(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(registry_accounts, "check_password", recording)
    registry.service.sign_ins = SignInThrottle()
    assert _login(registry.client, "no-such-officer", "whatever it is").status_code == 401
    assert len(checked) == 1 and checked[0].startswith("scrypt$")  # the same work as a real one


@pytest.mark.parametrize(
    "weak", ["aaaaaaaaaa", "password123", "1234567890", "qwertyuiop", "Bismillah123"]
)
def test_common_and_trivial_passwords_are_refused_at_both_services(
    weak: str, site_client: SiteClient, registry: Registry
) -> None:
    assert password_problem(weak) is not None
    with pytest.raises(WeakPassword), site_client.site.db.transaction() as tx:
        AccountStore(tx).add_operator(f"weak-{len(weak)}", "Weak", "gate_officer", weak)
    with pytest.raises(WeakPassword):
        registry.service.add_account(f"weak-{len(weak)}", "adjudicator", weak, None)
    assert password_problem("correct horse battery") is None
    assert password_problem("budibudi2026", "budi") == "contains_username"
    assert password_problem("admin password 1", "admin") is None


def test_an_officer_token_ends_after_30_minutes_without_use(
    site_client: SiteClient, registry: Registry
) -> None:
    site_client.site.sign_ins = SignInThrottle()
    registry.service.sign_ins = SignInThrottle()
    token = _login(site_client.client, "site_admin", PASSWORD).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert site_client.client.get("/v1/visits/inside", headers=headers).status_code == 200
    idle = (datetime.now(UTC) - IDLE_TIMEOUT - timedelta(minutes=1)).isoformat()
    with site_client.site.db.transaction() as tx:
        tx.execute("UPDATE auth_tokens SET last_used_at = ?", (idle,))
    expired = site_client.client.get("/v1/visits/inside", headers=headers)
    assert expired.status_code == 401 and "idle" in expired.text

    central = _login(registry.client, "admin", PASSWORD).json()["token"]
    central_headers = {"Authorization": f"Bearer {central}"}
    assert registry.client.get("/v1/cases", headers=central_headers).status_code == 200
    with registry.service.db.transaction() as tx:
        tx.execute(
            "UPDATE auth_tokens SET last_used_at = %s WHERE username = 'admin'",
            (datetime.now(UTC) - IDLE_TIMEOUT - timedelta(minutes=1),),
        )
    assert registry.client.get("/v1/cases", headers=central_headers).status_code == 401
    # a fresh sign-in works again, and the module's own tokens for the other tests too
    fresh = _login(registry.client, "admin", PASSWORD).json()["token"]
    registry.tokens["admin"] = {"Authorization": f"Bearer {fresh}"}
