"""Users, tokens and groups (catalogue.domain.identity): given events, command, then."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest

from catalogue.domain.identity import (
    AddMember,
    AddUser,
    CreateGroup,
    Group,
    GroupCreated,
    GroupMemberAdded,
    GroupMemberRemoved,
    IssueToken,
    RemoveMember,
    RevokeToken,
    TokenIssued,
    TokenRevoked,
    UpdateUser,
    User,
    UserAdded,
    UserUpdated,
    decide_group,
    decide_user,
    evolve_group,
    evolve_user,
)
from catalogue.errors import (
    AlreadyExists,
    CatalogueError,
    DomainError,
    InvalidCommand,
    NotFound,
)
from catalogue.events import Event

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=30)


@dataclass(frozen=True)
class Rejected:
    """The error a command must raise: exact class, field at fault, fragment of the detail."""

    error: type[CatalogueError]
    field: str | None
    fragment: str


def check(decide: Callable[[Any, Any], list[Event]], state: Any, command: Any, then: Any) -> None:
    if isinstance(then, Rejected):
        with pytest.raises(then.error) as raised:
            decide(state, command)
        assert type(raised.value) is then.error
        assert getattr(raised.value, "field", None) == then.field
        assert then.fragment in raised.value.detail
    else:
        assert decide(state, command) == then


def given_user(events: Iterable[Event]) -> User:
    return reduce(evolve_user, events, User())


def given_group(events: Iterable[Event]) -> Group:
    return reduce(evolve_group, events, Group())


ALICE = UserAdded(username="alice", full_name="Alice Martin", email="alice@esrf.fr")
TOKEN = TokenIssued(token_id="t1", secret_hash="h1", label="laptop", expires_at=EXPIRES)
REVOKED = TokenRevoked(token_id="t1")
ADD_ALICE = AddUser("alice", "Alice Martin", "alice@esrf.fr")

USER_CASES = [
    pytest.param([], ADD_ALICE, [ALICE], id="add"),
    pytest.param(
        [],
        AddUser("bob", "", "bob@esrf.fr"),
        [UserAdded(username="bob", full_name="", email="bob@esrf.fr")],
        id="add-without-full-name",
    ),
    pytest.param([ALICE], ADD_ALICE, Rejected(AlreadyExists, "username", "already exists"),
                 id="add-twice"),
    pytest.param([], AddUser("Alice", "A", "a@esrf.fr"), Rejected(InvalidCommand, "username",
                 "must be 1-64"), id="add-bad-username"),
    pytest.param([], AddUser("alice", "A", "alice-at-esrf"), Rejected(InvalidCommand, "email",
                 "is not an e-mail address"), id="add-bad-email"),
    pytest.param([], AddUser("alice", "A" * 201, "a@esrf.fr"), Rejected(InvalidCommand,
                 "full_name", "at most 200"), id="add-long-full-name"),
    pytest.param([], AddUser("alice", "A\x07", "a@esrf.fr"), Rejected(InvalidCommand,
                 "full_name", "control character"), id="add-control-char-in-name"),
    pytest.param([], UpdateUser(full_name="A"), Rejected(NotFound, None, "no such user"),
                 id="update-missing-user"),
    pytest.param([ALICE], UpdateUser(full_name="Alice Dupont"),
                 [UserUpdated(full_name="Alice Dupont")], id="update-name"),
    pytest.param([ALICE], UpdateUser(email="a.martin@esrf.fr"),
                 [UserUpdated(email="a.martin@esrf.fr")], id="update-email"),
    pytest.param([ALICE], UpdateUser(full_name="Alice Dupont", email="a.dupont@esrf.fr"),
                 [UserUpdated(full_name="Alice Dupont", email="a.dupont@esrf.fr")],
                 id="update-both"),
    pytest.param([ALICE], UpdateUser(), [], id="update-nothing"),
    pytest.param([ALICE], UpdateUser(full_name="Alice Martin", email="alice@esrf.fr"), [],
                 id="update-same-values"),
    pytest.param([ALICE, UserUpdated(full_name="Alice Dupont")],
                 UpdateUser(full_name="Alice Dupont"), [], id="update-to-current-name"),
    pytest.param([ALICE], UpdateUser(email="nope"), Rejected(InvalidCommand, "email",
                 "is not an e-mail"), id="update-bad-email"),
    pytest.param([ALICE], UpdateUser(full_name="x" * 201), Rejected(InvalidCommand,
                 "full_name", "at most 200"), id="update-long-name"),
    pytest.param([ALICE], IssueToken("t1", "h1", "laptop", EXPIRES), [TOKEN], id="issue-token"),
    pytest.param([ALICE], IssueToken("t2", "h2", "ci", None),
                 [TokenIssued(token_id="t2", secret_hash="h2", label="ci", expires_at=None)],
                 id="issue-token-never-expiring"),
    pytest.param([], IssueToken("t1", "h1", "laptop", None), Rejected(NotFound, None,
                 "no such user"), id="issue-token-missing-user"),
    pytest.param([ALICE, TOKEN], IssueToken("t1", "h9", "again", None),
                 Rejected(AlreadyExists, "token_id", "'t1' exists"), id="issue-token-same-id"),
    pytest.param([ALICE, TOKEN, REVOKED], IssueToken("t1", "h9", "again", None),
                 Rejected(AlreadyExists, "token_id", "exists"), id="issue-revoked-id-again"),
    pytest.param([ALICE], IssueToken("t1", "h1", "laptop", datetime(2026, 12, 24)),
                 Rejected(InvalidCommand, "expires_at", "needs a timezone"),
                 id="issue-token-naive-expiry"),
    pytest.param([ALICE], IssueToken("t1", "h1", "l" * 201, None),
                 Rejected(InvalidCommand, "label", "at most 200"), id="issue-token-long-label"),
    pytest.param([ALICE, TOKEN], RevokeToken("t1"), [REVOKED], id="revoke"),
    pytest.param([ALICE, TOKEN, REVOKED], RevokeToken("t1"), [], id="revoke-twice"),
    pytest.param([ALICE], RevokeToken("t1"), Rejected(NotFound, None, "has no token 't1'"),
                 id="revoke-unknown-token"),
    pytest.param([], RevokeToken("t1"), Rejected(NotFound, None, "no such user"),
                 id="revoke-missing-user"),
    pytest.param([ALICE], object(), Rejected(InvalidCommand, None, "unknown command object"),
                 id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), USER_CASES)
def test_decide_user(events: list[Event], command: Any, then: Any) -> None:
    check(decide_user, given_user(events), command, then)


USER_STATES = [
    pytest.param([], User(), id="nothing"),
    pytest.param([ALICE], User("alice", "Alice Martin", "alice@esrf.fr"), id="added"),
    pytest.param([ALICE, UserUpdated(full_name="Alice Dupont")],
                 User("alice", "Alice Dupont", "alice@esrf.fr"), id="name-updated"),
    pytest.param([ALICE, UserUpdated(email="ad@esrf.fr")],
                 User("alice", "Alice Martin", "ad@esrf.fr"), id="email-updated"),
    pytest.param([ALICE, TOKEN], User("alice", "Alice Martin", "alice@esrf.fr", {"t1": True}),
                 id="token-issued"),
    pytest.param([ALICE, TOKEN, REVOKED],
                 User("alice", "Alice Martin", "alice@esrf.fr", {"t1": False}),
                 id="token-revoked"),
    pytest.param([ALICE, GroupCreated(name="g", description="")],
                 User("alice", "Alice Martin", "alice@esrf.fr"), id="foreign-event-ignored"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), USER_STATES)
def test_evolve_user(events: list[Event], state: User) -> None:
    assert given_user(events) == state


def test_user_exists_once_added() -> None:
    assert (User().exists, given_user([ALICE]).exists) == (False, True)


STAFF = GroupCreated(name="mx-staff", description="MX beamline staff")
JOINED = GroupMemberAdded(username="alice")
LEFT = GroupMemberRemoved(username="alice")

GROUP_CASES = [
    pytest.param([], CreateGroup("mx-staff", "MX beamline staff"), [STAFF], id="create"),
    pytest.param([], CreateGroup("admins"), [GroupCreated(name="admins", description="")],
                 id="create-without-description"),
    pytest.param([STAFF], CreateGroup("mx-staff"), Rejected(AlreadyExists, "name",
                 "already exists"), id="create-twice"),
    pytest.param([], CreateGroup("MX staff"), Rejected(InvalidCommand, "name", "must be 1-64"),
                 id="create-bad-name"),
    pytest.param([], CreateGroup("g", "x\x00"), Rejected(InvalidCommand, "description",
                 "control character"), id="create-control-char-in-description"),
    pytest.param([], AddMember("alice", True), Rejected(NotFound, None, "no such group"),
                 id="add-member-missing-group"),
    pytest.param([STAFF], AddMember("alice", True), [JOINED], id="add-member"),
    pytest.param([STAFF], AddMember("bob", False), Rejected(NotFound, None, "no user 'bob'"),
                 id="add-unknown-user"),
    pytest.param([STAFF, JOINED], AddMember("alice", True), [], id="add-member-twice"),
    pytest.param([STAFF, JOINED, LEFT], AddMember("alice", True), [JOINED], id="rejoin"),
    pytest.param([STAFF, JOINED], RemoveMember("alice"), [LEFT], id="remove-member"),
    pytest.param([STAFF], RemoveMember("alice"), Rejected(DomainError, None,
                 "'alice' is not in group 'mx-staff'"), id="remove-non-member"),
    pytest.param([STAFF, JOINED, LEFT], RemoveMember("alice"), Rejected(DomainError, None,
                 "is not in group"), id="remove-twice"),
    pytest.param([], RemoveMember("alice"), Rejected(NotFound, None, "no such group"),
                 id="remove-member-missing-group"),
    pytest.param([STAFF], object(), Rejected(InvalidCommand, None, "unknown command"),
                 id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "command", "then"), GROUP_CASES)
def test_decide_group(events: list[Event], command: Any, then: Any) -> None:
    check(decide_group, given_group(events), command, then)


GROUP_STATES = [
    pytest.param([], Group(), id="nothing"),
    pytest.param([STAFF], Group("mx-staff"), id="created"),
    pytest.param([STAFF, JOINED, GroupMemberAdded(username="bob")],
                 Group("mx-staff", frozenset({"alice", "bob"})), id="two-members"),
    pytest.param([STAFF, JOINED, GroupMemberAdded(username="bob"), LEFT],
                 Group("mx-staff", frozenset({"bob"})), id="one-left"),
]  # fmt: skip


@pytest.mark.parametrize(("events", "state"), GROUP_STATES)
def test_evolve_group(events: list[Event], state: Group) -> None:
    assert given_group(events) == state
