"""The logbook projection: the tables an append keeps equal a rebuild from position 0.

A realistic logbook's events (entries posted alone and in bulk, edited, tagged and
untagged, deleted and restored, images attached, tags defined and changed) are written
through the portal services, so the store holds what the service writes. A rebuild at batch
sizes 1, 3 and 1000 must then give exactly the same rows, and the same full-text index:
on SQLite the FTS5 index itself (its terms per entry), on both databases the entries that
full-text queries find.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from sqlalchemy import Connection

from catalogue.domain import investigations as inv
from catalogue.domain import logbook as lb
from catalogue.domain.access import OPERATOR, Principal, PrincipalKind
from catalogue.domain.instruments import RegisterInstrument
from catalogue.portal import datasets as data
from catalogue.portal import identity, instruments, logbook
from catalogue.portal import investigations as investigations_portal
from catalogue.portal.execution import Caller
from catalogue.readmodels import logbook as queries
from catalogue.readmodels.fulltext import parse_text_query
from catalogue.readmodels.logbook_projection import LogbookProjection
from catalogue.runner import rebuild, register_checkpoints
from catalogue.services import Services, build_services
from catalogue.settings import Settings
from tests.sample_domain import table_rows

START = datetime(2026, 11, 24, 8, tzinfo=UTC)
INSTRUMENT = "ID23-1"
OPERATOR_CALLER = Caller(OPERATOR, source="test")
BOB = Caller(Principal(PrincipalKind.USER, username="bob"), source="test")
MACHINE = Caller(
    Principal(PrincipalKind.API_KEY, instrument=INSTRUMENT, credential_id="bliss"), source="test"
)
LIMITS = logbook.Limits()


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    built = build_services(Settings(database_url=database_url, data_dir=tmp_path))
    register_checkpoints(built.store, built.projections)
    yield built
    built.close()


def image(kind: str, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, kind)
    return out.getvalue()


def entry(
    text: str = "",
    *,
    kind: lb.EntryKind = lb.EntryKind.ANNOTATION,
    category: lb.Category = lb.Category.COMMENT,
    markup: str | None = None,
    source: str | None = None,
    **fields: Any,
) -> logbook.EntryInput:
    return logbook.EntryInput(
        kind=kind, category=category, content=lb.NewContent(text, markup, source), **fields
    )


def run_workload(services: Services) -> dict[str, UUID]:
    """An investigation's logbook through a day of use, and a little of its beamline's."""
    store, files = services.store, services.attachments
    identity.add_user(store, OPERATOR_CALLER, "bob", "Bob", "bob@example.org", admin=False)
    instruments.run_instrument_command(
        store, OPERATOR_CALLER, INSTRUMENT, RegisterInstrument(INSTRUMENT)
    )
    investigation = investigations_portal.create_investigation(
        store,
        OPERATOR_CALLER,
        timedelta(days=3650),
        proposal="MX-2345",
        instrument=INSTRUMENT,
        title="Lysozyme",
        start=START,
        end=START + timedelta(days=2),
    )
    investigations_portal.add_participant(
        store, OPERATOR_CALLER, investigation, "bob", inv.Role.PRINCIPAL_INVESTIGATOR
    )
    dataset = data.create_dataset(
        store, OPERATOR_CALLER, investigation, name="scan1", location="/data/scan1", start=START
    )
    beam = logbook.define_tag(
        store, OPERATOR_CALLER, lb.DefineTag(None, INSTRUMENT, "beam", "#E53935", "beam issues")
    )
    sample = logbook.define_tag(
        store, BOB, lb.DefineTag(investigation, None, "sample", description="mounted")
    )
    logbook.define_tag(store, BOB, lb.DefineTag(investigation, None, "unused"))
    logbook.change_tag(store, OPERATOR_CALLER, beam["id"], lb.ChangeTag(colour="#00ff00"), None)
    logbook.change_tag(
        store, BOB, sample["id"], lb.ChangeTag(description="mounted on the goniometer"), None
    )
    at = START + timedelta(hours=1)
    lost, _ = logbook.post_entry(
        store,
        BOB,
        entry(
            "beam lost during the lysozyme scan",
            investigation_id=investigation,
            dataset_id=dataset,
            tags=("beam",),
            time=at,
        ),
        LIMITS,
    )
    note, _ = logbook.post_entry(
        store,
        OPERATOR_CALLER,
        entry(
            markup="markdown",
            source="Crystal **diffracts** to 1.8 A",
            category=lb.Category.INFO,
            investigation_id=investigation,
            time=at + timedelta(minutes=5),
        ),
        LIMITS,
    )
    scans, _ = logbook.post_entries(
        store,
        MACHINE,
        [
            entry(
                f"ascan samy 0 1 10 0.1 # scan {n}",
                kind=lb.EntryKind.NOTIFICATION,
                category=lb.Category.COMMAND_LINE if n % 3 else lb.Category.ERROR,
                investigation_id=investigation,
                client_id=f"bliss:{n}",
                time=at + timedelta(minutes=n),
                software="bliss",
                machine="lid231",
                tags=("beam",) if n % 4 == 0 else (),
            )
            for n in range(12)
        ],
        LIMITS,
    )
    ring, _ = logbook.post_entry(
        store,
        MACHINE,
        entry(
            "ring refill",
            kind=lb.EntryKind.NOTIFICATION,
            instrument=INSTRUMENT,
            client_id="ring:1",
            time=at + timedelta(days=1),
        ),
        LIMITS,
    )
    broadcast, _ = logbook.post_entry(
        store,
        OPERATOR_CALLER,
        entry("machine day tomorrow", kind=lb.EntryKind.BROADCAST, time=at),
        LIMITS,
    )
    # Edits replace the content (and so the words the full text finds).
    logbook.change_entry(
        store, BOB, lost, lb.EditEntry(lb.NewContent("beam restored after refill")), None
    )
    rich = lb.NewContent("beam restored", "html", "<p>after the <em>refill</em></p>")
    logbook.change_entry(store, BOB, lost, lb.EditEntry(rich, lb.Category.INFO), None)
    # Tagged, untagged and tagged again: the order of one batch's writes matters.
    logbook.tag_entry(store, BOB, lost, ["sample"], ["beam"], None)
    logbook.tag_entry(store, BOB, lost, ["beam"], [], None)
    logbook.tag_entry(store, BOB, lost, [], ["sample"], None)
    logbook.tag_entry(store, BOB, lost, ["sample"], [], None)
    logbook.tag_entry(store, MACHINE, scans[0], [], ["beam"], None)
    logbook.attach_image(store, files, BOB, lost, "pin.png", image("PNG", 400, 300), LIMITS)
    logbook.attach_image(store, files, BOB, lost, "loop.jpg", image("JPEG", 300, 600), LIMITS)
    logbook.attach_image(store, files, OPERATOR_CALLER, note, "x.png", image("PNG", 20, 20), LIMITS)
    # Deleted, restored, edited and deleted for good.
    for entry_id, command in (
        (note, lb.DeleteEntry("wrong crystal")),
        (note, lb.RestoreEntry()),
        (note, lb.EditEntry(lb.NewContent("crystal cracked"))),
        (note, lb.DeleteEntry("duplicate")),
        (scans[5], lb.DeleteEntry("noise")),
        (scans[5], lb.RestoreEntry()),
    ):
        logbook.change_entry(store, OPERATOR_CALLER, entry_id, command, None)
    return {
        "investigation": investigation,
        "lost": lost,
        "note": note,
        "scan0": scans[0],
        "ring": ring,
        "broadcast": broadcast,
    }


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the projections own."""
    return {
        table.name: table_rows(services.store, table)
        for projection in services.projections
        for table in projection.tables
    }


QUERIES = ("beam", "restored", "refill", "lost", "lysozyme", "cracked", "diffracts", "samy -scan")


def found_by_text(services: Services) -> dict[str, list[UUID]]:
    """What each full-text query finds in the beamline's logbook (never a deleted entry)."""
    scope = queries.LogbookScope(instrument=INSTRUMENT)
    found = {}
    with services.store.engine.connect() as connection:
        for query in QUERIES:
            where = queries.EntryFilter(text=parse_text_query(query), include_deleted=True)
            page = queries.list_entries(connection, scope, where, None, 1000)
            found[query] = [item["id"] for item in page.items]
    return found


def _terms(connection: Connection, fts_table: str) -> list[tuple[Any, ...]]:
    connection.exec_driver_sql(
        f"CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, {fts_table}, instance)"
    )
    try:
        rows = connection.exec_driver_sql("SELECT term, doc, col, offset FROM temp.terms").all()
    finally:
        connection.exec_driver_sql("DROP TABLE temp.terms")
    return sorted(tuple(row) for row in rows)


def fts_index(services: Services) -> list[tuple[Any, ...]] | None:
    """SQLite's FTS5 index as (term, entry seq, column, offset) rows; None on PostgreSQL."""
    if services.engine.dialect.name != "sqlite":
        return None
    with services.engine.connect() as connection:
        return _terms(connection, "logbook_fts")


def fts_expected(services: Services) -> list[tuple[Any, ...]] | None:
    """The FTS5 index the entries' current text calls for, built afresh beside it."""
    if services.engine.dialect.name != "sqlite":
        return None
    with services.engine.connect() as connection:
        connection.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.fresh_fts USING fts5(search_text, "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        try:
            connection.exec_driver_sql(
                "INSERT INTO temp.fresh_fts(rowid, search_text) "
                "SELECT seq, search_text FROM main.logbook_entries"
            )
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE temp.terms USING fts5vocab(temp, fresh_fts, instance)"
            )
            rows = connection.exec_driver_sql("SELECT term, doc, col, offset FROM temp.terms").all()
        finally:
            connection.exec_driver_sql("DROP TABLE IF EXISTS temp.terms")
            connection.exec_driver_sql("DROP TABLE temp.fresh_fts")
    return sorted(tuple(row) for row in rows)


def test_the_workload_leaves_the_logbook_as_written(services: Services) -> None:
    ids = run_workload(services)
    caller = OPERATOR_CALLER
    lost = logbook.get_entry(services.store, caller, ids["lost"])
    assert lost["content"]["text"] == "beam restored"
    assert lost["content"]["html"] == "<p>after the <em>refill</em></p>"
    assert lost["category"] == "info"
    assert lost["tags"] == ["beam", "sample"]
    assert [a["filename"] for a in lost["attachments"]] == ["pin.png", "loop.jpg"]
    assert (lost["content_version"], lost["version"]) == (3, 10)
    note = logbook.get_entry(services.store, caller, ids["note"])
    assert (note["deleted"], note["deleted_reason"]) == (True, "duplicate")
    assert note["content"]["text"] == "crystal cracked"
    scan0 = logbook.get_entry(services.store, caller, ids["scan0"])
    assert scan0["tags"] == []
    found = found_by_text(services)
    assert found["restored"] == [ids["lost"]]
    assert found["refill"] == [ids["ring"], ids["lost"]]
    assert found["lost"] == []  # the words edited away are no longer found
    assert found["diffracts"] == []
    assert found["cracked"] == []  # the note is deleted: its words are not searched
    assert len(found["samy -scan"]) == 0
    assert len(found["beam"]) == 1
    assert fts_index(services) == fts_expected(services)
    tags = {
        t["name"]: t for t in logbook.list_tags(services.store, caller, ids["investigation"], None)
    }
    assert (tags["beam"]["colour"], tags["beam"]["version"]) == ("#00ff00", 2)
    assert tags["sample"]["description"] == "mounted on the goniometer"


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_rebuild_equals_incremental(services: Services, batch_size: int) -> None:
    run_workload(services)
    before = snapshot(services)
    index_before = fts_index(services)
    found_before = found_by_text(services)
    assert before["logbook_entries"]
    assert before["logbook_attachments"]
    assert index_before is None or index_before
    for projection in services.projections:
        rebuild(services.store, projection, batch_size=batch_size, restart=True)
    assert snapshot(services) == before
    assert found_by_text(services) == found_before
    assert fts_index(services) == index_before
    assert fts_index(services) == fts_expected(services)


def test_rebuilding_the_logbook_alone_leaves_its_full_text_index_whole(
    services: Services,
) -> None:
    """A rebuild empties the entries (their FTS5 rows go with them) and writes them again."""
    ids = run_workload(services)
    before = snapshot(services)
    projection = next(p for p in services.projections if isinstance(p, LogbookProjection))
    for batch_size in (1000, 2):
        rebuild(services.store, projection, batch_size=batch_size, restart=True)
    assert snapshot(services) == before
    assert fts_index(services) == fts_expected(services)
    assert found_by_text(services)["restored"] == [ids["lost"]]
