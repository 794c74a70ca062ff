"""Access rules (catalogue.domain.access): principals x investigation facts -> booleans."""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalogue.domain.access import (
    ANONYMOUS,
    InvestigationFacts,
    Principal,
    can_create_investigation,
    can_manage,
    can_read,
    can_see_emails,
    can_write_data,
    is_released,
    require,
    require_read,
)
from catalogue.errors import CatalogueError, Forbidden, NotFound, Unauthenticated
from tests.unit.callers import BEAMLINE, NOW, PARTICIPANTS, api_key, principals, user

EMBARGOED = InvestigationFacts(BEAMLINE, NOW + timedelta(days=1), PARTICIPANTS)
RELEASED = InvestigationFacts(BEAMLINE, NOW - timedelta(days=1), PARTICIPANTS)


PRINCIPALS = principals(scientist_also_of=frozenset({"BM29"}))

# principal -> read embargoed, read released, manage, create on this beamline, write data, emails
T, F = True, False
EXPECTED = {
    "anonymous":                   (F, T, F, F, F, F),
    "admin":                       (T, T, T, T, T, T),
    "principal-investigator":      (T, T, F, F, T, T),
    "co-investigator":             (T, T, F, F, T, T),
    "local-contact":               (T, T, F, F, T, T),
    "collaborator":                (T, T, F, F, F, T),
    "other-user":                  (F, T, F, F, F, T),
    "scientist-of-this-beamline":  (T, T, T, T, T, T),
    "scientist-of-other-beamline": (F, T, F, F, F, T),
    "api-key-of-this-beamline":    (T, T, F, F, T, T),
    "api-key-of-other-beamline":   (F, T, F, F, F, T),
}  # fmt: skip

MATRIX = [
    pytest.param(PRINCIPALS[who], facts, {
        "read": expected[0] if facts is EMBARGOED else expected[1],
        "manage": expected[2],
        "create_investigation": expected[3],
        "write_data": expected[4],
        "see_emails": expected[5],
    }, id=f"{who}-{state}")
    for who, expected in EXPECTED.items()
    for state, facts in (("embargoed", EMBARGOED), ("released", RELEASED))
]  # fmt: skip


@pytest.mark.parametrize(("principal", "facts", "allowed"), MATRIX)
def test_access_matrix(
    principal: Principal, facts: InvestigationFacts, allowed: dict[str, bool]
) -> None:
    assert {
        "read": can_read(principal, facts, NOW),
        "manage": can_manage(principal, facts),
        "create_investigation": can_create_investigation(principal, facts.instrument),
        "write_data": can_write_data(principal, facts),
        "see_emails": can_see_emails(principal),
    } == allowed


# release date relative to now -> released (the embargo ends at the release date itself)
@pytest.mark.parametrize(
    ("offset", "released"),
    [
        pytest.param(timedelta(0), True, id="release-date-is-now"),
        pytest.param(timedelta(microseconds=1), False, id="one-microsecond-before"),
        pytest.param(-timedelta(microseconds=1), True, id="one-microsecond-after"),
    ],
)
def test_embargo_boundary(offset: timedelta, released: bool) -> None:
    facts = InvestigationFacts(BEAMLINE, NOW + offset, PARTICIPANTS)
    assert (is_released(facts, NOW), can_read(ANONYMOUS, facts, NOW)) == (released, released)


def test_scientist_may_create_only_on_their_beamlines() -> None:
    scientist = PRINCIPALS["scientist-of-this-beamline"]
    assert [can_create_investigation(scientist, b) for b in (BEAMLINE, "BM29", "ID30A")] == [
        True,
        True,
        False,
    ]


# allowed, principal -> error class (None: no error) and a fragment of its detail
REQUIRE = [
    pytest.param(True, ANONYMOUS, None, "", id="allowed-anonymous"),
    pytest.param(True, user("zoe"), None, "", id="allowed-user"),
    pytest.param(False, ANONYMOUS, Unauthenticated, "write data needs a bearer token",
                 id="anonymous-refused"),
    pytest.param(False, user("zoe"), Forbidden, "user:zoe may not write data",
                 id="user-refused"),
    pytest.param(False, api_key("BM29"), Forbidden, "api-key:BM29/k1 may not write data",
                 id="api-key-refused"),
]  # fmt: skip


@pytest.mark.parametrize(("allowed", "principal", "error", "fragment"), REQUIRE)
def test_require(
    allowed: bool, principal: Principal, error: type[CatalogueError] | None, fragment: str
) -> None:
    if error is None:
        assert require(allowed, principal, "write data") is None
        return
    with pytest.raises(error) as raised:
        require(allowed, principal, "write data")
    assert type(raised.value) is error
    assert fragment in raised.value.detail


# principal, facts -> the facts back, or NotFound
REQUIRE_READ = [
    pytest.param(ANONYMOUS, RELEASED, True, id="anonymous-released"),
    pytest.param(ANONYMOUS, EMBARGOED, False, id="anonymous-embargoed"),
    pytest.param(user("zoe"), EMBARGOED, False, id="other-user-embargoed"),
    pytest.param(user("collab"), EMBARGOED, True, id="collaborator-embargoed"),
    pytest.param(api_key("BM29"), EMBARGOED, False, id="other-api-key-embargoed"),
    pytest.param(api_key(BEAMLINE), EMBARGOED, True, id="own-api-key-embargoed"),
    pytest.param(user("root", admin=True), None, False, id="admin-missing"),
    pytest.param(ANONYMOUS, None, False, id="anonymous-missing"),
]


@pytest.mark.parametrize(("principal", "facts", "readable"), REQUIRE_READ)
def test_require_read(
    principal: Principal, facts: InvestigationFacts | None, readable: bool
) -> None:
    if readable:
        assert require_read(principal, facts, NOW, "dataset") is facts
        return
    with pytest.raises(NotFound) as raised:
        require_read(principal, facts, NOW, "dataset")
    # The same answer as for an id that does not exist: existence is never revealed.
    assert raised.value.detail == "no dataset with that id"


@pytest.mark.parametrize(
    ("principal", "actor"),
    [
        pytest.param(ANONYMOUS, "anonymous", id="anonymous"),
        pytest.param(user("alice"), "user:alice", id="user"),
        pytest.param(api_key(BEAMLINE), "api-key:ID23-1/k1", id="api-key"),
    ],
)
def test_actor(principal: Principal, actor: str) -> None:
    assert principal.actor == actor
