"""Bounded requests: a body over its route's cap is refused before it is read (both apps).

A 100 MB login body used to cost 284 MB of memory before anything looked at it. The
`RequestLimits` ASGI middleware refuses with 413 `request_too_large` as soon as the declared
`Content-Length` exceeds the cap, without reading a byte of the body; a body sent without a
length (chunked) is counted as it streams and refused at the first byte past the cap. Caps are
per route: uploads (multipart, images) get the upload cap, a route listed in `routes` its own,
every other body (JSON) the small one. A NUL in the path or query (which PostgreSQL cannot hold
and no client needs) is refused too, before any route sees it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import GerbangError, InputError, Message, TooLarge

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UPLOAD_TYPES = ("multipart/form-data", "image/", "application/octet-stream")


class RequestTooLarge(TooLarge):
    code = "request_too_large"
    message = Message(
        "Kiriman terlalu besar untuk alamat ini. Kirim berkas yang lebih kecil.",
        "The request body is too large for this address. Send a smaller file.",
    )


class RequestMalformed(InputError):
    code = "request_malformed"
    message = Message(
        "Permintaan tidak sah (panjang atau alamatnya). Periksa aplikasi yang mengirimnya.",
        "The request is not valid (its length or its address). Check the client that sent it.",
    )


@dataclass(frozen=True)
class BodyLimits:
    """Caps in bytes: JSON and other small bodies, uploads, and routes with their own."""

    json_bytes: int = 1024 * 1024
    upload_bytes: int = 48 * 1024 * 1024
    routes: tuple[tuple[str, str, int], ...] = field(default=())  # (method, path, cap)

    def cap(self, method: str, path: str, content_type: str) -> int:
        """The largest body this request may carry."""
        for route_method, route_path, cap in self.routes:
            if method == route_method and path == route_path:
                return cap
        if content_type.lower().startswith(UPLOAD_TYPES):
            return self.upload_bytes
        return self.json_bytes


class RequestLimits:
    """The ASGI middleware: refuse an oversized body before it is read, count what streams."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cap = self.limits.cap(scope["method"], scope["path"], headers.get("content-type", ""))
        problem = _refusal(scope, headers.get("content-length"), cap)
        if problem is not None:
            await _answer(send, problem)
            return
        await _Counted(self.app, cap).run(scope, receive, send)


def _refusal(scope: Scope, declared: str | None, cap: int) -> GerbangError | None:
    if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
        return RequestMalformed(reason="NUL in the address")
    if declared is None:
        return None
    if not declared.isdigit() or len(declared) > 15:
        return RequestMalformed(reason="Content-Length is not a number")
    if int(declared) > cap:
        return RequestTooLarge(max_bytes=cap, declared_bytes=int(declared))
    return None


class _Counted:
    """One request whose streamed body is counted: past the cap, the 413 is answered here, the
    app reads a disconnect, and whatever it answers after that is dropped."""

    def __init__(self, app: ASGIApp, cap: int) -> None:
        self.app, self.cap = app, cap
        self.seen, self.refused, self.started = 0, False, False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> MutableMapping[str, Any]:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.seen += len(message.get("body", b""))
                if self.seen > self.cap:
                    self.refused = True
                    if not self.started:
                        self.started = True
                        await _answer(send, RequestTooLarge(max_bytes=self.cap))
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: MutableMapping[str, Any]) -> None:
            if self.refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, counted, guarded)


async def _answer(send: Send, error: GerbangError) -> None:
    """The error as a complete response; the connection closes (the body was never read)."""
    body = json.dumps(error.to_payload()).encode()
    await send({
        "type": "http.response.start",
        "status": error.status,
        "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                    (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
