"""A small catalogue world for end-to-end tests: two beamlines, their people, keys and data.

Built through the portal services as the operator's command line does
(`Caller(OPERATOR, source="cli")`), so the tests exercise the same events and read models as
the service. Secrets are returned so that tests can call the API as each role.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

from fastapi.testclient import TestClient
from sqlalchemy import delete

from catalogue.api.app import create_app
from catalogue.database import create_engine
from catalogue.domain import instruments as inst
from catalogue.domain import samples as smp
from catalogue.domain.access import OPERATOR
from catalogue.domain.datasets import Datafile, RawParameter
from catalogue.domain.investigations import Role
from catalogue.portal import datasets as data_portal
from catalogue.portal import identity, instruments
from catalogue.portal import investigations as investigation_portal
from catalogue.portal.execution import Caller
from catalogue.schema import metadata as catalogue_metadata
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.sample_domain import test_metadata

OWN_BEAMLINE = "ID23-1"
OTHER_BEAMLINE = "BM29"
EMBARGO = timedelta(days=3 * 365)

#: Roles whose bearer token is a user's token; `key_*` are beamline API keys.
USERS = {
    # username: (full name, admin?)
    "admin": ("Ada Admin", True),
    "scientist": ("Sam Scientist", False),
    "pi": ("Pia Principal", False),
    "coi": ("Cora Coinvestigator", False),
    "contact": ("Lou Localcontact", False),
    "collab": ("Col Laborator", False),
    "stranger": ("Stan Ger", False),
    # Not callers: participants of FOREIGN and PUBLIC, and the target of participant writes.
    "foreign-pi": ("Fern Foreign", False),
    "public-pi": ("Pat Public", False),
    "extra": ("Ext Ra", False),
}

OWN_PARTICIPANTS = {
    "pi": Role.PRINCIPAL_INVESTIGATOR,
    "coi": Role.CO_INVESTIGATOR,
    "contact": Role.LOCAL_CONTACT,
    "collab": Role.COLLABORATOR,
}


def email_of(username: str) -> str:
    """Every seeded user's e-mail address."""
    return f"{username}@example.org"


@dataclass(frozen=True)
class Seeded:
    """One investigation of the world with its sample, dataset and file."""

    id: UUID
    proposal: str
    instrument: str
    sample_id: UUID
    dataset_id: UUID
    file_path: str


@dataclass
class World:
    """The seeded catalogue: ids of the investigations, and a token per calling role."""

    services: Services
    investigations: dict[str, Seeded]
    tokens: dict[str, str]
    #: When the seeding finished: `as_of` at this time sees every seeded entity.
    seeded_at: datetime
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def caller(self) -> Caller:
        """The operator, as the command line acts."""
        return Caller(OPERATOR, source="cli")

    def unique(self, prefix: str) -> str:
        """A name not used before in this world."""
        return f"{prefix}-{next(self._counter)}"

    def fresh_dataset(self, which: str) -> UUID:
        """An open dataset in the investigation, made by the operator, for a write to use."""
        target = self.investigations[which]
        return data_portal.create_dataset(
            self.services.store,
            self.caller,
            target.id,
            name=self.unique("fresh"),
            location=f"/data/visitor/{target.proposal.lower()}/fresh",
            start=datetime.now(UTC) - timedelta(minutes=5),
        )

    def ensure_participant(self, which: str, username: str) -> None:
        """Make `username` a collaborator of the investigation (a no-op if they are)."""
        investigation_portal.add_participant(
            self.services.store,
            self.caller,
            self.investigations[which].id,
            username,
            Role.COLLABORATOR,
        )


def _seed_investigation(
    services: Services,
    caller: Caller,
    *,
    proposal: str,
    instrument: str,
    start: datetime,
    release_date: datetime,
    participants: dict[str, Role],
) -> Seeded:
    store = services.store
    investigation_id = investigation_portal.create_investigation(
        store,
        caller,
        EMBARGO,
        proposal=proposal,
        instrument=instrument,
        title=f"Investigation {proposal}",
        start=start,
        end=start + timedelta(days=2),
        release_date=release_date,
    )
    for username, role in participants.items():
        investigation_portal.add_participant(store, caller, investigation_id, username, role)
    sample_id = data_portal.register_sample(
        store,
        caller,
        investigation_id,
        smp.RegisterSample(
            investigation_id=investigation_id,
            name="sample_01",
            description="Hen egg-white lysozyme",
            hazards=("H334",),
        ),
    )
    location = f"/data/visitor/{proposal.lower()}/{instrument.lower()}/RAW_DATA/sample_01"
    dataset_id = data_portal.create_dataset(
        store,
        caller,
        investigation_id,
        name="sample_01_0001",
        location=location,
        start=start + timedelta(hours=1),
        sample_id=sample_id,
        techniques=["MX"],
        parameters=[RawParameter("InstrumentMonochromator_energy", 12.4, "keV")],
    )
    file_path = f"{location}/scan0001.h5"
    data_portal.register_files(
        store,
        caller,
        dataset_id,
        [Datafile(path=file_path, size=1024, checksum="adler32:0a1b2c3d", format="nexus")],
    )
    return Seeded(investigation_id, proposal, instrument, sample_id, dataset_id, file_path)


def build_world(services: Services) -> World:
    """Seed beamlines, users, tokens, API keys and the OWN, FOREIGN and PUBLIC investigations."""
    store = services.store
    caller = Caller(OPERATOR, source="cli")
    now = datetime.now(UTC)
    for name in (OWN_BEAMLINE, OTHER_BEAMLINE):
        instruments.run_instrument_command(
            store, caller, name, inst.RegisterInstrument(name, f"Beamline {name}", "")
        )
    tokens: dict[str, str] = {}
    for username, (full_name, admin) in USERS.items():
        identity.add_user(store, caller, username, full_name, email_of(username), admin=admin)
        tokens[username] = identity.issue_token(store, caller, username, "tests", None).token
    instruments.add_scientist(store, caller, OWN_BEAMLINE, "scientist")
    tokens["key_id23"] = instruments.issue_api_key(store, caller, OWN_BEAMLINE, "ctl", None).token
    tokens["key_bm29"] = instruments.issue_api_key(store, caller, OTHER_BEAMLINE, "ctl", None).token
    for name in ("foreign-pi", "public-pi", "extra"):
        del tokens[name]

    future = now + timedelta(days=365)
    investigations = {
        "own": _seed_investigation(
            services,
            caller,
            proposal="MX-1001",
            instrument=OWN_BEAMLINE,
            start=now - timedelta(days=3),
            release_date=future,
            participants=OWN_PARTICIPANTS,
        ),
        "foreign": _seed_investigation(
            services,
            caller,
            proposal="SC-2002",
            instrument=OTHER_BEAMLINE,
            start=now - timedelta(days=3),
            release_date=future,
            participants={"foreign-pi": Role.PRINCIPAL_INVESTIGATOR},
        ),
        "public": _seed_investigation(
            services,
            caller,
            proposal="SC-3003",
            instrument=OTHER_BEAMLINE,
            start=now - timedelta(days=5 * 365),
            release_date=now - timedelta(days=365),
            participants={"public-pi": Role.PRINCIPAL_INVESTIGATOR},
        ),
        # Near the boundary, and written with non-UTC offsets: SQL must compare instants.
        "edge-released": _seed_investigation(
            services,
            caller,
            proposal="ED-1",
            instrument=OTHER_BEAMLINE,
            start=now - timedelta(days=30),
            release_date=(now - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=5))),
            participants={},
        ),
        "edge-embargoed": _seed_investigation(
            services,
            caller,
            proposal="ED-2",
            instrument=OTHER_BEAMLINE,
            start=now - timedelta(days=30),
            release_date=(now + timedelta(hours=2)).astimezone(timezone(timedelta(hours=-8))),
            participants={},
        ),
    }
    return World(services, investigations, tokens, datetime.now(UTC))


def empty_database(url: str) -> None:
    """Delete every row (a shared PostgreSQL database starts each module empty)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(test_metadata.sorted_tables + catalogue_metadata.sorted_tables):
            connection.execute(delete(table))
    engine.dispose()


@contextmanager
def running_world(database_url: str, data_dir: Path) -> Iterator[tuple[World, TestClient]]:
    """The service on `database_url` (started first, as in production) and the seeded world."""
    settings = Settings(database_url=database_url, data_dir=data_dir)
    with TestClient(create_app(settings)) as client:
        services = build_services(settings)
        try:
            yield build_world(services), client
        finally:
            services.close()
