"""The server's access log without secrets: a query value named like a key, token or password is
replaced before the line is written.

The kiosk takes its device key after `#`, which a browser never sends; but an installer who types
`/gate?gate=main&key=KEY` sends the key in the request line, and uvicorn logs that line in full
before the page can refuse it. The filter sits on the "uvicorn.access" logger itself, so every
handler (uvicorn's own console handler or one an operator configures) sees the redacted line.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "REDACTED"
# A query parameter whose name contains one of these never reaches the log with its value.
SECRET_NAME_PARTS = ("key", "token", "password", "passwd", "secret", "signature", "auth")


def _is_secret(name: str) -> bool:
    """Whether a raw (still percent-encoded) query parameter name looks like it holds a secret."""
    lowered = unquote_plus(name).lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact_target(target: str) -> str:
    """A request target (path and query) with the value of every secret-like parameter replaced."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if equals and _is_secret(name) else pair)
    return f"{path}?{'&'.join(pairs)}"


class SecretQueryFilter(logging.Filter):
    """Redacts secret query values in uvicorn's access records (their arguments keep their shape,
    which uvicorn's AccessFormatter unpacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = redact_target(record.msg)
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(known, SecretQueryFilter) for known in logger.filters):
        logger.addFilter(SecretQueryFilter())
