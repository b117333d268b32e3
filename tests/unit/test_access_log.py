"""The access log's redaction: which query values are secrets, and that the rest is kept as sent."""

from __future__ import annotations

import logging

import pytest

from httpkit.access_log import SecretQueryFilter, redact_target


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/gate?gate=main&key=K1", "/gate?gate=main&key=REDACTED"),
        ("/x?access_token=T&page=2", "/x?access_token=REDACTED&page=2"),
        ("/x?Password=P&SECRET=S", "/x?Password=REDACTED&SECRET=REDACTED"),
        ("/x?k%65y=K1", "/x?k%65y=REDACTED"),  # a percent-encoded name is still a key
        ("/x?device_key=K1&device_key=K2", "/x?device_key=REDACTED&device_key=REDACTED"),
        ("/x?key", "/x?key"),  # no value to hide
        ("/v1/identities?name=Budi&nik=3201", "/v1/identities?name=Budi&nik=3201"),
        ("/desk", "/desk"),
    ],
)
def test_only_secret_like_values_are_redacted(target: str, logged: str) -> None:
    assert redact_target(target) == logged


def test_the_filter_keeps_the_shape_uvicorn_formats() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/gate?key=K1", "1.1", 200), None)  # fmt: skip
    assert SecretQueryFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /gate?key=REDACTED HTTP/1.1" 200'
