"""Users, groups and their bearer tokens: events, state and the decider."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from catalogue.domain.aggregate import Aggregate
from catalogue.domain.values import check_aware, check_email, check_text, check_username
from catalogue.errors import AlreadyExists, DomainError, InvalidCommand, NotFound
from catalogue.events import Event

#: Members of this group may do everything.
ADMIN_GROUP = "admins"


# -- events ---------------------------------------------------------------------------------


class UserAdded(Event):
    """A person got an account."""

    username: str
    full_name: str
    email: str


class UserUpdated(Event):
    """A user's name or e-mail changed."""

    full_name: str | None = None
    email: str | None = None


class TokenIssued(Event):
    """A bearer token was issued to a user; only its hash is kept."""

    token_id: str
    secret_hash: str
    label: str
    expires_at: datetime | None


class TokenRevoked(Event):
    """A token stopped working."""

    token_id: str


class GroupCreated(Event):
    """A named group of users was created."""

    name: str
    description: str


class GroupMemberAdded(Event):
    """A user joined a group."""

    username: str


class GroupMemberRemoved(Event):
    """A user left a group."""

    username: str


USER_EVENTS = (UserAdded, UserUpdated, TokenIssued, TokenRevoked)
GROUP_EVENTS = (GroupCreated, GroupMemberAdded, GroupMemberRemoved)


def user_stream(username: str) -> str:
    """The stream holding a user and their tokens."""
    return USER.stream(username)


def group_stream(name: str) -> str:
    """The stream holding a group and its members."""
    return GROUP.stream(name)


# -- users ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    """A user as their events leave them."""

    username: str = ""
    full_name: str = ""
    email: str = ""
    #: token id -> whether it is still valid (not revoked)
    tokens: dict[str, bool] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether the user was ever added."""
        return bool(self.username)


@dataclass(frozen=True, slots=True)
class AddUser:
    """Create an account."""

    username: str
    full_name: str
    email: str


@dataclass(frozen=True, slots=True)
class UpdateUser:
    """Change a user's name or e-mail (None leaves it)."""

    full_name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class IssueToken:
    """Give a user a new bearer token (the secret is made by the caller, only its hash here)."""

    token_id: str
    secret_hash: str
    label: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RevokeToken:
    """Stop a token from working."""

    token_id: str


UserCommand = AddUser | UpdateUser | IssueToken | RevokeToken


def evolve_user(state: User, event: Event) -> User:
    """Fold one event into a user."""
    match event:
        case UserAdded():
            return User(event.username, event.full_name, event.email)
        case UserUpdated():
            return replace(
                state,
                full_name=state.full_name if event.full_name is None else event.full_name,
                email=state.email if event.email is None else event.email,
            )
        case TokenIssued():
            return replace(state, tokens={**state.tokens, event.token_id: True})
        case TokenRevoked():
            return replace(state, tokens={**state.tokens, event.token_id: False})
    return state


def decide_user(state: User, command: UserCommand) -> list[Event]:
    """The events a user command produces, or a domain error."""
    if isinstance(command, AddUser):
        if state.exists:
            raise AlreadyExists(f"user {command.username!r} already exists", "username")
        check_username(command.username)
        return [
            UserAdded(
                username=command.username,
                full_name=check_text(command.full_name, "full_name", max_length=200),
                email=check_email(command.email),
            )
        ]
    if not state.exists:
        raise NotFound("no such user")
    match command:
        case UpdateUser():
            full_name = command.full_name
            email = command.email
            if full_name is not None:
                check_text(full_name, "full_name", max_length=200)
            if email is not None:
                check_email(email)
            if full_name == state.full_name:
                full_name = None
            if email == state.email:
                email = None
            if full_name is None and email is None:
                return []
            return [UserUpdated(full_name=full_name, email=email)]
        case IssueToken():
            if command.token_id in state.tokens:
                raise AlreadyExists(f"token {command.token_id!r} exists", "token_id")
            if command.expires_at is not None:
                check_aware(command.expires_at, "expires_at")
            return [
                TokenIssued(
                    token_id=command.token_id,
                    secret_hash=command.secret_hash,
                    label=check_text(command.label, "label", max_length=200),
                    expires_at=command.expires_at,
                )
            ]
        case RevokeToken():
            if command.token_id not in state.tokens:
                raise NotFound(f"user {state.username!r} has no token {command.token_id!r}")
            if not state.tokens[command.token_id]:
                return []  # revoking twice is harmless
            return [TokenRevoked(token_id=command.token_id)]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


# -- groups ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    """A group as its events leave it."""

    name: str = ""
    members: frozenset[str] = frozenset()

    @property
    def exists(self) -> bool:
        """Whether the group was ever created."""
        return bool(self.name)


@dataclass(frozen=True, slots=True)
class CreateGroup:
    """Create a named group."""

    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class AddMember:
    """Put a user in a group (`user_exists` is looked up by the caller)."""

    username: str
    user_exists: bool


@dataclass(frozen=True, slots=True)
class RemoveMember:
    """Take a user out of a group."""

    username: str


GroupCommand = CreateGroup | AddMember | RemoveMember


def evolve_group(state: Group, event: Event) -> Group:
    """Fold one event into a group."""
    match event:
        case GroupCreated():
            return Group(event.name)
        case GroupMemberAdded():
            return replace(state, members=state.members | {event.username})
        case GroupMemberRemoved():
            return replace(state, members=state.members - {event.username})
    return state


def decide_group(state: Group, command: GroupCommand) -> list[Event]:
    """The events a group command produces, or a domain error."""
    if isinstance(command, CreateGroup):
        if state.exists:
            raise AlreadyExists(f"group {command.name!r} already exists", "name")
        check_username(command.name, "name")
        return [
            GroupCreated(
                name=command.name, description=check_text(command.description, "description")
            )
        ]
    if not state.exists:
        raise NotFound("no such group")
    match command:
        case AddMember():
            if not command.user_exists:
                raise NotFound(f"no user {command.username!r}")
            if command.username in state.members:
                return []
            return [GroupMemberAdded(username=command.username)]
        case RemoveMember():
            if command.username not in state.members:
                raise DomainError(f"{command.username!r} is not in group {state.name!r}")
            return [GroupMemberRemoved(username=command.username)]
    raise InvalidCommand(f"unknown command {type(command).__name__}")


USER: Aggregate[User, UserCommand] = Aggregate("user", User(), evolve_user, decide_user)
GROUP: Aggregate[Group, GroupCommand] = Aggregate("group", Group(), evolve_group, decide_group)
