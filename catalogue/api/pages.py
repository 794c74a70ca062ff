"""What every listing shares: limit and cursor parameters, and the page it answers with."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from catalogue.readmodels.paging import DEFAULT_LIMIT, MAX_LIMIT

T = TypeVar("T")

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (at most {MAX_LIMIT}).")
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=1000,
        description="The `next_cursor` of the previous page; omit for the first page.",
    ),
]
DEFAULT = DEFAULT_LIMIT


class PageOf(BaseModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last."
    )
    total: int = Field(description="How many items the listing has (with the filters).")
    total_exact: bool = Field(
        True, description="False when the total was counted only up to 10,000 (a lower bound)."
    )
