"""How an exchange file is protected on its way out, and opened on its way in.

A transaction holds a person's face, fingers and identity numbers: it leaves the site only
sealed for its receiver (the agency's X25519 public key, `gerbang exchange keygen` on their
side), or under a passphrase given to them by another channel. A plain file is possible, for a
partner whose system cannot open a sealed one, but only when the officer asks for it by name,
and the audit event says so. Sealed files are `kernel.sealed` streams; what is sealed is the
ANSI/NIST-ITL (or ISO) file exactly as it would be written plain.
"""

from __future__ import annotations

import argparse
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel import recipients, sealed
from kernel.errors import InputError, Message


class ExchangeSealError(InputError):
    code = "exchange_file_sealed"
    message = Message(
        "Berkas pertukaran tersegel dan tidak bisa dibuka dengan kunci yang diberikan; tidak ada yang diimpor.",
        "The exchange file is sealed and cannot be opened with the key given; nothing was imported.",
    )


class ProtectionRequired(InputError):
    code = "exchange_protection_required"
    message = Message(
        "Ekspor harus disegel: berikan kunci publik instansi penerima (--to-key) atau berkas frasa sandi (--passphrase-file); --plain hanya bila penerima tidak bisa membuka berkas tersegel.",
        "An export must be sealed: give the receiving agency's public key (--to-key) or a passphrase file (--passphrase-file); --plain only when the receiver cannot open a sealed file.",
    )


@dataclass(frozen=True)
class Protection:
    """What an export is sealed with, and how the audit event describes it (no secrets)."""

    key: sealed.SealingKey | None
    described: dict[str, Any] = field(default_factory=dict)

    def wrap(self, data: bytes, meta: dict[str, Any]) -> bytes:
        """The bytes to write: `data` sealed, or as it is for a plain export."""
        if self.key is None:
            return data
        out = io.BytesIO()
        sealed.seal(io.BytesIO(data), out, self.key, meta)
        return out.getvalue()


PLAIN = Protection(None, {"encryption": "none"})


class RecipientKeyUnreadable(InputError):
    code = "exchange_recipient_key_unreadable"
    message = Message(
        "Kunci publik penerima tidak terbaca; berikan berkas .pub instansi penerima (bukan berkas .key), tidak ada yang diekspor.",
        "The receiver's public key cannot be read; give the receiving agency's .pub file (not a .key file); nothing was exported.",
    )


def for_recipient(public_key_file: Path) -> Protection:
    """Sealed so only the holder of the receiver's private key opens it."""
    try:
        public = recipients.read_public(public_key_file)
    except sealed.SealError as exc:
        raise RecipientKeyUnreadable(reason=str(exc)) from exc
    return Protection(
        recipients.key_for_recipient(public),
        {"encryption": "x25519+aes-256-gcm", "recipient": recipients.fingerprint(public)},
    )


def with_passphrase(passphrase: str) -> Protection:
    """Sealed under a passphrase (scrypt), told to the receiver another way."""
    try:
        key = sealed.key_from_passphrase(passphrase)
    except sealed.SealError as exc:
        raise ExchangeSealError(reason=str(exc)) from exc
    return Protection(key, {"encryption": "scrypt+aes-256-gcm"})


def chosen(to_key: Path | None, passphrase_file: Path | None, plain: bool) -> Protection:
    """The protection an officer asked for; asking for none is refused."""
    if to_key is not None:
        return for_recipient(to_key)
    if passphrase_file is not None:
        return with_passphrase(_passphrase(passphrase_file))
    if plain:
        return PLAIN
    raise ProtectionRequired()


def _passphrase(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ExchangeSealError(reason=f"cannot read {path}: {exc.strerror}") from exc


def is_sealed(data: bytes) -> bool:
    """Whether a received file is a sealed stream rather than a plain transaction."""
    return data.startswith(sealed.MAGIC)


def opened(data: bytes, private_key_file: Path | None = None,
           passphrase_file: Path | None = None) -> bytes:  # fmt: skip
    """A received file's plain bytes: as they are, or unsealed with what the officer gave."""
    if not is_sealed(data):
        return data
    passphrase = None if passphrase_file is None else _passphrase(passphrase_file)
    out = io.BytesIO()
    try:
        sealed.unseal(io.BytesIO(data), out, recipients.opener(None, passphrase, private_key_file))
    except sealed.SealError as exc:
        raise ExchangeSealError(reason=str(exc)) from exc
    return out.getvalue()


def add_protection(parser: argparse.ArgumentParser) -> None:
    """--to-key | --passphrase-file | --plain: how an export is sealed (one is required)."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--to-key", type=Path, metavar="AGENCY.pub",
                     help="seal for the receiving agency's X25519 public key (`exchange keygen`)")  # fmt: skip
    how.add_argument("--passphrase-file", type=Path,
                     help="seal under the passphrase in this file (tell the receiver another way)")  # fmt: skip
    how.add_argument("--plain", action="store_true",
                     help="write the file unsealed (only for a receiver that cannot open sealed files; audited)")  # fmt: skip


def add_opening(parser: argparse.ArgumentParser) -> None:
    """--key | --passphrase-file: how a sealed file received is opened."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--key", type=Path, metavar="OURS.key",
                     help="our private key, for a file sealed for our public key")  # fmt: skip
    how.add_argument("--passphrase-file", type=Path, help="the passphrase the sender told us")
