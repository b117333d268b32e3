"""The running site service, asked from the console (`gerbang gallery check|rebuild`).

Every way the conversation can fail becomes a house error, printed by the console as
`error [CODE]:` in Indonesian and English: no credentials and no terminal, a service that cannot
be reached, a sign-in or a request refused. A refusal carries the service's own bilingual message
from its error body (`{"error": {"code", "message": {"id", "en"}, "details"}}`).
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx

from edge.settings import Settings
from kernel.credentials import console_credentials
from kernel.errors import GerbangError, Message, Unauthenticated, Unavailable


class ServiceUnreachable(Unavailable):
    code = "service_unreachable"
    message = Message(
        "Layanan situs tidak dapat dihubungi: jalankan dengan `gerbang serve`, atau sebutkan"
        " alamatnya dengan --url.",
        "The site service cannot be reached: start it with `gerbang serve`, or give its address"
        " with --url.",
    )


class SignInRefused(Unauthenticated):
    code = "sign_in_refused"
    message = Message(
        "Layanan situs menolak masuk dengan nama pengguna dan kata sandi ini.",
        "The site service refused to sign in with this username and password.",
    )


class ServiceRefused(GerbangError):
    code = "service_refused"
    status = 502
    message = Message(
        "Layanan situs menolak permintaan ini.",
        "The site service refused this request.",
    )


def service_url(args: argparse.Namespace) -> str:
    """--url, else the service this machine's settings describe (EDGE_HOST and EDGE_PORT)."""
    if args.url:
        return str(args.url).rstrip("/")
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _answer_error(response: httpx.Response) -> tuple[Message | None, dict[str, Any]]:
    """The service's bilingual message and its code and details; (None, the text) if not one."""
    try:
        error = response.json()["error"]
        message = Message(str(error["message"]["id"]), str(error["message"]["en"]))
        return message, {"service_code": error["code"], **dict(error.get("details") or {})}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, {"answer": response.text[:300]}


def raise_for_refusal(response: httpx.Response, error: type[GerbangError]) -> None:
    """Nothing for a 2xx answer; else `error` with the service's own message."""
    if response.is_success:
        return
    message, details = _answer_error(response)
    raise error(message, {"url": str(response.url), "status": response.status_code, **details})


class SiteService:
    """A client signed in to the running service; requests that fail raise house errors."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=600)

    def sign_in(self) -> None:
        """Sign in with GERBANG_USERNAME/PASSWORD (or asked at the terminal)."""
        username, password = console_credentials()
        answer = self.request("POST", "/v1/auth/login",
                              json={"username": username, "password": password}, refused=SignInRefused)  # fmt: skip
        self._http.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def request(
        self, method: str, path: str, refused: type[GerbangError] = ServiceRefused, **kwargs: Any
    ) -> httpx.Response:
        """One request; ServiceUnreachable if no answer, `refused` if the answer is an error."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(url=self.url, reason=str(exc) or type(exc).__name__) from exc
        raise_for_refusal(response, refused)
        return response

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def signed_in_service(args: argparse.Namespace) -> SiteService:
    """The service at --url (or the settings' address), signed in; closed again if that fails."""
    service = SiteService(service_url(args))
    try:
        service.sign_in()
    except BaseException:
        service.close()
        raise
    return service
