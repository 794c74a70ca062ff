"""Value rules shared by the deciders (catalogue.domain.values), as tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from catalogue.domain.values import (
    ID_NAMESPACE,
    check_aware,
    check_email,
    check_instrument_name,
    check_name,
    check_period,
    check_proposal,
    check_text,
    check_username,
    derived_id,
)
from catalogue.errors import InvalidCommand

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
NAIVE = datetime(2026, 11, 24, 8, 0)
PARIS = timezone(timedelta(hours=1))


# function, arguments, keyword arguments -> the value returned (the value checked)
ACCEPTED: list[Any] = [
    pytest.param(check_text, ("",), {}, id="text-empty-when-optional"),
    pytest.param(check_text, ("a\tb\nc\r\n",), {}, id="text-tab-newline-cr"),
    pytest.param(check_text, ("é" * 4000,), {}, id="text-4000-chars"),
    pytest.param(check_text, ("abc",), {"max_length": 3}, id="text-at-max-length"),
    pytest.param(check_name, ("lysozyme_01 scan 1",), {}, id="name-inner-spaces"),
    pytest.param(check_name, ("x" * 200,), {}, id="name-200-chars"),
    pytest.param(check_name, ("a/b",), {}, id="name-inner-slash"),
    pytest.param(check_username, ("alice",), {}, id="username"),
    pytest.param(check_username, ("0a.b_c-d",), {}, id="username-digit-first-punctuation"),
    pytest.param(check_username, ("a" * 64,), {}, id="username-64"),
    pytest.param(check_instrument_name, ("ID23-1",), {}, id="instrument-ID23-1"),
    pytest.param(check_instrument_name, ("BM29",), {}, id="instrument-BM29"),
    pytest.param(check_instrument_name, ("A" * 32,), {}, id="instrument-32"),
    pytest.param(check_proposal, ("MX-2345",), {}, id="proposal-MX-2345"),
    pytest.param(check_proposal, ("IH-LS-3201",), {}, id="proposal-three-words"),
    pytest.param(check_proposal, ("A-B-C-D",), {}, id="proposal-four-words"),
    pytest.param(check_proposal, ("ABCDEFGH",), {}, id="proposal-8-chars"),
    pytest.param(check_email, ("alice.martin@esrf.fr",), {}, id="email"),
    pytest.param(check_email, ("a+b@sub.example.org",), {}, id="email-plus-subdomain"),
    pytest.param(check_aware, (START,), {}, id="aware-utc"),
    pytest.param(check_aware, (START.astimezone(PARIS),), {}, id="aware-offset"),
]


@pytest.mark.parametrize(("check", "args", "kwargs"), ACCEPTED)
def test_accepted_values_are_returned_unchanged(
    check: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    assert check(*args, "field", **kwargs) == args[0]


# function, arguments, keyword arguments -> field, fragment of the message
REJECTED: list[Any] = [
    pytest.param(check_text, ("  ",), {"required": True}, "must not be empty", id="text-blank"),
    pytest.param(check_text, ("",), {"required": True}, "must not be empty", id="text-empty"),
    pytest.param(check_text, ("x" * 4001,), {}, "4001 characters; at most 4000", id="text-long"),
    pytest.param(check_text, ("abcd",), {"max_length": 3}, "at most 3", id="text-over-max"),
    pytest.param(check_text, ("a\x00b",), {}, "control character '\\x00'", id="text-nul"),
    pytest.param(check_text, ("a\x1bb",), {}, "control character", id="text-escape"),
    pytest.param(check_name, ("",), {}, "must not be empty", id="name-empty"),
    pytest.param(check_name, ("x" * 201,), {}, "at most 200", id="name-201"),
    pytest.param(check_name, ("a\nb",), {}, "single line", id="name-newline"),
    pytest.param(check_name, ("a\tb",), {}, "single line", id="name-tab"),
    pytest.param(check_name, (" lead",), {}, "start or end with spaces", id="name-leading"),
    pytest.param(check_name, ("trail ",), {}, "start or end with spaces", id="name-trailing"),
    pytest.param(
        check_name,
        ("/lysozyme",),
        {},
        "",
        id="name-leading-slash",
    ),
    pytest.param(
        check_name,
        ("lysozyme/",),
        {},
        "",
        id="name-trailing-slash",
    ),
    pytest.param(check_username, ("Alice",), {}, "must be 1-64", id="username-upper"),
    pytest.param(check_username, ("",), {}, "must be 1-64", id="username-empty"),
    pytest.param(check_username, ("-alice",), {}, "must be 1-64", id="username-dash-first"),
    pytest.param(check_username, ("a" * 65,), {}, "must be 1-64", id="username-65"),
    pytest.param(check_username, ("al ice",), {}, "must be 1-64", id="username-space"),
    pytest.param(
        check_username,
        ("alice\n",),
        {},
        "must be 1-64",
        id="username-newline",
    ),
    pytest.param(check_instrument_name, ("id23-1",), {}, "must be 1-32", id="instrument-lower"),
    pytest.param(check_instrument_name, ("-ID23",), {}, "must be 1-32", id="instrument-dash"),
    pytest.param(check_instrument_name, ("A" * 33,), {}, "must be 1-32", id="instrument-33"),
    pytest.param(
        check_instrument_name,
        ("ID23-1\n",),
        {},
        "must be 1-32",
        id="instrument-newline",
    ),
    pytest.param(check_proposal, ("mx-2345",), {}, "upper-case", id="proposal-lower"),
    pytest.param(check_proposal, ("MX--2345",), {}, "upper-case", id="proposal-double-dash"),
    pytest.param(check_proposal, ("A-B-C-D-E",), {}, "upper-case", id="proposal-five-words"),
    pytest.param(check_proposal, ("ABCDEFGHI",), {}, "upper-case", id="proposal-9-chars"),
    pytest.param(check_proposal, ("MX 2345",), {}, "upper-case", id="proposal-space"),
    pytest.param(
        check_proposal,
        ("MX-2345\n",),
        {},
        "upper-case",
        id="proposal-newline",
    ),
    pytest.param(check_email, ("alice",), {}, "is not an e-mail address", id="email-no-at"),
    pytest.param(check_email, ("alice@esrf",), {}, "is not an e-mail", id="email-no-dot"),
    pytest.param(check_email, ("a b@esrf.fr",), {}, "is not an e-mail", id="email-space"),
    pytest.param(check_email, ("a@b@esrf.fr",), {}, "is not an e-mail", id="email-two-at"),
    pytest.param(
        check_email,
        ("a@esrf.fr\n",),
        {},
        "is not an e-mail",
        id="email-newline",
    ),
    pytest.param(check_aware, (NAIVE,), {}, "needs a timezone", id="aware-naive"),
]


@pytest.mark.parametrize(("check", "args", "kwargs", "fragment"), REJECTED)
def test_rejected_values_name_their_field(
    check: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidCommand) as raised:
        check(*args, "field", **kwargs)
    assert type(raised.value) is InvalidCommand
    assert raised.value.field == "field"
    assert fragment in raised.value.detail


# start, end -> field at fault, fragment of the message
PERIODS_REJECTED = [
    pytest.param(NAIVE, None, "start", "needs a timezone", id="naive-start-no-end"),
    pytest.param(NAIVE, START, "start", "needs a timezone", id="naive-start"),
    pytest.param(START, NAIVE, "end", "needs a timezone", id="naive-end"),
    pytest.param(
        START, START - timedelta(microseconds=1), "end", "is before start", id="end-before-start"
    ),
    pytest.param(
        START, START.astimezone(PARIS) - timedelta(hours=1), "end", "before", id="other-offset"
    ),
]


@pytest.mark.parametrize(("start", "end", "field", "fragment"), PERIODS_REJECTED)
def test_check_period_rejects(start: datetime, end: datetime | None, field: str, fragment: str):
    with pytest.raises(InvalidCommand) as raised:
        check_period(start, end, "start", "end")
    assert raised.value.field == field
    assert fragment in raised.value.detail


# start, end: periods that must pass (check_period returns None, raising nothing)
PERIODS_ACCEPTED = [
    pytest.param(START, None, id="open-ended"),
    pytest.param(START, START, id="end-equals-start"),
    pytest.param(START, START + timedelta(days=2), id="two-days"),
    pytest.param(START, START.astimezone(PARIS), id="same-instant-other-offset"),
]


@pytest.mark.parametrize(("start", "end"), PERIODS_ACCEPTED)
def test_check_period_accepts(start: datetime, end: datetime | None) -> None:
    assert check_period(start, end, "start", "end") is None


def test_derived_id_is_uuid5_of_the_joined_parts() -> None:
    assert derived_id("dataset", "x", "y") == uuid.uuid5(ID_NAMESPACE, "dataset\x1fx\x1fy")
    assert derived_id("dataset", "x", "y") == derived_id("dataset", "x", "y")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(("a", "bc"), ("ab", "c"), id="split-point"),
        pytest.param(("sample", "x"), ("dataset", "x"), id="kind"),
        pytest.param(("a",), ("a", ""), id="trailing-empty-part"),
    ],
)
def test_derived_ids_of_different_keys_differ(
    left: tuple[str, ...], right: tuple[str, ...]
) -> None:
    assert derived_id(*left) != derived_id(*right)
