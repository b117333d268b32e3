"""Request and response bodies of the registry's HTTP API (pydantic only, no FastAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SITE_ID_PATTERN = r"^[A-Za-z0-9._-]+$"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class LoginResponse(BaseModel):
    token: str
    role: str
    region: str | None


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["same", "not_same"]
    reason: str = Field(min_length=3, max_length=2000)


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity_id: str = Field(min_length=36, max_length=36)
    to_site: str = Field(min_length=2, max_length=40, pattern=SITE_ID_PATTERN)
    reason: str = Field(min_length=3, max_length=2000)


class SiteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=40, pattern=SITE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=40, description="Kanwil code")
    public_key: str = Field(min_length=40, max_length=60, description="base64 raw Ed25519 key")


class PhotoRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000, description="Why the photo is needed")


class SiteKeyRequest(BaseModel):
    """A central admin registers a site's new key (after a revocation)."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=40, max_length=60, description="base64 raw Ed25519 key")
    reason: str = Field(min_length=3, max_length=1000)


class SiteKeyRevocation(BaseModel):
    """Which key to refuse from now on (default: every key the site still has), and why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=1000)
    public_key: str | None = Field(None, min_length=40, max_length=60)
