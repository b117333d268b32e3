"""Reading an uploaded image: the declared type and the size cap are checked before anything else."""

from __future__ import annotations

from fastapi import UploadFile

from edge.settings import Settings
from models.errors import ImageTooLarge
from models.imaging import check_content_type


async def read_upload(upload: UploadFile, settings: Settings) -> bytes:
    """The upload's bytes, refusing a wrong declared type or a size over the cap early."""
    check_content_type(upload.content_type)
    data = await upload.read(settings.images.max_bytes + 1)
    if len(data) > settings.images.max_bytes:
        raise ImageTooLarge.exceeding("bytes", len(data), settings.images.max_bytes)
    return data
