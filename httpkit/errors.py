"""One rendering of every error: `{"error": {"code", "message": {"id", "en"}, "details"}}`.

`install_error_handlers(app)` makes a FastAPI app answer house errors and request validation
failures in that shape; `error_responses(...)` declares them in a route's OpenAPI entry, so the
published document says what a client will really receive.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import Request

from kernel.errors import GerbangError, InputError, Message

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
    return JSONResponse(exc.to_payload(), status_code=exc.status)


def validation_response(request: Request, exc: Exception) -> JSONResponse:
    """A request FastAPI could not parse, as a 422 in the house format."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return error_response(request, InputError(MALFORMED, problems=problems))


def install_error_handlers(app: FastAPI) -> None:
    """Render house errors and validation failures alike in `app`."""
    app.add_exception_handler(GerbangError, error_response)
    app.add_exception_handler(RequestValidationError, validation_response)


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
