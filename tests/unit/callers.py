"""The callers the access-rule tables share: one of each kind, around one embargoed beamline."""

from __future__ import annotations

from datetime import UTC, datetime

from catalogue.domain.access import ANONYMOUS, Principal, PrincipalKind
from catalogue.domain.investigations import Role

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
BEAMLINE = "ID23-1"
#: The investigation's participants: usernames as `PRINCIPALS` names them.
PARTICIPANTS = {
    "pi": Role.PRINCIPAL_INVESTIGATOR,
    "co": Role.CO_INVESTIGATOR,
    "lc": Role.LOCAL_CONTACT,
    "collab": Role.COLLABORATOR,
}


def user(
    name: str, *, admin: bool = False, scientist_of: frozenset[str] = frozenset()
) -> Principal:
    """A signed-in person."""
    return Principal(PrincipalKind.USER, username=name, is_admin=admin, scientist_of=scientist_of)


def api_key(instrument: str, credential: str = "k1") -> Principal:
    """A beamline's API key."""
    return Principal(PrincipalKind.API_KEY, instrument=instrument, credential_id=credential)


def principals(scientist_also_of: frozenset[str] = frozenset()) -> dict[str, Principal]:
    """One caller of each kind, by the name the tables use."""
    return {
        "anonymous": ANONYMOUS,
        "admin": user("root", admin=True),
        "principal-investigator": user("pi"),
        "co-investigator": user("co"),
        "local-contact": user("lc"),
        "collaborator": user("collab"),
        "other-user": user("zoe"),
        "scientist-of-this-beamline": user(
            "sci", scientist_of=frozenset({BEAMLINE}) | scientist_also_of
        ),
        "scientist-of-other-beamline": user("sci2", scientist_of=frozenset({"BM29"})),
        "api-key-of-this-beamline": api_key(BEAMLINE),
        "api-key-of-other-beamline": api_key("BM29"),
    }
