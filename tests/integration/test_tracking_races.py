"""Sample tracking under concurrent writers: a lost race is decided again on fresh facts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalogue.domain import samples as smp
from catalogue.domain import tracking as tr
from catalogue.portal import datasets as samples_portal
from catalogue.portal import tracking
from catalogue.readmodels import datasets as sample_queries
from catalogue.runner import register_checkpoints
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.integration.test_tracking_projection import ADDRESS, admin, paula, run_workload


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build_services(Settings(database_url=database_url, data_dir=tmp_path))
    register_checkpoints(built.store, built.projections)
    yield built
    built.close()


@pytest.mark.parametrize("if_match", [False, True])
def test_a_sample_registered_meanwhile_is_linked_not_registered_twice(
    services: Services, monkeypatch: pytest.MonkeyPatch, if_match: bool
) -> None:
    """Two parcels declare the same new sample at once: the second request looked it up
    before the first registered it, lost the append, and must link it on its next try."""
    store = services.store
    investigation = run_workload(services)["investigation"]
    shipment = tracking.create_shipment(
        store, paula(), investigation, tr.CreateShipment(investigation, "", "race", ADDRESS)
    )
    parcel = tracking.create_parcel(
        store, paula(), shipment, "late", tr.AfterExperiment.DESTROY, ""
    )
    samples_portal.register_sample(
        store,
        admin(),
        investigation,
        smp.RegisterSample(investigation_id=investigation, name="contested"),
    )
    real = sample_queries.owners_of_samples
    lookups: list[int] = []

    def stale_first(connection: Any, ids: Any) -> dict[Any, Any]:
        lookups.append(len(ids))
        return {} if len(lookups) == 1 else real(connection, ids)

    monkeypatch.setattr(sample_queries, "owners_of_samples", stale_first)
    spec = tr.ItemSpec(name="contested", kind=tr.ItemKind.SAMPLE)
    item = tracking.ItemInput(spec, sample=tracking.NewSample("contested"))
    version = tracking.add_items(store, paula(), parcel, [item], 1 if if_match else None)

    assert len(lookups) == 2
    assert version == 2
    found = tracking.get_parcel(store, paula(), parcel)
    (declared,) = found["items"]
    assert declared["sample_id"] == smp.sample_id_for(investigation, "contested")
    assert store.read_stream(smp.sample_stream(declared["sample_id"]))[-1].version == 1
