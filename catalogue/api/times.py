"""Times on the wire: ISO 8601 with an offset, within the catalogue's years."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

from catalogue.domain.values import time_out_of_range


def _within_range(value: datetime) -> datetime:
    if time_out_of_range(value):
        raise ValueError("time must be between 1900 and 2199")
    return value


#: A timezone-aware time between 1900 and 2199 (422 otherwise, never an overflow).
Instant = Annotated[AwareDatetime, AfterValidator(_within_range)]
