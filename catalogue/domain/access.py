"""Who may read and write what: the access rules as pure functions of facts.

The read-model queries filter lists with the same rules in SQL; a matrix test checks that
the two agree.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from catalogue.domain.investigations import Role
from catalogue.errors import Forbidden, NotFound, Unauthenticated


class PrincipalKind(enum.StrEnum):
    """Who is calling."""

    ANONYMOUS = "anonymous"
    USER = "user"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as their credential resolves."""

    kind: PrincipalKind
    username: str | None = None
    is_admin: bool = False
    #: Beamlines the user is an instrument scientist of.
    scientist_of: frozenset[str] = frozenset()
    #: The beamline an API key belongs to.
    instrument: str | None = None
    credential_id: str | None = None
    #: The catalogue groups the user belongs to (`safety`, `stores`, ...).
    groups: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How events record this caller (`user:alice`, `api-key:ID23-1/k1`)."""
        if self.kind is PrincipalKind.USER:
            return f"user:{self.username}"
        if self.kind is PrincipalKind.API_KEY:
            return f"api-key:{self.instrument}/{self.credential_id}"
        return "anonymous"


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS)
#: Commands run from the facility's own command line act as this.
OPERATOR = Principal(PrincipalKind.USER, username="operator", is_admin=True)

#: Participant roles that may add samples and datasets (collaborators only read).
WRITING_ROLES = frozenset({Role.PRINCIPAL_INVESTIGATOR, Role.CO_INVESTIGATOR, Role.LOCAL_CONTACT})


@dataclass(frozen=True, slots=True)
class InvestigationFacts:
    """What the rules need to know of an investigation."""

    instrument: str
    release_date: datetime
    #: Participants and their roles (the read model gives only the caller's own role).
    participants: Mapping[str, Role]


def is_released(facts: InvestigationFacts, now: datetime) -> bool:
    """Whether the investigation's data is open (its embargo is over)."""
    return facts.release_date <= now


def can_read(principal: Principal, facts: InvestigationFacts, now: datetime) -> bool:
    """Read the investigation, its samples, datasets, files and history."""
    if principal.is_admin or is_released(facts, now):
        return True
    if principal.kind is PrincipalKind.USER:
        return (
            principal.username in facts.participants or facts.instrument in principal.scientist_of
        )
    if principal.kind is PrincipalKind.API_KEY:
        return principal.instrument == facts.instrument
    return False


def can_manage(principal: Principal, facts: InvestigationFacts) -> bool:
    """Change the investigation itself and its participants."""
    return principal.is_admin or (
        principal.kind is PrincipalKind.USER and facts.instrument in principal.scientist_of
    )


def can_create_investigation(principal: Principal, instrument: str) -> bool:
    """Schedule an investigation on `instrument`."""
    return principal.is_admin or (
        principal.kind is PrincipalKind.USER and instrument in principal.scientist_of
    )


def can_write_data(principal: Principal, facts: InvestigationFacts) -> bool:
    """Register samples, datasets, parameters and files in the investigation."""
    if can_manage(principal, facts):
        return True
    if principal.kind is PrincipalKind.API_KEY:
        return principal.instrument == facts.instrument
    if principal.kind is PrincipalKind.USER and principal.username is not None:
        return facts.participants.get(principal.username) in WRITING_ROLES
    return False


def can_see_emails(principal: Principal) -> bool:
    """Participants' e-mail addresses are for signed-in callers only."""
    return principal.kind is not PrincipalKind.ANONYMOUS


def require_read(
    principal: Principal, facts: InvestigationFacts | None, now: datetime, what: str
) -> InvestigationFacts:
    """The facts if the caller may read; otherwise 404, which does not reveal existence."""
    if facts is None or not can_read(principal, facts, now):
        raise NotFound(f"no {what} with that id")
    return facts


def require(allowed: bool, principal: Principal, action: str) -> None:
    """Refuse a write the caller may not do: 401 for anonymous callers, 403 for others."""
    if allowed:
        return
    if principal.kind is PrincipalKind.ANONYMOUS:
        raise Unauthenticated(f"{action} needs a bearer token")
    raise Forbidden(f"{principal.actor} may not {action}")
