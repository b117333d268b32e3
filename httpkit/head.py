"""HEAD answered as GET without its body (RFC 9110 section 9.3.2).

FastAPI registers a route for the methods it names, so `curl -I`, a load balancer's health check
or an uptime probe sending HEAD got 405 on every page and probe and saw the service as down. This
middleware runs a HEAD request as the GET it stands for and sends the same status and headers
(Content-Length included), but no body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Answer HEAD with the GET route's status and headers, and an empty body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
