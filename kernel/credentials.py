"""Who an officer is at the console: GERBANG_USERNAME and GERBANG_PASSWORD, or asked at a terminal.

Commands that sign in (`gallery`, `exchange`, `registry exchange`) share this, so that one run
from cron or with its input redirected says what to set instead of failing on an empty prompt.
"""

from __future__ import annotations

import getpass
import os
import sys

from kernel.errors import InputError, Message, Unauthenticated


class CredentialsMissing(Unauthenticated):
    code = "console_credentials_missing"
    message = Message(
        "Nama pengguna atau kata sandi tidak diberikan dan tidak ada terminal untuk menanyakannya:"
        " setel GERBANG_USERNAME dan GERBANG_PASSWORD.",
        "No username or password was given and there is no terminal to ask at: set"
        " GERBANG_USERNAME and GERBANG_PASSWORD.",
    )


def console_credentials() -> tuple[str, str]:
    """(username, password) from the environment, else asked at the terminal (never echoed)."""
    username = os.environ.get("GERBANG_USERNAME")
    password = os.environ.get("GERBANG_PASSWORD")
    if username and password:
        return username, password
    if not sys.stdin.isatty():
        missing = [name for name, value in (("GERBANG_USERNAME", username),
                                            ("GERBANG_PASSWORD", password)) if not value]  # fmt: skip
        raise CredentialsMissing(missing=", ".join(missing))
    try:
        return username or input("Username: "), password or getpass.getpass("Password: ")
    except EOFError as exc:  # Ctrl-D at the prompt
        raise CredentialsMissing(missing="input ended") from exc


class NoTerminal(InputError):
    code = "console_no_terminal"
    message = Message(
        "Tidak ada terminal untuk menanyakan rahasia ini: berikan lewat standar input dengan"
        " opsi --...-stdin perintah ini (lihat --help).",
        "There is no terminal to ask for this secret at: give it on standard input with the"
        " command's --...-stdin option (see --help).",
    )


class EntriesDiffer(InputError):
    code = "console_entries_differ"
    message = Message(
        "Kedua ketikan berbeda: ulangi perintah dan ketik yang sama dua kali.",
        "The two entries differ: run the command again and type the same twice.",
    )


PROMPTS = {"Password": "Kata sandi", "Passphrase": "Frasa sandi"}  # what ask_twice asks for


def ask_twice(prompt: str) -> str:
    """A new password or passphrase (`prompt`: a key of PROMPTS), typed twice at the terminal
    (never echoed); asked in Indonesian and English."""
    if not sys.stdin.isatty():
        raise NoTerminal(asked=prompt)
    try:
        first = getpass.getpass(f"{PROMPTS.get(prompt, prompt)} / {prompt}: ")
        again = getpass.getpass("Ulangi / Again: ")
    except EOFError as exc:
        raise NoTerminal(asked=prompt) from exc
    if first != again:
        raise EntriesDiffer(asked=prompt)
    return first
