"""Access primitives both services share: password hashing (scrypt), bearer tokens, principals.

Passwords go through scrypt (memory-hard, in the standard library) with a per-user salt; login
gives a random bearer token whose sha256 alone is stored, so a stolen database opens no session.
Device keys are random 256-bit secrets, so a plain sha256 of them is enough to store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from kernel.errors import InputError, Message

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
TOKEN_LIFETIME = timedelta(hours=12)  # one shift


class WeakPassword(InputError):
    code = "password_weak"
    message = Message(
        f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.",
        f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
    )

    @classmethod
    def too_short(cls) -> WeakPassword:
        return cls(minimum_length=MIN_PASSWORD_LENGTH)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator with a role, or a gate device (role 'device')."""

    kind: Literal["operator", "device"]
    id: str
    name: str
    role: str
    gate_id: str | None = None  # a device acts only at the gate it was registered for


def hash_password(password: str) -> str:
    """scrypt$N$r$p$salt$hash, all that is needed to verify later."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword.too_short()
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
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def new_secret() -> str:
    """A random 256-bit bearer token or device key, URL-safe."""
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What is stored for a token or key: its sha256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()
