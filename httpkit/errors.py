"""One rendering of every error: `{"error": {"code", "message": {"id", "en"}, "details"}}`.

`install_error_handlers(app)` makes a FastAPI app answer house errors, request validation
failures, the framework's own refusals (an unknown route 404, a wrong method 405, a body it
could not parse, JSON nested too deep) and any unexpected failure (500, without internals) in
that shape, and marks every response `X-Content-Type-Options: nosniff` so no stored upload is
ever sniffed into HTML; `error_responses(...)` declares them in a route's OpenAPI entry, so the
published document says what a client will really receive.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, ClassVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.errors import GerbangError, InputError, Message, NotFound

log = logging.getLogger(__name__)

MALFORMED = Message(
    "Permintaan tidak lengkap atau salah format.", "The request is incomplete or malformed."
)


class ErrorMessage(BaseModel):
    id: str = Field(description="Bahasa Indonesia: what an officer reads first")
    en: str = Field(description="English")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. face_not_found")
    message: ErrorMessage
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error response Gerbang sends."""

    error: ErrorDetail


def error_response(_: Request, exc: Exception) -> JSONResponse:
    """A house error as its JSON body and HTTP status."""
    assert isinstance(exc, GerbangError)
    response = JSONResponse(exc.to_payload(), status_code=exc.status)
    retry_after = exc.details.get("retry_after_s")
    if isinstance(retry_after, int | float) and retry_after > 0:  # throttled or overloaded
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


def validation_response(request: Request, exc: Exception) -> JSONResponse:
    """A request FastAPI could not parse, as a 422 in the house format."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return error_response(request, InputError(MALFORMED, problems=problems))


class RouteNotFound(NotFound):
    code = "route_not_found"
    message = Message(
        "Alamat ini tidak ada. Periksa alamat dan versi aplikasi.",
        "There is no such address. Check the address and the application version.",
    )


class MethodNotAllowed(GerbangError):
    code = "method_not_allowed"
    status: ClassVar[int] = 405
    message = Message(
        "Alamat ini tidak menerima cara permintaan itu. Periksa aplikasi yang mengirimnya.",
        "This address does not take that kind of request. Check the client that sent it.",
    )


class BodyUnreadable(GerbangError):
    code = "body_unreadable"
    status: ClassVar[int] = 400
    message = Message(
        "Isi permintaan tidak dapat dibaca (rusak atau bersarang terlalu dalam).",
        "The request body cannot be read (corrupt, or nested too deeply).",
    )


class HttpRefusal(GerbangError):
    """Any other refusal by the framework, with its own status."""

    code = "http_error"
    message = Message(
        "Permintaan ditolak. Periksa aplikasi yang mengirimnya.",
        "The request was refused. Check the client that sent it.",
    )


def http_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own refusals (404, 405, an unreadable body...) in the house format."""
    assert isinstance(exc, StarletteHTTPException)
    error: GerbangError
    if exc.status_code == 404:
        error = RouteNotFound(path=request.url.path[:200])
    elif exc.status_code == 405:
        error = MethodNotAllowed(method=request.method)
    elif exc.status_code == 400:
        error = BodyUnreadable()
    else:
        error = HttpRefusal(status=exc.status_code)
    response = JSONResponse(error.to_payload(), status_code=exc.status_code)
    for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
        response.headers[name] = value
    return response


def unexpected_response(request: Request, exc: Exception) -> JSONResponse:
    """A failure nobody foresaw: logged with its traceback, answered without internals."""
    log.error("unexpected failure on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, GerbangError())


class NoSniff:
    """Every response says `X-Content-Type-Options: nosniff` (a stored upload is never HTML)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, marked)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of `app` alike, and mark its responses nosniff."""
    app.add_exception_handler(GerbangError, error_response)
    app.add_exception_handler(RequestValidationError, validation_response)
    app.add_exception_handler(StarletteHTTPException, http_error_response)
    app.add_exception_handler(Exception, unexpected_response)
    app.add_middleware(NoSniff)


def error_responses(*errors: type[GerbangError]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry for the errors a route can give, grouped by status."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    return {
        status: {
            "model": ErrorBody,
            "description": "Codes: " + ", ".join(sorted(set(codes))),
        }
        for status, codes in sorted(by_status.items())
    }
