"""Stream versions on the wire: `ETag` on responses, `If-Match` on updates (412 when stale)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Response

from catalogue.errors import InvalidQuery

_ETAG = re.compile(r'^(?:W/)?"([0-9]{1,10})"$')

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=100,
        description='The `ETag` you read (e.g. `"3"`); the update is refused with 412 if the '
        "entity has changed since.",
    ),
]


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names; None for no header or `*`."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise InvalidQuery(
            f'If-Match {value[:40]!r} is not an ETag of this API (e.g. "3")', "If-Match"
        )
    return int(match.group(1))


def set_etag(response: Response, version: int) -> None:
    """Tag the response with the entity's stream version."""
    response.headers["ETag"] = f'"{version}"'
