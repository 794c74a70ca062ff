"""The catalogue and identity projections: incremental rows equal a rebuild from position 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalogue.domain import datasets as ds
from catalogue.domain import investigations as inv
from catalogue.domain import samples as smp
from catalogue.domain.access import OPERATOR
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import datasets as data
from catalogue.portal import identity, instruments
from catalogue.portal import investigations as investigations_portal
from catalogue.portal.execution import Caller
from catalogue.runner import rebuild, register_checkpoints
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.sample_domain import table_rows

START = datetime(2026, 11, 24, 8, tzinfo=UTC)
CALLER = Caller(OPERATOR, source="test")


@pytest.fixture
def services(database_url: str, tmp_path: Any) -> Any:
    built = build_services(Settings(database_url=database_url, data_dir=tmp_path))
    register_checkpoints(built.store, built.projections)
    yield built
    built.close()


def run_workload(services: Services) -> dict[str, Any]:
    """A bit of everything: accounts, beamlines, investigations, samples, datasets, files."""
    store = services.store
    identity.add_user(store, CALLER, "alice", "Alice", "alice@example.org", admin=True)
    identity.add_user(store, CALLER, "bob", "Bob", "bob@example.org", admin=False)
    identity.create_group(store, CALLER, "id23", "ID23 staff")
    identity.add_member(store, CALLER, "id23", "bob")
    identity.add_member(store, CALLER, "id23", "alice")
    identity.remove_member(store, CALLER, "id23", "alice")
    token = identity.issue_token(store, CALLER, "bob", "laptop", None)
    identity.revoke_credential(store, CALLER, token.credential_id)
    instruments.run_instrument_command(store, CALLER, "ID23-1", RegisterInstrument("ID23-1"))
    instruments.add_scientist(store, CALLER, "ID23-1", "bob")
    instruments.issue_api_key(store, CALLER, "ID23-1", "control", START + timedelta(days=30))
    investigation = investigations_portal.create_investigation(
        store,
        CALLER,
        timedelta(days=10),
        proposal="MX-2345",
        instrument="ID23-1",
        title="Lysozyme",
        start=START,
        end=START + timedelta(days=2),
    )
    investigations_portal.add_participant(
        store, CALLER, investigation, "bob", inv.Role.PRINCIPAL_INVESTIGATOR
    )
    investigations_portal.add_participant(
        store, CALLER, investigation, "alice", inv.Role.COLLABORATOR
    )
    investigations_portal.change_investigation(
        store, CALLER, investigation, inv.RemoveParticipant("alice")
    )
    investigations_portal.change_investigation(
        store, CALLER, investigation, inv.UpdateInvestigation(title="Lysozyme at 2 GPa")
    )
    # Removed and added again: a rebuild batch holding all three must keep their order.
    investigations_portal.add_participant(
        store, CALLER, investigation, "alice", inv.Role.CO_INVESTIGATOR
    )
    identity.add_member(store, CALLER, "id23", "alice")
    sample = data.register_sample(
        store, CALLER, investigation, smp.RegisterSample(investigation, "lyso", hazards=("H301",))
    )
    data.update_sample(store, CALLER, sample, smp.UpdateSample(description="tetragonal"))
    energy = ds.RawParameter("InstrumentMonochromator_energy", 12.4, "keV")
    created = []
    for index in range(5):
        created.append(
            data.create_dataset(
                store,
                CALLER,
                investigation,
                name=f"scan{index}",
                location=f"/data/scan{index}",
                start=START + timedelta(minutes=index),
                sample_id=sample if index % 2 else None,
                techniques=["MX", "SAXS"],
                parameters=[energy],
            )
        )
    files = [ds.Datafile(path=f"/data/scan0/f{i}.h5", size=i + 1) for i in range(7)]
    data.register_files(store, CALLER, created[0], files)
    closing = ds.CloseDataset(
        START + timedelta(hours=1),
        data.builtin_vocabulary(),
        (ds.RawParameter("InstrumentMonochromator_energy", 12400, "eV"),),
    )
    data.change_dataset(store, CALLER, created[0], closing)
    data.change_dataset(store, CALLER, created[1], ds.DeleteDataset("aborted"))
    data.change_dataset(store, CALLER, created[3], ds.DeleteDataset("aborted"))
    data.create_dataset(
        store,
        CALLER,
        investigation,
        name="merged",
        location="/data/processed/merged",
        start=START + timedelta(hours=2),
        kind=ds.DatasetKind.PROCESSED,
        input_ids=[created[0], created[2]],
    )
    return {"investigation": investigation, "sample": sample, "datasets": created}


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the catalogue's projections own."""
    return {
        table.name: table_rows(services.store, table)
        for projection in services.projections
        for table in projection.tables
    }


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_rebuild_equals_incremental(services: Services, batch_size: int) -> None:
    run_workload(services)
    before = snapshot(services)
    for projection in services.projections:
        rebuild(services.store, projection, batch_size=batch_size, restart=True)
    assert snapshot(services) == before


def test_counters_follow_creations_and_deletions(services: Services) -> None:
    ids = run_workload(services)
    caller = Caller(OPERATOR)
    investigation = investigations_portal.get_investigation(
        services.store, caller, ids["investigation"]
    )
    # 5 scans + 1 merged, 2 deleted; 1 sample.
    assert (investigation["dataset_count"], investigation["sample_count"]) == (4, 1)
    roles = {p["username"]: p["role"] for p in investigation["participants"]}
    assert roles == {"alice": "co_investigator", "bob": "principal_investigator"}
    # scan1 and scan3 were measured on the sample, and both were deleted.
    assert data.get_sample(services.store, caller, ids["sample"])["dataset_count"] == 0
    scan0 = data.get_dataset(services.store, caller, ids["datasets"][0])
    assert (scan0["file_count"], scan0["volume"], scan0["complete"]) == (7, 28, True)
    # Closing replaced the energy given in keV by the same energy in eV: one parameter.
    assert scan0["parameter_count"] == 1
    assert scan0["parameters"][0]["unit"] == "eV"
    assert scan0["version"] == 3
