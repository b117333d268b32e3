"""Import rows flagged as likely duplicates, for the desk to open and finish
(enrollment/flagged_imports.py; the save goes through the captures' commit route)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from edge.routes.documented import refusals
from edge.security import allow, site_of
from edge.site import Site
from enrollment import flagged_imports
from kernel.access import Principal

router = APIRouter(prefix="/v1/imports", tags=["imports"])


class FlaggedImportRow(BaseModel):
    import_id: str = Field(description="sha256 of the imported file (and its mapping)")
    row_id: str = Field(description="The export's own key for the row")
    session_id: str = Field(description="The row's open capture session: open it at the desk")
    role: str
    flagged_at: str
    captures: int = Field(description="Photos kept from the export")
    draft: dict[str, Any] = Field(description="The row's data, as the desk's form takes it")
    candidates: int = Field(description="Enrolled people it resembled when imported")


class FlaggedImportList(BaseModel):
    rows: list[FlaggedImportRow]


@router.get("/flagged", response_model=FlaggedImportList, responses=refusals())
def flagged(
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> dict[str, Any]:
    """Rows of earlier imports waiting for an officer's decision, oldest first."""
    return {"rows": flagged_imports.flagged_rows(site.db)}
