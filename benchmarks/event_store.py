"""Event store throughput on SQLite and PostgreSQL, against the `eventsourcing` library.

Workloads (each on a fresh database or file; event construction is inside the timed part):

(a) single-event command transactions: one event appended to an existing stream with the
    exact expected version;
(b) 5-event transactions: a new stream (NO_STREAM) with one DatasetCreated and four
    DatasetParameterSet; also with the inline StreamSummaries projection attached, and
    through `eventsourcing`'s own Application/Aggregate on its SQLite and PostgreSQL recorders;
(c) ingest batches of 1,000 events per transaction (200 new streams x 5 events);
(d) SQLite only: a full rebuild of StreamSummaries over 1,000,000 events.

Usage: python benchmarks/event_store.py [--quick] [--record]

PostgreSQL: CATALOGUE_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
names the server; every workload gets its own `bench_<random>` database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from harness import (
    Server,
    arguments,
    code_revision,
    command,
    record_run,
    server_url,
    unwind_on_sigterm,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL

from catalogue.database import create_engine
from catalogue.events import (
    NO_STREAM,
    Event,
    EventRegistry,
    Metadata,
    StreamAppend,
)
from catalogue.projections import Status, read_checkpoint
from catalogue.revisions import upgrade
from catalogue.runner import rebuild, register_checkpoints
from catalogue.schema import events as events_table
from catalogue.schema import stream_summaries
from catalogue.store import EventStore
from catalogue.streams import StreamSummaries

METADATA = Metadata(actor="bench", source="benchmarks/event_store.py")
SQLITE = "SQLite"
POSTGRES = "PostgreSQL"
OURS = "catalogue"
THEIRS = "eventsourcing"


# -- the domain, twice ----------------------------------------------------------------------


class DatasetCreated(Event):
    """A dataset was registered."""

    name: str
    investigation: str


class DatasetParameterSet(Event):
    """A dataset parameter was set."""

    name: str
    value: float
    unit: str


REGISTRY = EventRegistry([DatasetCreated, DatasetParameterSet])
PARAMETERS = (("temperature", "K"), ("pressure", "kPa"), ("energy", "keV"), ("exposure", "s"))


def dataset_events(i: int) -> list[Event]:
    """One new dataset and four parameter changes: the 5 events of workloads (b) and (c)."""
    created: list[Event] = [DatasetCreated(name=f"dataset {i}", investigation=f"inv-{i % 97}")]
    return created + [
        DatasetParameterSet(name=name, value=i + k / 10, unit=unit)
        for k, (name, unit) in enumerate(PARAMETERS)
    ]


class EsDataset(Aggregate):
    """The same dataset as an `eventsourcing` aggregate."""

    @event("Created")
    def __init__(self, name: str, investigation: str) -> None:
        self.name = name
        self.investigation = investigation
        self.parameters: dict[str, tuple[float, str]] = {}

    @event("ParameterSet")
    def set_parameter(self, name: str, value: float, unit: str) -> None:
        """Set one parameter (one event)."""
        self.parameters[name] = (value, unit)


class EsCatalogue(Application[Any]):
    """A bare `eventsourcing` application: no snapshots, its default recorder."""


# -- sizes and results ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each workload is."""

    commands: int  # (a) transactions
    command_streams: int  # (a) pre-created streams they are spread over
    entities: int  # (b) 5-event transactions
    batches: int  # (c) 1,000-event transactions
    rebuild_events: int  # (d) events in the store before the rebuild


FULL = Sizes(
    commands=5_000,
    command_streams=1_000,
    entities=4_000,
    batches=100,
    rebuild_events=1_000_000,
)
QUICK = Sizes(commands=500, command_streams=100, entities=400, batches=10, rebuild_events=100_000)
BATCH_STREAMS = 200  # (c), (d): streams per 1,000-event transaction
EVENTS_PER_STREAM = 5


@dataclass(slots=True)
class Result:
    """One timed workload."""

    key: str  # "a", "b", "b+inline", "c", "d"
    workload: str
    backend: str
    system: str
    events: int
    seconds: float
    target_rate: float | None = None  # absolute target, events/s
    target_ratio: float | None = None  # relative target: ours / eventsourcing
    ratio: float | None = None  # ours / eventsourcing, for (b)

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds

    def target_text(self) -> str:
        """The target as printed."""
        if self.target_ratio is not None:
            return f">= {self.target_ratio:g}x eventsourcing"
        if self.target_rate is not None:
            return f">= {self.target_rate:,.0f}/s"
        return ""

    def ratio_text(self) -> str:
        """Ours over eventsourcing for (b), ours over the target for absolute targets."""
        if self.ratio is not None:
            return f"{self.ratio:.2f}x eventsourcing"
        if self.target_rate is not None:
            return f"{self.rate / self.target_rate:.2f}x target"
        return ""

    def met(self) -> str:
        """Whether the target was met ('' when there is none)."""
        if self.target_ratio is not None:
            if self.ratio is None:
                return "n/a"
            return "yes" if self.ratio >= self.target_ratio else "NO"
        if self.target_rate is not None:
            return "yes" if self.rate >= self.target_rate else "NO"
        return ""


class Checks:
    """Correctness checks made after each timed part; failures are reported, not fatal."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, label: str, actual: object, expected: object) -> None:
        """Record a failure when `actual != expected`."""
        if actual != expected:
            message = f"CHECK FAILED {label}: got {actual!r}, expected {expected!r}"
            print(message, flush=True)
            self.failures.append(message)


CHECKS = Checks()


def timed(function: Callable[[], None]) -> float:
    """Seconds taken by `function()`."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def report(result: Result) -> Result:
    """Print one result as soon as it is measured."""
    print(
        f"  {result.backend:<10} {result.workload:<36} {result.system:<13} "
        f"{result.events:>9,} events {result.seconds:8.2f} s {result.rate:>10,.0f} events/s",
        flush=True,
    )
    return result


# -- backends ---------------------------------------------------------------------------------


class SQLiteBackend:
    """Fresh SQLite files in a temporary directory."""

    name = SQLITE

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def engine(self, label: str) -> Iterator[Engine]:
        """A fresh catalogue database, upgraded to head; its files are deleted afterwards."""
        path = self.directory / f"{label}-{secrets.token_hex(4)}.db"
        engine = create_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            _remove_sqlite_files(path)

    @contextlib.contextmanager
    def eventsourcing_env(self) -> Iterator[dict[str, str]]:
        """`eventsourcing` settings for its SQLite recorder on a fresh file of its own."""
        path = self.directory / f"eventsourcing-{secrets.token_hex(4)}.db"
        try:
            yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
        finally:
            _remove_sqlite_files(path)


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for lock in path.parent.glob(f"{path.name}.*.runner.lock"):
        lock.unlink(missing_ok=True)


class PostgresBackend:
    """Fresh `bench_<random>` databases on one server, each dropped after its workload."""

    name = POSTGRES

    def __init__(self, url: URL) -> None:
        self.server = Server(url)
        self.created: set[str] = set()

    @classmethod
    def connect(cls, url: URL) -> PostgresBackend | None:
        """The backend, or None (after one line saying so) when the server is unreachable."""
        backend = cls(url)
        try:
            with backend.server.admin() as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            print(f"PostgreSQL skipped: cannot reach {_hide(url)}: {first}", flush=True)
            return None
        return backend

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database, dropped on the way out whatever happens."""
        name = f"bench_{secrets.token_hex(6)}"
        self.server.create(name)
        self.created.add(name)
        try:
            yield name
        finally:
            self.drop(name)

    def drop(self, name: str) -> None:
        """Drop one benchmark database, disconnecting anyone still on it."""
        self.server.drop(name)
        self.created.discard(name)

    def drop_all(self) -> None:
        """Drop any benchmark database an interrupted workload left behind."""
        for name in sorted(self.created):
            with contextlib.suppress(psycopg.Error):
                self.drop(name)

    @contextlib.contextmanager
    def engine(self, label: str) -> Iterator[Engine]:
        """A catalogue engine on a fresh database, upgraded to head."""
        del label
        with self.database() as name:
            engine = create_engine(self.server.url.set(database=name))
            try:
                upgrade(engine)
                yield engine
            finally:
                engine.dispose()

    @contextlib.contextmanager
    def eventsourcing_env(self) -> Iterator[dict[str, str]]:
        """`eventsourcing` settings for its PostgreSQL recorder on a fresh database of its own."""
        url = self.server.url
        with self.database() as name:
            yield {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": name,
                "POSTGRES_HOST": url.host or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": url.username or "postgres",
                # The library insists on the key; an empty password means none (trust auth).
                "POSTGRES_PASSWORD": url.password or "",
            }


def _hide(url: URL) -> str:
    return url.render_as_string(hide_password=True)


Backend = SQLiteBackend | PostgresBackend


# -- workloads ----------------------------------------------------------------------------------


def ingest_batch(store: EventStore, batch: int) -> None:
    """One 1,000-event transaction: BATCH_STREAMS new streams of 5 events each."""
    first = batch * BATCH_STREAMS
    store.append(
        [
            StreamAppend(f"dataset-{i}", dataset_events(i), NO_STREAM)
            for i in range(first, first + BATCH_STREAMS)
        ],
        METADATA,
    )


def count_events(engine: Engine) -> int:
    """Rows in the events table."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(events_table)).scalar_one())


def summary_totals(engine: Engine) -> tuple[int, int]:
    """(rows, sum of event_count) of the stream_summaries table."""
    query = select(func.count(), func.coalesce(func.sum(stream_summaries.c.event_count), 0))
    with engine.connect() as connection:
        rows, total = connection.execute(query).one()
    return int(rows), int(total)


def single_event_commands(backend: Backend, sizes: Sizes) -> Result:
    """(a) One event per transaction, to an existing stream, with the exact expected version."""
    with backend.engine("a") as engine:
        store = EventStore(engine, REGISTRY)
        streams = sizes.command_streams
        for start in range(0, streams, BATCH_STREAMS):
            store.append(
                [
                    StreamAppend(f"dataset-{i}", [DatasetCreated(name=f"d{i}", investigation="i")])
                    for i in range(start, min(start + BATCH_STREAMS, streams))
                ],
                METADATA,
            )
        versions = [1] * streams

        def run() -> None:
            for n in range(sizes.commands):
                s = n % streams
                store.append(
                    [
                        StreamAppend(
                            f"dataset-{s}",
                            [DatasetParameterSet(name="temperature", value=n, unit="K")],
                            versions[s],
                        )
                    ],
                    METADATA,
                )
                versions[s] += 1

        seconds = timed(run)
        CHECKS.expect(f"{backend.name} (a) events", count_events(engine), streams + sizes.commands)
    return Result(
        "a", "(a) 1-event command transactions", backend.name, OURS, sizes.commands, seconds
    )


def five_event_transactions(backend: Backend, sizes: Sizes, *, inline: bool) -> Result:
    """(b) One new stream of 5 events per transaction, optionally with StreamSummaries inline."""
    with backend.engine("b") as engine:
        projection = StreamSummaries()
        store = EventStore(engine, REGISTRY, [projection] if inline else [])
        if inline:
            register_checkpoints(store, [projection])

        def run() -> None:
            for i in range(sizes.entities):
                store.append([StreamAppend(f"dataset-{i}", dataset_events(i), NO_STREAM)], METADATA)

        seconds = timed(run)
        events = sizes.entities * EVENTS_PER_STREAM
        label = f"{backend.name} (b{'+inline' if inline else ''})"
        CHECKS.expect(f"{label} events", count_events(engine), events)
        if inline:
            CHECKS.expect(f"{label} summaries", summary_totals(engine), (sizes.entities, events))
    if inline:
        return Result(
            "b+inline", "(b) 5-event txns + inline summaries", backend.name, OURS, events, seconds
        )
    return Result(
        "b", "(b) 5-event transactions", backend.name, OURS, events, seconds, target_ratio=1.5
    )


def eventsourcing_five_event_transactions(backend: Backend, sizes: Sizes) -> Result:
    """(b) through `eventsourcing`: an aggregate created, four @event calls, one save."""
    with backend.eventsourcing_env() as env:
        app = EsCatalogue(env=env)
        try:

            def run() -> None:
                for i in range(sizes.entities):
                    dataset = EsDataset(name=f"dataset {i}", investigation=f"inv-{i % 97}")
                    for k, (name, unit) in enumerate(PARAMETERS):
                        dataset.set_parameter(name=name, value=i + k / 10, unit=unit)
                    app.save(dataset)

            seconds = timed(run)
            events = sizes.entities * EVENTS_PER_STREAM
            CHECKS.expect(
                f"{backend.name} (b) eventsourcing events",
                app.recorder.max_notification_id(),
                events,
            )
        finally:
            app.close()
    return Result("b", "(b) 5-event transactions", backend.name, THEIRS, events, seconds)


def ingest_batches(backend: Backend, sizes: Sizes) -> Result:
    """(c) 1,000 events per transaction, over BATCH_STREAMS new streams."""
    target = 50_000.0 if backend.name == SQLITE else 20_000.0
    with backend.engine("c") as engine:
        store = EventStore(engine, REGISTRY)

        def run() -> None:
            for batch in range(sizes.batches):
                ingest_batch(store, batch)

        seconds = timed(run)
        events = sizes.batches * BATCH_STREAMS * EVENTS_PER_STREAM
        CHECKS.expect(f"{backend.name} (c) events", count_events(engine), events)
    return Result(
        "c", "(c) 1,000-event ingest transactions", backend.name, OURS, events, seconds, target
    )


def rebuild_summaries(backend: SQLiteBackend, sizes: Sizes) -> Result:
    """(d) Rebuild StreamSummaries from position 0 over `sizes.rebuild_events` events."""
    batches = sizes.rebuild_events // (BATCH_STREAMS * EVENTS_PER_STREAM)
    events = batches * BATCH_STREAMS * EVENTS_PER_STREAM
    with backend.engine("d") as engine:
        store = EventStore(engine, REGISTRY)
        print(f"  loading {events:,} events for (d) ...", flush=True)
        for batch in range(batches):
            ingest_batch(store, batch)
        projection = StreamSummaries()
        register_checkpoints(store, [projection])
        seconds = timed(
            lambda: rebuild(store, projection, batch_size=5000, restart=True, progress=None)
        )
        CHECKS.expect(
            "SQLite (d) summaries", summary_totals(engine), (batches * BATCH_STREAMS, events)
        )
        with engine.connect() as connection:
            checkpoint = read_checkpoint(connection, projection.name)
        CHECKS.expect(
            "SQLite (d) checkpoint", (checkpoint.position, checkpoint.status), (events, Status.LIVE)
        )
    return Result(
        "d", "(d) rebuild StreamSummaries", SQLITE, OURS, events, seconds, target_rate=50_000.0
    )


def run_backend(backend: Backend, sizes: Sizes) -> list[Result]:
    """Every workload on one backend, each on a fresh database."""
    print(f"{backend.name}:", flush=True)
    results = [
        report(single_event_commands(backend, sizes)),
        report(five_event_transactions(backend, sizes, inline=False)),
        report(eventsourcing_five_event_transactions(backend, sizes)),
        report(five_event_transactions(backend, sizes, inline=True)),
        report(ingest_batches(backend, sizes)),
    ]
    if isinstance(backend, SQLiteBackend):
        results.append(report(rebuild_summaries(backend, sizes)))
    ours = next(r for r in results if r.key == "b" and r.system == OURS)
    theirs = next(r for r in results if r.key == "b" and r.system == THEIRS)
    ours.ratio = ours.rate / theirs.rate
    print(f"  (b) ours / eventsourcing on {backend.name}: {ours.ratio:.2f}x", flush=True)
    return results


# -- output ------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    """The results as a markdown table."""
    lines = [
        "| Workload | Backend | Store | Events | Seconds | Events/s | Target | Ratio | Met |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]
    lines += [
        f"| {r.workload} | {r.backend} | {r.system} | {r.events:,} | {r.seconds:.2f} "
        f"| {r.rate:,.0f} | {r.target_text()} | {r.ratio_text()} | {r.met()} |"
        for r in results
    ]
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(postgres: PostgresBackend | None, revision: str) -> list[str]:
    """Markdown bullet lines describing where and on what code the figures were measured."""
    return [
        f"- code: {revision}",
        f"- machine: {platform.platform()}, {len(os.sched_getaffinity(0))} CPUs ({cpu_model()})",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres.server.version() if postgres else 'skipped (unreachable)'}",
        f"- SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}, "
        f"pydantic {version('pydantic')}, eventsourcing {version('eventsourcing')}",
    ]


def record(results: list[Result], lines: list[str], quick: bool, failures: list[str]) -> None:
    """Append a dated section to RESULTS.md."""
    record_run(
        "event_store.py",
        quick,
        [*lines, f"- command: {command('event_store.py')}"],
        [table(results)],
        ("Correctness checks that failed:", failures),
    )


def main(argv: list[str] | None = None) -> int:
    """Run every workload on SQLite, then PostgreSQL; print the table; optionally record it."""
    parser = arguments(__doc__, "every workload ~10x smaller", persistent=False)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    unwind_on_sigterm()  # the finally blocks drop the benchmark databases

    results: list[Result] = []
    revision = code_revision()  # now: the modules under test were imported at start-up
    postgres = PostgresBackend.connect(server_url())
    try:
        with tempfile.TemporaryDirectory(prefix="catalogue-bench-") as directory:
            results += run_backend(SQLiteBackend(Path(directory)), sizes)
        if postgres is not None:
            results += run_backend(postgres, sizes)
        lines = machine(postgres, revision)
    finally:
        if postgres is not None:
            postgres.drop_all()

    print()
    print("\n".join(lines))
    print()
    print(table(results))
    if CHECKS.failures:
        print("\n".join(CHECKS.failures))
    if args.record:
        record(results, lines, args.quick, CHECKS.failures)
    return 1 if CHECKS.failures else 0


if __name__ == "__main__":
    sys.exit(main())
