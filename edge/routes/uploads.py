"""Reading an uploaded image: the declared type and the size cap are checked before anything else.

A gate frame is checked further, from its header, before any decision: an empty file or bytes
that are no image say nothing about who stands at the gate, so they are refused with their code
and nothing is recorded. A real frame with no usable face stays a recorded denial (it is
evidence that someone tried to pass).
"""

from __future__ import annotations

from fastapi import UploadFile

from edge.settings import Settings
from edge.wiring import engine_options
from models.errors import ImageTooLarge
from models.imaging import check_content_type, check_image


async def read_upload(upload: UploadFile, settings: Settings) -> bytes:
    """The upload's bytes, refusing a wrong declared type or a size over the cap early."""
    check_content_type(upload.content_type)
    data = await upload.read(settings.images.max_bytes + 1)
    if len(data) > settings.images.max_bytes:
        raise ImageTooLarge.exceeding("bytes", len(data), settings.images.max_bytes)
    return data


async def read_gate_frame(upload: UploadFile, settings: Settings) -> bytes:
    """A gate frame's bytes, refused (nothing recorded) when empty or not an image."""
    data = await read_upload(upload, settings)
    check_image(data, engine_options(settings).limits)
    return data
