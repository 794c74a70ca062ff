"""Data-portal API read latency (issue 3) on a catalogue of 1,000,000 datasets (PostgreSQL).

The catalogue (full scale): 40 beamlines, 1,000 investigations, 1,000,000 datasets (one
investigation holds 100,000 of them), 20 parameters per dataset, about 10,000,000 datafiles
(one dataset of the big investigation holds 10,000). It is loaded once, through the real
write path (deciders -> events -> `EventStore.append` with the inline projections), into a
persistent database that later runs reuse: `catalogue_bench_api` (`--quick`: a small
`catalogue_bench_api_quick`). `--reload` drops and loads it again; an interrupted load
resumes where it stopped (appends are atomic and the data is generated deterministically).

Then the service runs with 2 workers (`catalogue serve`), and client processes time:
the first page and a deep cursor page of the big investigation's datasets, one dataset
with its parameters, the first page of the 10,000-file dataset's files, and a dataset's
history. Target: p95 <= 20 ms for each.

Usage: python benchmarks/api.py [--quick] [--reload] [--load-only] [--record]
       [--requests N] [--clients N] [--batch N]

PostgreSQL: CATALOGUE_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
names the server.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
from harness import (
    BEAMLINES,
    CATALOGUE,
    DETECTOR,
    EMBARGO,
    FILL_MODES,
    ROOT,
    TECHNIQUE,
    Endpoint,
    GeneratedInvestigation,
    Measurement,
    Probe,
    Progress,
    Server,
    arguments,
    code_revision,
    command,
    json_object,
    load_lines,
    log,
    machine_lines,
    print_failures,
    record_run,
    run_clients,
    server_url,
    service,
    spread,
    unwind_on_sigterm,
    warm_up,
)
from sqlalchemy import Engine, func, select

from catalogue.domain.datasets import (
    CloseDataset,
    CreateDataset,
    Datafile,
    Dataset,
    RawParameter,
    RegisterFiles,
    ScanType,
    dataset_id_for,
    dataset_stream,
    decide_dataset,
    evolve_dataset,
)
from catalogue.domain.identity import AddUser, User, decide_user, user_stream
from catalogue.domain.instruments import (
    Instrument,
    RegisterInstrument,
    decide_instrument,
    instrument_stream,
)
from catalogue.domain.investigations import (
    AddParticipant,
    CreateInvestigation,
    Investigation,
    Role,
    decide_investigation,
    evolve_investigation,
    investigation_stream,
)
from catalogue.domain.parameters import ParameterType, builtin_vocabulary
from catalogue.events import NO_STREAM, Event, Metadata, StreamAppend
from catalogue.revisions import upgrade
from catalogue.schema import stream_summaries, users
from catalogue.services import Services, build_services
from catalogue.settings import Settings

SECTION = "## Data-portal API (issue 3)"
METADATA = Metadata(actor="bench-loader", source="benchmarks/api.py")
USERNAME = "bench"
MARKER_KEY = "catalogue_bench_api"
TARGET_P95_MS = 20.0
PAGE = 100
VOCABULARY: dict[str, ParameterType] = dict(builtin_vocabulary())
EPOCH = datetime(2022, 9, 1, 8, 0, tzinfo=UTC)


# -- scale ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """How big the catalogue is."""

    name: str
    database: str
    beamlines: int
    investigations: int
    datasets: int
    big_datasets: int  # datasets of the big investigation
    big_files: int  # files of the one big dataset
    deep_page: int  # cursor hops to the deep page
    requests: int  # timed requests per endpoint
    warmup: int  # untimed requests per endpoint first

    @property
    def big_investigation(self) -> int:
        """Index of the investigation that holds `big_datasets`."""
        return self.investigations // 2


FULL = Scale(
    "full",
    "catalogue_bench_api",
    beamlines=40,
    investigations=1_000,
    datasets=1_000_000,
    big_datasets=100_000,
    big_files=10_000,
    deep_page=500,
    requests=2_000,
    warmup=100,
)
QUICK = Scale(
    "quick",
    "catalogue_bench_api_quick",
    beamlines=10,
    investigations=20,
    datasets=10_000,
    big_datasets=2_000,
    big_files=2_000,
    deep_page=10,
    requests=200,
    warmup=20,
)
#: Index, within the big investigation, of the dataset with `big_files` files.
BIG_FILES_INDEX = 1_000
#: Datasets per sample, and the other datasets' file counts: 5..15, 10 on average.
SCANS_PER_SAMPLE = 50
FILES_CYCLE = 11
FILES_MIN = 5


# -- what the facility looks like (beamlines, techniques, detectors: harness) -------------------

SCAN_TYPE = {"MX": "datacollection", "TOMO": "tomo:fullturn", "SAXS": "sample", "XAS": "exafs"}
# Twenty parameters per dataset: eleven every dataset has, nine of its technique.
COMMON_PARAMETERS = (
    "definition", "scanType", "scanNumber", "startDate", "endDate", "Sample_name",
    "InstrumentSource_current", "InstrumentSource_mode", "InstrumentMonochromator_energy",
    "InstrumentInsertionDevice_gap", "InstrumentDetector01_name",
)  # fmt: skip
FAMILY_PARAMETERS = {
    "MX": (
        "MX_exposureTime", "MX_oscillationStart", "MX_oscillationRange", "MX_numberOfImages",
        "MX_resolution", "MX_transmission", "MX_flux", "MX_detectorDistance", "MX_template",
    ),
    "TOMO": (
        "TOMO_exposureTime", "TOMO_pixelSize", "TOMO_scanRange", "TOMO_start_angle",
        "TOMO_projN", "TOMO_refN", "TOMO_darkN", "TOMO_detectorDistance", "TOMO_ZStart",
    ),
    "SAXS": (
        "SAXS_code", "SAXS_comments", "SAXS_concentration", "SAXS_storage_temperature",
        "SAXS_exposure_temperature", "SAXS_column_type", "SAXS_maskFile",
        "InstrumentMonochromator_wavelength", "Sample_environment",
    ),
    "XAS": (
        "technique", "Sample_description", "Sample_environment", "SamplePositioners_name",
        "SamplePositioners_value", "InstrumentMonochromatorCrystal_type",
        "InstrumentMonochromator_wavelength", "InstrumentDetector02_name", "Workflow_name",
    ),
}  # fmt: skip
PARAMETERS_PER_DATASET = len(COMMON_PARAMETERS) + 9


def _uniform(low: float, high: float, digits: int = 4) -> Callable[[random.Random], float]:
    return lambda rng: round(rng.uniform(low, high), digits)


def _integer(low: int, high: int) -> Callable[[random.Random], int]:
    return lambda rng: rng.randint(low, high)


# Numeric values, drawn in the parameter type's own unit.
NUMBERS: dict[str, Callable[[random.Random], float | int]] = {
    "InstrumentSource_current": _uniform(180.0, 200.0, 2),
    "InstrumentMonochromator_energy": _uniform(6.0, 20.0),
    "InstrumentMonochromator_wavelength": _uniform(0.6, 2.0),
    "InstrumentInsertionDevice_gap": _uniform(11.0, 30.0, 3),
    "MX_exposureTime": _uniform(0.002, 0.1),
    "MX_oscillationStart": _uniform(0.0, 360.0, 2),
    "MX_oscillationRange": _uniform(0.05, 0.2, 3),
    "MX_numberOfImages": _integer(100, 3600),
    "MX_resolution": _uniform(1.0, 3.5, 3),
    "MX_transmission": _uniform(1.0, 100.0, 2),
    "MX_flux": _uniform(1e11, 5e12, -9),
    "MX_detectorDistance": _uniform(120.0, 600.0, 2),
    "TOMO_exposureTime": _uniform(0.01, 0.5),
    "TOMO_pixelSize": _uniform(0.1, 6.5, 3),
    "TOMO_scanRange": lambda rng: rng.choice((180.0, 360.0)),
    "TOMO_start_angle": _uniform(0.0, 10.0, 2),
    "TOMO_projN": _integer(1000, 6000),
    "TOMO_refN": _integer(20, 50),
    "TOMO_darkN": _integer(10, 30),
    "TOMO_detectorDistance": _uniform(10.0, 1000.0, 1),
    "TOMO_ZStart": _uniform(-20.0, 20.0, 3),
}
TEXTS: dict[str, Callable[[random.Random], str]] = {
    # The ESRF definitions type these SAXS fields as text (NX_CHAR).
    "SAXS_concentration": lambda rng: f"{rng.uniform(0.5, 10.0):.2f}",
    "SAXS_storage_temperature": lambda rng: f"{rng.uniform(4.0, 20.0):.1f}",
    "SAXS_exposure_temperature": lambda rng: f"{rng.uniform(4.0, 37.0):.1f}",
    "InstrumentSource_mode": lambda rng: rng.choice(FILL_MODES),
    "SAXS_code": lambda rng: f"BSA{rng.randint(1, 99):02d}",
    "SAXS_comments": lambda rng: rng.choice(("buffer matched", "dialysed overnight", "fresh")),
    "SAXS_column_type": lambda rng: rng.choice(("Superdex 200", "Superose 6", "none")),
    "SAXS_maskFile": lambda rng: "/data/id02/masks/pilatus2m_mask.edf",
    "Sample_environment": lambda rng: rng.choice(("cryostream", "furnace", "capillary")),
    "Sample_description": lambda rng: rng.choice(("powder", "single crystal", "thin film")),
    "SamplePositioners_name": lambda rng: "samx samy samz",
    "SamplePositioners_value": lambda rng: " ".join(f"{rng.uniform(-5, 5):.3f}" for _ in "xyz"),
    "InstrumentMonochromatorCrystal_type": lambda rng: rng.choice(("Si111", "Si311")),
    "InstrumentDetector02_name": lambda rng: "i0_diode",
    "Workflow_name": lambda rng: "xas_acquisition",
}


@dataclass(frozen=True, slots=True)
class InvestigationPlan(GeneratedInvestigation):
    """One investigation of the generated catalogue."""

    datasets: int  # how many
    first: int  # global index of its first dataset


class CataloguePlan:
    """The whole generated catalogue, computed (not stored) from the scale: deterministic."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.beamlines = BEAMLINES[: scale.beamlines]
        counts = _dataset_counts(scale)
        self.investigations: list[InvestigationPlan] = []
        first = 0
        for index, count in enumerate(counts):
            big = index == scale.big_investigation
            beamline, family = self.beamlines[0] if big else self.beamlines[index % scale.beamlines]
            # Investigations follow each other over about four years; the big one is long.
            start = EPOCH + timedelta(hours=int(index * 35.0 * 1000 / scale.investigations))
            days = 60 if big else 1 + index % 4
            self.investigations.append(
                InvestigationPlan.named(
                    index,
                    beamline,
                    family,
                    start,
                    start + timedelta(days=days),
                    datasets=count,
                    first=first,
                )
            )
            first += count
        self._firsts = [plan.first for plan in self.investigations]
        self.big = self.investigations[scale.big_investigation]

    def locate(self, index: int) -> tuple[InvestigationPlan, int]:
        """The investigation of global dataset `index`, and the dataset's rank within it."""
        plan = self.investigations[bisect.bisect_right(self._firsts, index) - 1]
        return plan, index - plan.first

    def dataset_name(self, rank: int) -> tuple[str, str, int]:
        """(dataset name, sample name, scan number) of the dataset at `rank`."""
        sample = f"sample{rank // SCANS_PER_SAMPLE + 1:04d}"
        scan = rank % SCANS_PER_SAMPLE + 1
        return f"{sample}_{scan:04d}", sample, scan

    def dataset_id(self, plan: InvestigationPlan, rank: int) -> UUID:
        """The id a dataset gets (derived from its investigation and name)."""
        return dataset_id_for(plan.investigation_id, self.dataset_name(rank)[0])

    def dataset_times(self, plan: InvestigationPlan, rank: int) -> tuple[datetime, datetime]:
        """Start and end: scans spread evenly over the investigation, in rank order."""
        spacing = (plan.end - plan.start) / plan.datasets
        start = plan.start + spacing * rank
        return start, start + spacing * 0.8

    def file_count(self, plan: InvestigationPlan, rank: int) -> int:
        """Files of one dataset: 5 to 15 (10 on average), or the big dataset's."""
        if plan is self.big and rank == BIG_FILES_INDEX:
            return self.scale.big_files
        return FILES_MIN + (plan.first + rank) % FILES_CYCLE


def _dataset_counts(scale: Scale) -> list[int]:
    """Datasets per investigation: the big one, the rest spread unevenly (0.3x to 1.7x)."""
    counts = spread(scale.datasets - scale.big_datasets, scale.investigations - 1)
    counts.insert(scale.big_investigation, scale.big_datasets)
    return counts


# -- commands through the deciders -----------------------------------------------------------


def instrument_events(name: str, family: str) -> list[Event]:
    """A beamline registered through its decider."""
    return decide_instrument(
        Instrument(),
        RegisterInstrument(
            name=name,
            full_name=f"{name} {TECHNIQUE[family]} beamline",
            description=f"ESRF beamline {name} ({TECHNIQUE[family]})",
        ),
    )


def user_events() -> list[Event]:
    """The benchmark's user."""
    return decide_user(
        User(), AddUser(username=USERNAME, full_name="Bench", email="bench@example.org")
    )


def investigation_events(plan: InvestigationPlan, with_bench: bool) -> list[Event]:
    """An investigation created through its decider, `bench` as its PI if asked."""
    created = decide_investigation(
        Investigation(),
        CreateInvestigation(
            proposal=plan.proposal,
            instrument=plan.beamline,
            instrument_exists=True,
            title=f"{TECHNIQUE[plan.family]} study {plan.index} on {plan.beamline}",
            start=plan.start,
            end=plan.end,
            embargo=EMBARGO,
            visit_id=plan.visit_id,
            summary="Generated by benchmarks/api.py.",
        ),
    )
    if not with_bench:
        return created
    state = evolve_investigation(Investigation(), created[0])
    added = decide_investigation(
        state, AddParticipant(USERNAME, Role.PRINCIPAL_INVESTIGATOR, user_exists=True)
    )
    return created + added


def dataset_parameters(
    rng: random.Random, family: str, name: str, sample: str, scan: int, times: tuple[datetime, ...]
) -> tuple[RawParameter, ...]:
    """Twenty parameters with ESRF names; numbers carry the vocabulary's unit."""
    raw: list[RawParameter] = []
    for parameter in (*COMMON_PARAMETERS, *FAMILY_PARAMETERS[family]):
        kind = VOCABULARY[parameter]
        value: str | float | int | datetime
        if parameter in NUMBERS:
            value = NUMBERS[parameter](rng)
        elif parameter in TEXTS:
            value = TEXTS[parameter](rng)
        elif parameter == "definition":
            value = TECHNIQUE[family]
        elif parameter == "technique":
            value = "EXAFS"
        elif parameter == "scanType":
            value = SCAN_TYPE[family]
        elif parameter == "scanNumber":
            value = scan
        elif parameter == "startDate":
            value = times[0]
        elif parameter == "endDate":
            value = times[1]
        elif parameter == "Sample_name":
            value = sample
        elif parameter == "InstrumentDetector01_name":
            value = DETECTOR[family]
        elif parameter == "MX_template":
            value = f"{name}_%05d.h5"
        else:
            raise AssertionError(f"no generator for parameter {parameter}")
        raw.append(RawParameter(parameter, value, kind.unit))
    return tuple(raw)


def dataset_events(catalogue: CataloguePlan, index: int) -> tuple[str, list[Event], int]:
    """(stream, events, files) of global dataset `index`: created, files, closed."""
    plan, rank = catalogue.locate(index)
    name, sample, scan = catalogue.dataset_name(rank)
    start, end = catalogue.dataset_times(plan, rank)
    rng = random.Random(index)
    day = f"{plan.start:%Y%m%d}"
    location = (
        f"/data/visitor/{plan.proposal.lower()}/{plan.beamline.lower()}/{day}"
        f"/RAW_DATA/{sample}/{name}"
    )
    created = decide_dataset(
        Dataset(),
        CreateDataset(
            investigation_id=plan.investigation_id,
            name=name,
            location=location,
            start=start,
            vocabulary=VOCABULARY,
            collection=sample,
            techniques=(TECHNIQUE[plan.family],),
            scan_type=ScanType.CONTINUOUS if plan.family != "XAS" else ScanType.STEP_BY_STEP,
            parameters=dataset_parameters(rng, plan.family, name, sample, scan, (start, end)),
        ),
    )
    state = evolve_dataset(Dataset(), created[0])
    count = catalogue.file_count(plan, rank)
    detector = DETECTOR[plan.family]
    files = [Datafile(path=f"{location}/{name}.h5", size=rng.randint(20_000, 2_000_000))]
    files += [
        Datafile(
            path=f"{location}/scan{scan:04d}/{detector}_{k:05d}.h5",
            size=rng.randint(10_000_000, 4_000_000_000),
            checksum=f"adler32:{rng.getrandbits(32):08x}",
            format="hdf5",
        )
        for k in range(count - 1)
    ]
    registered = decide_dataset(state, RegisterFiles(files=tuple(files)))
    state = evolve_dataset(state, registered[0])
    closed = decide_dataset(state, CloseDataset(end=end, vocabulary=VOCABULARY))
    return dataset_stream(state.dataset_id or UUID(int=0)), created + registered + closed, count


# -- the database -------------------------------------------------------------------------------


def category_counts(engine: Engine) -> dict[str, int]:
    """Streams per category, from the stream summaries."""
    query = select(stream_summaries.c.category, func.count()).group_by(stream_summaries.c.category)
    with engine.connect() as connection:
        return {str(category): int(n) for category, n in connection.execute(query)}


def existing_streams(engine: Engine, streams: Sequence[str]) -> set[str]:
    """Which of `streams` exist."""
    query = select(stream_summaries.c.stream).where(stream_summaries.c.stream.in_(streams))
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())


# -- the load -----------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadStats:
    """What one load session wrote, and how long it took."""

    datasets: int = 0
    events: int = 0
    files: int = 0
    parameters: int = 0
    rows: int = 0  # events plus read-model rows
    appends: int = 0
    decide_seconds: float = 0.0  # building events with the deciders
    append_seconds: float = 0.0  # EventStore.append (encoding, SQL, inline projections)
    seconds: float = 0.0  # the whole session, setup streams included
    vacuum_seconds: float = 0.0
    resumed_from: int = 0
    batch: int = 0
    slowest_append: float = 0.0

    def rates(self) -> str:
        """Datasets, events and rows per second over the session's wall time."""
        seconds = max(self.seconds, 1e-9)
        return (
            f"{self.datasets / seconds:,.0f} datasets/s, {self.events / seconds:,.0f} events/s, "
            f"{self.rows / seconds:,.0f} rows/s"
        )


def load(server: Server, scale: Scale, batch: int, reload: bool) -> dict[str, Any]:
    """Load the catalogue unless it is loaded already; the load record either way."""
    server.prepare(scale.database, reload)
    revision = code_revision()  # now: the write path under test was imported at start-up
    url = server.database_url(scale.database)
    services = build_services(Settings(database_url=url))
    try:
        upgrade(services.engine)
        catalogue = CataloguePlan(scale)
        record = server.loaded(scale.database)
        counts = category_counts(services.engine)
        if record is not None and loaded_fully(scale, counts):
            log(f"{scale.database} is loaded already ({counts}); --reload to load it again")
            return record
        stats = load_streams(services, catalogue, batch)
        counts = category_counts(services.engine)
        if not loaded_fully(scale, counts):
            raise SystemExit(f"load incomplete: stream counts {counts}")
        stats.vacuum_seconds = server.vacuum_analyze(scale.database)
    finally:
        services.close()
    return server.mark_loaded(scale.database, scale.name, revision, counts, asdict(stats))


def loaded_fully(scale: Scale, counts: dict[str, int]) -> bool:
    """Whether every stream of the scale exists."""
    return (
        counts.get("instrument", 0) == scale.beamlines
        and counts.get("investigation", 0) == scale.investigations
        and counts.get("dataset", 0) == scale.datasets
        and counts.get("user", 0) >= 1
    )


def load_streams(services: Services, catalogue: CataloguePlan, batch: int) -> LoadStats:
    """Append whatever streams are missing: beamlines and the user, investigations, datasets."""
    store, engine, scale = services.store, services.engine, catalogue.scale
    stats = LoadStats(batch=batch)
    started = time.perf_counter()

    setup = [
        StreamAppend(instrument_stream(name), instrument_events(name, family), NO_STREAM)
        for name, family in catalogue.beamlines
    ]
    setup.append(StreamAppend(user_stream(USERNAME), user_events(), NO_STREAM))
    present = existing_streams(engine, [a.stream for a in setup])
    setup = [a for a in setup if a.stream not in present]
    if setup:
        store.append(setup, METADATA)
        stats.events += sum(len(a.events) for a in setup)
        stats.appends += 1
        log(f"appended {len(setup)} beamline and user streams")

    investigation_appends = [
        StreamAppend(
            investigation_stream(plan.investigation_id),
            investigation_events(plan, plan is catalogue.big),
            NO_STREAM,
        )
        for plan in catalogue.investigations
    ]
    present = existing_streams(engine, [a.stream for a in investigation_appends])
    missing = [a for a in investigation_appends if a.stream not in present]
    for start in range(0, len(missing), 250):
        chunk = missing[start : start + 250]
        store.append(chunk, METADATA)
        stats.events += sum(len(a.events) for a in chunk)
        stats.appends += 1
    if missing:
        log(f"appended {len(missing)} investigation streams")

    done = category_counts(engine).get("dataset", 0)
    if done:
        # Appends are atomic and run in index order, so what exists is a prefix.
        last, _, _ = dataset_events(catalogue, done - 1)
        if done > scale.datasets or not existing_streams(engine, [last]):
            raise SystemExit(
                f"{scale.database} holds {done:,} datasets that are not this load's first "
                f"{done:,}: run with --reload"
            )
        log(f"resuming after {done:,} datasets")
    stats.resumed_from = done
    progress = Progress(scale.datasets, done, "datasets")
    try:
        for first in range(done, scale.datasets, batch):
            t0 = time.perf_counter()
            appends, files = [], 0
            for index in range(first, min(first + batch, scale.datasets)):
                stream, events, count = dataset_events(catalogue, index)
                appends.append(StreamAppend(stream, events, NO_STREAM))
                files += count
            t1 = time.perf_counter()
            store.append(appends, METADATA)
            t2 = time.perf_counter()
            stats.decide_seconds += t1 - t0
            stats.append_seconds += t2 - t1
            stats.slowest_append = max(stats.slowest_append, t2 - t1)
            stats.appends += 1
            n = len(appends)
            stats.datasets += n
            stats.events += 3 * n
            stats.files += files
            stats.parameters += PARAMETERS_PER_DATASET * n
            # Rows: 3 events, a stream summary, the dataset, its technique, its parameters
            # and its files.
            stats.rows += n * (3 + 1 + 1 + 1 + PARAMETERS_PER_DATASET) + files
            progress.advance(
                n,
                f"{stats.events / (t2 - started):,.0f} events/s, "
                f"{stats.rows / (t2 - started):,.0f} rows/s, "
                f"decide {stats.decide_seconds:,.0f} s / append {stats.append_seconds:,.0f} s",
            )
    finally:
        progress.close()
        stats.seconds = time.perf_counter() - started
        log(
            f"loaded {stats.datasets:,} datasets ({stats.events:,} events, {stats.files:,} files,"
            f" {stats.rows:,} rows) in {stats.seconds:,.1f} s: {stats.rates()}; deciders "
            f"{stats.decide_seconds:,.1f} s, appends {stats.append_seconds:,.1f} s "
            f"(slowest {stats.slowest_append:.2f} s)"
        )
    return stats


# -- the service and the requests ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expect:
    """How a good answer looks: a page (its total, how many items) or one dataset."""

    kind: str  # "page" or "dataset"
    total: int | None = None
    items: int | None = None

    def check(self, response: httpx.Response) -> str | None:
        """Why the answer is wrong, or None when it has the expected status and shape."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        if self.kind == "dataset":
            parameters = body.get("parameters")
            if not isinstance(parameters, list | dict) or len(parameters) != PARAMETERS_PER_DATASET:
                return f"expected {PARAMETERS_PER_DATASET} parameters, got {str(parameters)[:200]}"
            return None
        items, cursor, total = body.get("items"), body.get("next_cursor"), body.get("total")
        if not isinstance(items, list) or not isinstance(total, int):
            return f"not a page (items, next_cursor, total): {str(body)[:200]}"
        if cursor is not None and not isinstance(cursor, str):
            return f"next_cursor is not a string: {cursor!r}"
        # A total counted only up to a bound (total_exact false) may stop short.
        bounded = (
            body.get("total_exact", True) is False and self.total is not None and total < self.total
        )
        if self.total is not None and total != self.total and not bounded:
            return f"total {total}, expected {self.total}"
        if self.items is not None and len(items) != self.items:
            return f"{len(items)} items, expected {self.items}"
        return None


def endpoint(key: str, label: str, paths: Sequence[str], token: str, expect: Expect) -> Endpoint:
    """A timed request kind rotating over `paths` as `bench`, against the p95 target."""
    probes = tuple(Probe(path, token, expect.check) for path in paths)
    return Endpoint(key, label, probes, TARGET_P95_MS)


def catalogue_command(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `catalogue` CLI of this virtualenv on the benchmark database."""
    env = {**os.environ, "CATALOGUE_DATABASE_URL": url}
    return subprocess.run(
        [str(CATALOGUE), *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )


def bench_token(url: str, engine: Engine) -> str:
    """A fresh bearer token for `bench` (the user is added by the CLI if the load did not)."""
    for group in ("users", "tokens"):
        if catalogue_command(url, group, "--help").returncode != 0:
            raise SystemExit(
                f"the CLI has no `catalogue {group}` command yet: cannot make a token; stopping"
            )
    with engine.connect() as connection:
        known = connection.execute(
            select(users.c.username).where(users.c.username == USERNAME)
        ).first()
    if known is None:
        added = catalogue_command(
            url, "users", "add", USERNAME, "--email", "bench@example.org", "--full-name", "Bench"
        )
        if added.returncode != 0:
            raise SystemExit(f"`catalogue users add` failed: {added.stderr.strip()}")
    created = catalogue_command(url, "tokens", "create", USERNAME)
    lines = created.stdout.strip().splitlines()
    if created.returncode != 0 or not lines:
        raise SystemExit(f"`catalogue tokens create` failed: {created.stderr.strip()}")
    return lines[-1].strip()


def endpoints(client: httpx.Client, catalogue: CataloguePlan, token: str) -> list[Endpoint]:
    """The five request kinds, the deep cursor found by walking the pages once."""
    scale, big = catalogue.scale, catalogue.big
    listing = f"/api/v1/investigations/{big.investigation_id}/datasets"
    first_page = f"{listing}?{urlencode({'limit': PAGE, 'sort': 'start_time'})}"

    log(f"walking the cursor {scale.deep_page} pages into the big investigation ...")
    started = time.perf_counter()
    path = first_page
    for page in range(scale.deep_page):
        response = client.get(path)
        body = response.json() if response.status_code == 200 else {}
        cursor = body.get("next_cursor")
        if not isinstance(cursor, str):
            raise SystemExit(
                f"page {page + 1} of {listing}: no next_cursor "
                f"(HTTP {response.status_code}: {response.text[:300]})"
            )
        path = f"{listing}?{urlencode({'limit': PAGE, 'sort': 'start_time', 'cursor': cursor})}"
    deep_page = path
    walked = time.perf_counter() - started
    deep = client.get(deep_page).json()
    expected = str(catalogue.dataset_id(big, scale.deep_page * PAGE))
    if expected not in json.dumps(deep["items"][0]):
        raise SystemExit(
            f"the deep page starts with {str(deep['items'][0])[:200]}, expected dataset {expected}"
            f" (rank {scale.deep_page * PAGE} by start time)"
        )
    log(
        f"walked {scale.deep_page} pages in {walked:.1f} s ({walked / scale.deep_page * 1000:.1f}"
        " ms a page, one client); the deep page starts where expected"
    )

    # Single datasets and histories: 1,000 datasets of the big investigation, not the
    # 10,000-file one (its history carries a 10,000-file event).
    rng = random.Random(42)
    ranks = [r for r in rng.sample(range(scale.big_datasets), 1001) if r != BIG_FILES_INDEX][:1000]
    ids = [catalogue.dataset_id(big, r) for r in ranks]
    files_id = catalogue.dataset_id(big, BIG_FILES_INDEX)
    return [
        endpoint(
            "first",
            "datasets of the big investigation, first page",
            (first_page,),
            token,
            Expect("page", scale.big_datasets, PAGE),
        ),
        endpoint(
            "deep",
            f"datasets of the big investigation, cursor page {scale.deep_page + 1} "
            f"({scale.deep_page * PAGE:,} in)",
            (deep_page,),
            token,
            Expect("page", scale.big_datasets, PAGE),
        ),
        endpoint(
            "dataset",
            "one dataset with its 20 parameters (1,000 datasets in turn)",
            [f"/api/v1/datasets/{i}" for i in ids],
            token,
            Expect("dataset"),
        ),
        endpoint(
            "files",
            f"files of a {scale.big_files:,}-file dataset, first page",
            (f"/api/v1/datasets/{files_id}/files?{urlencode({'limit': PAGE})}",),
            token,
            Expect("page", scale.big_files, PAGE),
        ),
        endpoint(
            "history",
            "history of a dataset (3 events; 1,000 datasets in turn)",
            [f"/api/v1/datasets/{i}/history" for i in ids],
            token,
            Expect("page", 3, 3),
        ),
    ]


def measure(server: Server, scale: Scale, requests: int, clients: int) -> list[Measurement]:
    """Start the service, warm it up, time each endpoint."""
    url = server.database_url(scale.database)
    services = build_services(Settings(database_url=url))
    try:
        token = bench_token(url, services.engine)
    finally:
        services.close()
    catalogue = CataloguePlan(scale)
    measurements = []
    with service(url, 2, "api") as base_url:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            kinds = endpoints(client, catalogue, token)
        for kind in kinds:
            warm_up(base_url, kind, scale.warmup)
        for kind in kinds:
            measurement = run_clients(base_url, kind, requests, clients)
            measurements.append(measurement)
            report(measurement)
    return measurements


def report(m: Measurement) -> None:
    """One endpoint's line, and its first failures."""
    print(
        f"  {m.endpoint.label:<72} p50 {m.percentile(50):6.1f}  p95 {m.percentile(95):6.2f}  "
        f"p99 {m.percentile(99):6.1f} ms  {m.rate:7,.0f} req/s  "
        f"{len(m.failures)} failed  {'PASS' if m.met else 'MISS'}",
        flush=True,
    )
    print_failures(dict.fromkeys(m.failures))


def table(measurements: Sequence[Measurement]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| request | p50 ms | p95 ms | p99 ms | requests/s | failed | p95 ≤ 20 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in measurements:
        lines.append(
            f"| {m.endpoint.label} | {m.percentile(50):.1f} | {m.percentile(95):.2f} | "
            f"{m.percentile(99):.1f} | {m.rate:,.0f} | {len(m.failures)} | "
            f"{'PASS' if m.met else 'MISS'} |"
        )
    return "\n".join(lines)


# -- recording -----------------------------------------------------------------------------------


def session_line(stats: dict[str, Any]) -> str:
    """How the load session of the database measured went."""
    seconds = max(float(stats.get("seconds", 0)), 1e-9)
    return (
        f"- load session: {stats.get('datasets', 0):,} datasets (resumed after "
        f"{stats.get('resumed_from', 0):,}), {stats.get('events', 0):,} events, "
        f"{stats.get('files', 0):,} files, {stats.get('rows', 0):,} rows in {seconds:,.0f} s "
        f"({seconds / 60:,.1f} min): {stats.get('datasets', 0) / seconds:,.0f} datasets/s, "
        f"{stats.get('events', 0) / seconds:,.0f} events/s, {stats.get('rows', 0) / seconds:,.0f}"
        f" rows/s; {stats.get('batch')} datasets per append; deciders "
        f"{stats.get('decide_seconds', 0):,.0f} s, appends {stats.get('append_seconds', 0):,.0f} s;"
        f" then VACUUM (ANALYZE) {stats.get('vacuum_seconds', 0):,.0f} s"
    )


DATA_DESCRIPTION = """\
Run it with `.venv/bin/python benchmarks/api.py [--quick] [--record]`. The first run loads
the catalogue into a persistent PostgreSQL database (`catalogue_bench_api`, `--quick`:
`catalogue_bench_api_quick`) that later runs reuse; `--reload` loads it again.

How the data is generated and loaded (full scale): 40 beamlines (ESRF names, four technique
families: MX, TOMO, BIOSAXS, XAS), one user `bench`, 1,000 investigations (one every 35 h
from 2022-09; release date end + 3 years, so the older ones are public), 1,000,000 datasets:
one investigation (`MX-1500` on ID23-1, `bench` its principal investigator) holds 100,000,
the other 999 between 270 and 1,530 each. Every dataset has 20 parameters with ESRF/ICAT names
from `builtin_vocabulary()` (11 common ones, 9 of its technique; numbers carry the
vocabulary's unit and are converted to SI by the decider), a sample-named collection, and
5 to 15 files (10 on average, a master file and detector files with size and adler32
checksum); one dataset of the big investigation has 10,000 files. Each dataset is one
stream of three events, `DatasetCreated`, `DatafilesRegistered`, `DatasetClosed`, all made
by the deciders (`decide_dataset` with `CreateDataset`, `RegisterFiles`, `CloseDataset`;
beamlines, the user and investigations likewise by theirs), appended with
`EventStore.append` as `StreamAppend(stream, events, NO_STREAM)`, many datasets per append,
with the service's inline projections (stream summaries, identity, catalogue) in the append
transaction: exactly the write path of the service. Generation is deterministic (seeded
per dataset), so an interrupted load resumes. After the load: `VACUUM (ANALYZE)`, as
autovacuum would leave a long-lived database.

How it is measured: `catalogue serve` with `CATALOGUE_WORKERS=2` (log level warning: no
access log), a token made with `catalogue tokens create bench`; 100 warm-up requests per
endpoint, then 2,000 timed requests per endpoint from 2 client processes (`--clients`;
httpx, one keep-alive connection each, requests back to back), on the same 2-CPU machine
as the service and PostgreSQL. Latency is the client's, from sending the request to the
last byte of the answer; requests/s is all clients' requests over the wall time. Every
answer is checked (status 200, page shape, totals, 20 parameters). Single datasets and
histories rotate over 1,000 datasets of the big investigation.
"""


def record(
    measurements: Sequence[Measurement], lines: list[str], scale: Scale, clients: int
) -> None:
    """Append a dated run under the section (created with its description if absent)."""
    record_run(
        "api.py",
        scale is QUICK,
        [*lines, f"- clients: {clients} processes; command: {command('api.py')}"],
        [table(measurements)],
        (
            "Failed requests (first five per endpoint):",
            [f for m in measurements for f in m.failures[:5]],
        ),
        (SECTION, DATA_DESCRIPTION),
    )


def main(argv: list[str] | None = None) -> int:
    """Load the catalogue if needed, then time the portal's reads."""
    parser = arguments(__doc__, "a small catalogue, 200 requests", persistent=True)
    parser.add_argument("--requests", type=int, help="timed requests per endpoint")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--batch", type=int, default=250, help="datasets per append")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    unwind_on_sigterm()  # the service subprocess is stopped on the way out

    server = Server(server_url(), MARKER_KEY)
    revision = code_revision()
    load_record = load(server, scale, args.batch, args.reload)
    session = session_line(load_record.get("stats", {}))
    lines = machine_lines(server, revision) + load_lines(load_record, session, "streams ")
    print("\n".join(lines), flush=True)
    if args.load_only:
        return 0
    measurements = measure(server, scale, args.requests or scale.requests, args.clients)
    print()
    print(table(measurements))
    if args.record:
        record(measurements, lines, scale, args.clients)
    return 1 if any(m.failures for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
