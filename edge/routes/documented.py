"""The error responses routes declare in the OpenAPI, in the groups routes meet them.

`refusals(...)` is a route's `responses=`: the errors it names, the 422 every parsed request can
give, and, unless `public=True`, the 401 and 403 of a route behind `allow(...)`.
"""

from __future__ import annotations

from typing import Any

from edge.model_fetch import ModelsFetchFailed, ModelsFetching
from enrollment.db import StorageError
from httpkit.errors import error_responses
from httpkit.work import Overloaded
from kernel.errors import Forbidden, GerbangError, InputError, Unauthenticated
from models.errors import (
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    LowQualityFace,
    ModelNotReady,
    MultipleFaces,
    NoFaceFound,
    UnsupportedMediaType,
)
from models.fingerprint.nbis import FingerprintExtractorMissing, FingerprintImageInvalid

AUTH: tuple[type[GerbangError], ...] = (Unauthenticated, Forbidden)
UPLOAD: tuple[type[GerbangError], ...] = (UnsupportedMediaType, ImageTooLarge, InvalidImage)
FACE: tuple[type[GerbangError], ...] = (
    *UPLOAD,
    ImageTooSmall,
    NoFaceFound,
    MultipleFaces,
    LowQualityFace,
    ModelNotReady,
    ModelsFetching,  # a fresh site's first start, fetching its pack's missing files
    ModelsFetchFailed,  # ... and where it cannot: what to place where
    Overloaded,
)
FINGER: tuple[type[GerbangError], ...] = (
    *UPLOAD,
    FingerprintImageInvalid,
    FingerprintExtractorMissing,
    Overloaded,
)


def refusals(*errors: type[GerbangError], public: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` of a route that can give `errors` (plus 422, 401/403, 503)."""
    return error_responses(InputError, StorageError, *(() if public else AUTH), *errors)


def binary(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 entry of a route that answers with bytes, not JSON."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"content": {media_type: {"schema": schema}}, "description": description}}
