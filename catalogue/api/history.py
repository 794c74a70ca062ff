"""The history entry model every entity's `/history` answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class HistoryEntry(BaseModel):
    """One event of an entity: who changed what, and when."""

    version: int = Field(description="The entity's version after this change (its ETag).")
    position: int = Field(description="The event's position in the catalogue's global order.")
    type: str = Field(examples=["DatasetClosed"])
    recorded_at: datetime
    actor: str | None = Field(examples=["user:alice", "api-key:ID23-1/5f3c9a1b2c3d4e5f"])
    source: str | None = Field(examples=["api", "cli", "ingest"])
    changes: dict[str, Any] = Field(description="The event's data (file lists summarised).")
