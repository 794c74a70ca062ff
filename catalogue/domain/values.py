"""Value rules shared by the deciders: names, free text, times, and deterministic ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from catalogue.errors import InvalidCommand

#: Namespace of the ids derived from natural keys (dataset and sample names, proposals).
ID_NAMESPACE = uuid.UUID("6f0a4c52-7d7e-4c8e-9a43-2b9d1c0f5e17")

MAX_TEXT = 4000
MAX_NAME = 200
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_INSTRUMENT = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")
_PROPOSAL = re.compile(r"^[A-Z0-9]{1,8}(-[A-Z0-9]{1,8}){0,3}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]{1,63}$")
#: The longest address SMTP carries (RFC 5321), and the users.email column's size.
MAX_EMAIL = 320


def derived_id(*parts: str) -> uuid.UUID:
    """A stable id from a natural key: a retried create lands on the same stream."""
    return uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts))


def check_text(
    value: str, field: str, *, max_length: int = MAX_TEXT, required: bool = False
) -> str:
    """Free text: no NUL or other control characters but tab/newline, bounded length."""
    if required and not value.strip():
        raise InvalidCommand(f"{field} must not be empty", field)
    if len(value) > max_length:
        raise InvalidCommand(f"{field} is {len(value)} characters; at most {max_length}", field)
    for char in value:
        if char < " " and char not in "\t\n\r":
            raise InvalidCommand(f"{field} contains control character {char!r}", field)
    return value


def check_name(value: str, field: str) -> str:
    """A name (dataset, sample, collection): one line, 1 to 200 characters, no '/' at ends."""
    check_text(value, field, max_length=MAX_NAME, required=True)
    if "\n" in value or "\r" in value or "\t" in value:
        raise InvalidCommand(f"{field} must be a single line", field)
    if value != value.strip():
        raise InvalidCommand(f"{field} must not start or end with spaces", field)
    if value.startswith("/") or value.endswith("/"):
        raise InvalidCommand(f"{field} must not start or end with '/'", field)
    return value


def check_username(value: str, field: str = "username") -> str:
    """A login name: lower-case letters, digits, '.', '_' and '-', up to 64 characters."""
    if not _USERNAME.fullmatch(value):
        raise InvalidCommand(
            f"{field} {value[:70]!r} must be 1-64 of a-z, 0-9, '.', '_', '-' "
            "starting with a letter or digit",
            field,
        )
    return value


def check_instrument_name(value: str, field: str = "instrument") -> str:
    """A beamline name as the facility writes it: `ID23-1`, `BM29`."""
    if not _INSTRUMENT.fullmatch(value):
        raise InvalidCommand(
            f"{field} {value[:40]!r} must be 1-32 of A-Z, 0-9, '_', '.', '-' (e.g. 'ID23-1')",
            field,
        )
    return value


def check_proposal(value: str, field: str = "proposal") -> str:
    """A proposal code: upper-case words joined by '-' (`MX-2345`, `IH-LS-3201`)."""
    if not _PROPOSAL.fullmatch(value):
        raise InvalidCommand(
            f"{field} {value[:40]!r} must be upper-case letters and digits joined by '-' "
            "(e.g. 'MX-2345')",
            field,
        )
    return value


def check_email(value: str, field: str = "email") -> str:
    """An e-mail address of the usual shape (delivery is not checked)."""
    if len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise InvalidCommand(f"{field} {value[:80]!r} is not an e-mail address", field)
    return value


#: Times outside these bounds are typing mistakes, and near year 1 or 9999 they overflow
#: when converted to UTC or when an embargo is added.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def time_out_of_range(value: datetime) -> bool:
    """Whether an aware time lies outside the catalogue's years (1900 to 2199)."""
    if EARLIEST.year < value.year < LATEST.year - 1:
        # No offset (under a day) moves a time of these years out of range: the common case.
        return False
    # Compare with the offset applied by hand: astimezone() itself overflows at the edges.
    offset = value.utcoffset() or timedelta(0)
    naive = value.replace(tzinfo=None)
    return not (
        EARLIEST.replace(tzinfo=None) + offset <= naive < LATEST.replace(tzinfo=None) + offset
    )


def check_aware(value: datetime, field: str) -> datetime:
    """A timezone-aware time in the years 1900 to 2199 (naive times are ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidCommand(f"{field} needs a timezone (e.g. '2026-11-24T08:00:00Z')", field)
    if time_out_of_range(value):
        raise InvalidCommand(f"{field} {value.isoformat()} is not between 1900 and 2199", field)
    return value


def check_period(start: datetime, end: datetime | None, start_field: str, end_field: str) -> None:
    """Start and end are aware, and the end is not before the start."""
    check_aware(start, start_field)
    if end is not None:
        check_aware(end, end_field)
        if end < start:
            raise InvalidCommand(
                f"{end_field} {end.isoformat()} is before {start_field} {start.isoformat()}",
                end_field,
            )
