"""Access primitives both services share: password hashing (scrypt), bearer tokens, principals,
the password rule, sign-in throttling and the token idle timeout.

Passwords go through scrypt (memory-hard, in the standard library) with a per-user salt; login
gives a random bearer token whose sha256 alone is stored, so a stolen database opens no session.
Device keys are random 256-bit secrets, so a plain sha256 of them is enough to store.

Following NIST SP 800-63B: a new password is refused when it is short, common (a small embedded
list), trivial (one character repeated, a run like 0123456789 or qwertyuiop) or the username;
failed sign-ins are throttled per account and per source (`SignInThrottle`: after 5 failures
every further one locks that account or source for a doubling delay, up to 15 minutes), the
same for unknown usernames as for real ones; an officer's token ends after IDLE_TIMEOUT without
use, whatever its lifetime left.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Literal

from kernel.errors import GerbangError, InputError, Message

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
TOKEN_LIFETIME = timedelta(hours=12)  # one shift
IDLE_TIMEOUT = timedelta(minutes=30)  # NIST SP 800-63B AAL2: reauthenticate after 30 min idle
TOUCH_EVERY = timedelta(minutes=1)  # a token's last use is written at most this often


class WeakPassword(InputError):
    code = "password_weak"
    message = Message(
        f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.",
        f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
    )

    @classmethod
    def too_short(cls) -> WeakPassword:
        return cls(minimum_length=MIN_PASSWORD_LENGTH)

    @classmethod
    def guessable(cls, why: str) -> WeakPassword:
        return cls(
            Message(
                "Kata sandi ini terlalu mudah ditebak (umum, berulang, atau berurutan). Pilih kalimat sandi lain.",
                "This password is too easy to guess (common, repeated or sequential). Choose another passphrase.",
            ),
            reason=why,
        )


class SignInThrottled(GerbangError):
    code = "sign_in_throttled"
    status = 429
    message = Message(
        "Terlalu banyak percobaan masuk yang gagal. Tunggu sebentar (lihat retry_after_s) lalu coba lagi.",
        "Too many failed sign-ins. Wait a moment (see retry_after_s) and try again.",
    )


# The most common passwords of public breach lists, and local ones an officer might pick.
COMMON_PASSWORDS = frozenset(
    """
123456789 1234567890 12345678910 password password1 password12 password123 password1234
passw0rd qwertyuiop qwerty123 qwerty1234 1q2w3e4r5t 1qaz2wsx3edc zaq12wsx iloveyou123
abc1234567 abcd123456 abcdefghij 0987654321 1122334455 1234512345 1234554321 123123123
123321123 147258369 987654321 987654321a 111111111 1111111111 0000000000 6543210987
administrator admin12345 admin123456 administrator1 welcome123 letmein123 changeme123
superman123 football123 baseball123 sunshine123 princess123 monkey1234 dragon1234
trustno1trustno1 computer123 internet123 starwars123 whatever123 freedom123 master1234
indonesia indonesia1 indonesia123 indonesia45 merdeka45 merdeka123 jakarta123 bandung123
surabaya123 bismillah bismillah123 alhamdulillah assalamualaikum sayangku123 rahasia123
rahasiaku katasandi katasandi123 sandiku123 gerbang123 gerbang2026 lapas12345 rutan12345
petugas123 pegawai123 kemenkumham pemasyarakatan pusat12345 kanwil12345 password2024
password2025 password2026 selamatdatang
""".split()  # noqa: SIM905 - a word list reads best as words
)
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def password_problem(password: str, username: str = "") -> str | None:
    """Why a new password is refused (short, common, trivial, the username), or None."""
    lowered = password.lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        return "short"
    if lowered in COMMON_PASSWORDS or lowered.rstrip("!.1") in COMMON_PASSWORDS:
        return "common"
    if len(set(lowered)) <= 3:
        return "repeated"
    if any(_along(lowered, run) for run in _RUNS):
        return "sequential"
    if username and len(lowered.replace(username.lower(), "")) < 6:
        return "contains_username"  # the username with a few characters around it
    return None


def _along(text: str, run: str) -> bool:
    """Whether the text walks one run step by step, forwards or back (wrapping): 4567890123."""
    for line in (run, run[::-1]):
        places = [line.find(c) for c in text]
        if -1 not in places and all((b - a) % len(line) == 1 for a, b in pairwise(places)):
            return True
    return False


def check_new_password(password: str, username: str = "") -> None:
    """WeakPassword unless the password may be set."""
    problem = password_problem(password, username)
    if problem == "short":
        raise WeakPassword.too_short()
    if problem is not None:
        raise WeakPassword.guessable(problem)


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class SignInThrottle:
    """Failed sign-ins per account and per source, in memory, bounded in size.

    After `free` failures, each further one locks the key for base_s * 2**k seconds (up to
    cap_s); a locked account or source is refused without its password being checked, and a
    success clears both. A source gets `source_free` failures before its first delay, since many
    officers may share one desk PC or proxy. Unknown usernames are throttled exactly alike.
    """

    def __init__(
        self,
        free: int = 5,
        source_free: int = 20,
        base_s: float = 1.0,
        cap_s: float = 900.0,
        max_keys: int = 10_000,
    ) -> None:
        self.free, self.source_free, self.base_s, self.cap_s = free, source_free, base_s, cap_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, account: str, source: str, now: float) -> None:
        """SignInThrottled while the account or the source is locked."""
        with self._lock:
            waits = [
                f.locked_until - now
                for key in (account_key(account), source_key(source))
                if (f := self._failures.get(key)) is not None and f.locked_until > now
            ]
        if waits:
            raise SignInThrottled(retry_after_s=max(1, round(max(waits))))

    def failed(self, account: str, source: str, now: float) -> None:
        """Count a failure against both; lock each past its free allowance."""
        with self._lock:
            for key, free in ((account_key(account), self.free),
                              (source_key(source), self.source_free)):  # fmt: skip
                entry = self._failures.pop(key, None) or _Failures()
                entry.count += 1
                if (delay := self.lock_seconds(entry.count, free)) is not None:
                    entry.locked_until = now + delay
                self._failures[key] = entry
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)  # the oldest; an attacker cannot grow memory

    def lock_seconds(self, count: int, free: int) -> float | None:
        """How long the `count`-th consecutive failure locks a key (None within `free`)."""
        if count <= free:
            return None
        return float(min(self.cap_s, self.base_s * 2 ** min(count - free - 1, 30)))

    def succeeded(self, account: str, source: str) -> None:
        """A correct password: the account and the source start afresh."""
        with self._lock:
            self._failures.pop(account_key(account), None)
            self._failures.pop(source_key(source), None)

    def failures(self, account: str) -> int:
        """Consecutive failures recorded for an account."""
        with self._lock:
            entry = self._failures.get(account_key(account))
            return entry.count if entry else 0


def account_key(account: str) -> str:
    """The throttle's key for an account (usernames compare case-blind)."""
    return "account:" + account.strip().lower()


def source_key(source: str) -> str:
    """The throttle's key for a source address."""
    return "source:" + source


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator with a role, or a gate device (role 'device')."""

    kind: Literal["operator", "device"]
    id: str
    name: str
    role: str
    gate_id: str | None = None  # a device acts only at the gate it was registered for


def hash_password(password: str) -> str:
    """scrypt$N$r$p$salt$hash, all that is needed to verify later (a new password: checked)."""
    check_new_password(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored scrypt hash."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


_DUMMY_HASH: list[str] = []


def dummy_hash() -> str:
    """A real scrypt hash to check unknown usernames against, so they cost the same time."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))  # same cost as a real one
    return _DUMMY_HASH[0]


def new_secret() -> str:
    """A random 256-bit bearer token or device key, URL-safe."""
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What is stored for a token or key: its sha256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()
