"""Sample tracking (issue 5) over a year of a facility: 8,000 investigations, 20,000 parcels,
400,000 items (PostgreSQL).

The year (full scale): 40 beamlines, 200 investigations each (8,000, one after another on
each beamline from 2026-01-05 to 2027-01-04), each with a principal investigator, a
co-investigator and one of its beamline's two scientists as local contact. 20,000 parcels
(0 to 4 per investigation, in one or two shipments) and 400,000 items: mostly samples,
registered through the items call itself (`sample: {name}`), in containers (MX: pucks in a
dewar; other techniques: a box); about 15 % of the parcels declare dangerous goods on some
items, so the safety group must approve them. The groups `safety` and `stores` have members.

Each parcel lives the life cycle its session's date allows on the plan's "today"
(2026-11-16, fixed so that the plan is deterministic): parcels of past sessions finished
(BACK_USER, or DESTROYED when their owners asked for it; a few never reached the beamline;
some REFUSED by the safety group then amended and declared again; some CANCELLED and replaced
by another parcel holding the same samples; a few LOST), those of this week's sessions in
the stores or at the beamline, those of later sessions anywhere from CREATED to SENT. The
worklists have the sizes this gives (a few hundred parcels per stores section).

It is loaded once, in-process, from 2 processes: accounts, groups, beamlines, investigations
and shipments through the portal services (`catalogue.portal.identity`, `instruments`,
`investigations` as the operator, `tracking.create_shipment` as the principal
investigator); each parcel's life (created, items declared with the samples they register,
every step) decided by the domain's decider (`catalogue.domain.tracking.decide_parcel`) on
the parcel's state, with the part the step's actor plays and `now` at the step's planned
time, and appended with `EventStore.append` (inline projections and the notifications'
outbox) under that actor's metadata, 20 investigations' parcels per round of multi-stream
appends. (Through `catalogue.portal.tracking` call by call the year loaded at 2 to 5
parcels/s on this shared 2-core machine: 1 to 3 hours; the batched appends load 20/s.) The
mail the year queued is then delivered by the service's own sender. The load goes into a
persistent database that later runs reuse: `catalogue_bench_tracking` (`--quick`:
`catalogue_bench_tracking_quick`, 1/20 of it on 10 beamlines). Ids derive from names and
each parcel's events are counted in its plan, so an interrupted load resumes from each
parcel's stream version. `--reload` drops and loads it again.

Then the service runs with 2 workers (`catalogue serve`), and client processes measure over
HTTP:

1. the stores' worklist (`GET /api/v1/tracking/worklists/stores`), each section (`expected`,
   `in_stores`, `to_return`): the first page (50) and the third page through the cursor,
   across the facility; the first page (10) and the second through the cursor for one
   beamline (`instrument=`): p95 <= 20 ms;
2. the safety worklist (`/worklists/safety`), the same way: p95 <= 20 ms;
3. "where is this sample" (`GET /samples/{id}`) as the sample's principal investigator and
   as stores staff; the samples of an investigation (`GET /samples?investigation_id=`) and
   one parcel (`GET /parcels/{id}`) as a participant: information only (no target);
4. transitions: fresh parcels on investigations of their own (on beamlines `BENCH-T1`,
   `BENCH-T2`, outside the measured worklists' beamlines) driven through their whole life
   cycle (SCHEDULED, READY, APPROVED or REFUSED and again, SENT, STORES, BEAMLINE,
   BACK_STORES, BACK_USER or DESTROYED) by 4 concurrent clients with the participant,
   safety, stores and local-contact tokens: steps/s through the API and p95 per step.

Every answer is checked against the plan (status code; worklist pages hold only their
section's statuses, soonest session first, of the beamline asked for, with the planned
total; a sample's current parcel and its status are the planned ones; every step answers
200 with the new status), so a broken endpoint cannot look fast.

No peer library exists for this workload (event-sourced sample tracking with this access
model and API), so no ratio is printed: the figures stand against their targets.

Usage: python benchmarks/tracking.py [--quick] [--reload] [--load-only] [--record]
       [--requests N] [--clients N] [--movers N] [--loaders N]

PostgreSQL: CATALOGUE_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
names the server.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
from harness import (
    BEAMLINES,
    EMBARGO,
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
    in_processes,
    json_object,
    load_lines,
    log,
    machine_lines,
    parse_time,
    percentile,
    print_failures,
    record_run,
    reporting,
    run_clients,
    run_loaders,
    scientists_of,
    server_url,
    service,
    settings_for,
    spread,
    unwind_on_sigterm,
    verdict,
    visitor,
    wall_time,
    warm_up,
)
from sqlalchemy import func, select

from catalogue import outbox
from catalogue.domain import samples as smp
from catalogue.domain import tracking as tr
from catalogue.domain.access import OPERATOR, Principal, PrincipalKind
from catalogue.domain.instruments import RegisterInstrument
from catalogue.domain.investigations import Role, default_visit_id, investigation_id_for
from catalogue.events import NO_STREAM, StreamAppend
from catalogue.portal import identity, instruments
from catalogue.portal import investigations as investigation_service
from catalogue.portal import tracking as tracking_service
from catalogue.portal.execution import Caller
from catalogue.revisions import upgrade
from catalogue.runner import register_checkpoints
from catalogue.schema import (
    group_members,
    instrument_scientists,
    investigations,
    parcels,
    participants,
    samples,
    shipments,
    users,
)
from catalogue.schema import instruments as instrument_rows
from catalogue.services import Services, build_services

SECTION = "## Sample tracking (issue 5)"
MARKER_KEY = "catalogue_bench_tracking"
SOURCE = "benchmarks/tracking.py"
CLI = Caller(OPERATOR, source="cli")
TARGET_WORKLIST_P95_MS = 20.0
YEAR_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
YEAR = timedelta(days=364)
#: The plan's "today": parcels have lived their life cycle up to here.
TODAY = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
PAGE = 50  # facility-wide worklist pages
BEAMLINE_PAGE = 10  # one beamline's worklist pages
TRACKING = "/api/v1/tracking"
BENCH_BEAMLINES = ("BENCH-T1", "BENCH-T2")
STORES_STAFF = ("stores1", "stores2", "stores3", "stores4")
SAFETY_STAFF = ("safety1", "safety2", "safety3")
SAMPLE_NAMES = {
    "MX": ("lysozyme", "thaumatin", "insulin", "proteinase_k"),
    "TOMO": ("bone", "concrete", "fossil", "battery"),
    "SAXS": ("bsa", "apoferritin", "lipid_vesicles", "micelles"),
    "XAS": ("cu_foil", "fe2o3", "pt_catalyst", "ni_oxide"),
}
STORAGE = {
    "MX": (tr.Storage.LIQUID_NITROGEN,),
    "TOMO": (tr.Storage.AMBIENT,),
    "SAXS": (tr.Storage.REFRIGERATED,),
    "XAS": (tr.Storage.INERT_ATMOSPHERE,),
}
HAZARDS = ("6.1", "8", "3", "9", "2.2", "6.2", "5.1")
DANGEROUS_SHARE = 0.15
REFUSED_SHARE = 0.25  # of the dangerous parcels
CANCELLED_SHARE = 0.05  # of the investigations with two parcels or more
LOST_SHARE = 0.004
NO_SHOW_SHARE = 0.02  # in the stores, never taken to the beamline
DESTROY_SHARE = 0.3
ST = tr.ParcelStatus
STORES_SECTIONS = {
    "expected": (ST.APPROVED, ST.SENT),
    "in_stores": (ST.STORES, ST.BEAMLINE),
    "to_return": (ST.BACK_STORES,),
}
SAFETY_STATUSES = (ST.READY,)


# -- scale ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """How big the year is, and how much is measured."""

    name: str
    database: str
    beamlines: int
    per_beamline: int  # investigations per beamline over the year
    parcels: int
    items: int
    visitors: int
    fresh: int  # parcels driven through their life cycle over HTTP
    requests: int  # timed requests per read endpoint
    warmup: int
    sampled: int  # samples the whereabouts requests rotate over

    @property
    def investigations(self) -> int:
        """How many investigations."""
        return self.beamlines * self.per_beamline


FULL = Scale(
    "full",
    "catalogue_bench_tracking",
    beamlines=40,
    per_beamline=200,
    parcels=20_000,
    items=400_000,
    visitors=1_600,
    fresh=320,
    requests=1_000,
    warmup=50,
    sampled=300,
)
QUICK = Scale(
    "quick",
    "catalogue_bench_tracking_quick",
    beamlines=10,
    per_beamline=40,
    parcels=1_000,
    items=20_000,
    visitors=100,
    fresh=80,
    requests=200,
    warmup=20,
    sampled=100,
)
SCALES = {scale.name: scale for scale in (FULL, QUICK)}


def address(name: str, email: str | None = None) -> tr.Address:
    """A postal address in a university."""
    return tr.Address(
        name=name,
        organisation="University of Somewhere",
        street=("1 Science Road", "Building 4"),
        postcode="12345",
        city="Somewhere",
        country="DE",
        email=email,
        phone="+49 30 1234 5678",
    )


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Op:
    """One write of a parcel's life: `create`, `items` or `move` (to `status`, by `actor`)."""

    kind: str
    time: datetime
    status: tr.ParcelStatus | None = None
    actor: tr.Actor | None = None
    events: int = 1  # events it appends to the parcel's stream


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """One item as declared."""

    name: str
    kind: tr.ItemKind
    container_type: tr.ContainerType | None
    parent: str | None
    sample: str | None  # the sample's name (registered if new)
    dangerous_goods: tuple[str, ...]
    storage: tuple[tr.Storage, ...]


@dataclass(slots=True)
class ParcelPlan:
    """One parcel: where it goes and what it lives through up to the plan's today."""

    investigation: int
    number: int  # within its investigation
    name: str
    shipment: str
    parcel_id: UUID
    after_experiment: tr.AfterExperiment
    dangerous: bool
    samples: list[str]  # sample names it holds
    item_count: int
    ops: list[Op] = field(default_factory=list)
    final: tr.ParcelStatus = ST.CREATED
    final_at: datetime | None = None

    @property
    def version(self) -> int:
        """The parcel stream's version once every op is done."""
        return sum(op.events for op in self.ops)


@dataclass(frozen=True, slots=True)
class InvestigationPlan(GeneratedInvestigation):
    """One investigation of the year."""

    participants: tuple[tuple[str, Role], ...]

    @property
    def principal_investigator(self) -> str:
        """Its principal investigator."""
        return self.participants[0][0]

    @property
    def local_contact(self) -> str:
        """Its local contact."""
        return next(u for u, role in self.participants if role is Role.LOCAL_CONTACT)


class TrackingPlan:
    """The whole generated year, computed (not stored) from the scale: deterministic."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.beamlines = BEAMLINES[: scale.beamlines]
        slot = YEAR / scale.per_beamline
        self.investigations: list[InvestigationPlan] = []
        for index in range(scale.investigations):
            k, b = divmod(index, scale.beamlines)
            beamline, family = self.beamlines[b]
            start = YEAR_START + slot * k + timedelta(hours=2 * (b % 5))
            end = start + slot * (0.5 + 0.1 * (index % 4))
            self.investigations.append(
                InvestigationPlan.named(
                    index,
                    beamline,
                    family,
                    start,
                    end,
                    participants=self._participants(index, beamline),
                )
            )
        self.parcel_counts = spread(scale.parcels, scale.investigations)
        item_counts = spread(scale.items, scale.parcels)
        self.parcels: list[ParcelPlan] = []
        self.by_investigation: dict[int, list[ParcelPlan]] = {}
        for plan in self.investigations:
            count = self.parcel_counts[plan.index]
            first = len(self.parcels)
            planned = self._parcels(plan, item_counts[first : first + count])
            self.parcels += planned
            self.by_investigation[plan.index] = planned

    def _participants(self, index: int, beamline: str) -> tuple[tuple[str, Role], ...]:
        pool = self.scale.visitors
        base = index * 37
        return (
            (visitor(base % pool + 1), Role.PRINCIPAL_INVESTIGATOR),
            (visitor((base + 1) % pool + 1), Role.CO_INVESTIGATOR),
            (scientists_of(beamline)[index % 2], Role.LOCAL_CONTACT),
        )

    def users(self) -> list[tuple[str, str]]:
        """(username, full name) of every account of the plan."""
        accounts = [(visitor(k), f"Visitor {k}") for k in range(1, self.scale.visitors + 1)]
        for beamline, _ in self.beamlines:
            for number, name in enumerate(scientists_of(beamline), 1):
                accounts.append((name, f"{beamline} scientist {number}"))
        accounts += [(name, f"Stores clerk {name[-1]}") for name in STORES_STAFF]
        accounts += [(name, f"Safety officer {name[-1]}") for name in SAFETY_STAFF]
        return accounts

    def _parcels(self, plan: InvestigationPlan, item_counts: list[int]) -> list[ParcelPlan]:
        rng = random.Random(plan.index * 7_919 + 3)
        count = len(item_counts)
        shipment_id = None
        planned: list[ParcelPlan] = []
        # A cancelled parcel 0 is replaced by parcel 1, which holds the same samples.
        cancelled = count >= 2 and rng.random() < CANCELLED_SHARE
        sample_number = 0
        for number, items in enumerate(item_counts):
            shipment = "Shipment 1" if number < 3 else "Shipment 2"
            shipment_id = tr.shipment_id_for(plan.investigation_id, shipment)
            name = f"{plan.proposal} parcel {number + 1}"
            containers = _container_count(plan.family, items)
            samples_here = max(1, items - containers)
            if cancelled and number == 0:
                first_sample = 0
            else:
                first_sample = sample_number
                sample_number = first_sample + samples_here
            base = SAMPLE_NAMES[plan.family]
            samples = [
                f"{base[(first_sample + k) % len(base)]}_{plan.index}_{first_sample + k:03d}"
                for k in range(samples_here)
            ]
            parcel = ParcelPlan(
                investigation=plan.index,
                number=number,
                name=name,
                shipment=shipment,
                parcel_id=tr.parcel_id_for(shipment_id, name),
                after_experiment=(
                    tr.AfterExperiment.DESTROY
                    if rng.random() < DESTROY_SHARE
                    else tr.AfterExperiment.RETURN
                ),
                dangerous=rng.random() < DANGEROUS_SHARE,
                samples=samples,
                item_count=containers + samples_here,
            )
            parcel.ops = _life(
                plan,
                parcel,
                rng,
                cancel=cancelled and number == 0,
                replaces=cancelled and number == 1,
            )
            status, at = ST.CREATED, parcel.ops[0].time
            for op in parcel.ops:
                if op.kind == "move":
                    assert op.status is not None
                    status, at = op.status, op.time
                    if status is ST.READY and not parcel.dangerous:
                        status = ST.APPROVED
            parcel.final, parcel.final_at = status, at
            planned.append(parcel)
        # The cancelled parcel's samples are the replacement's first ones.
        if cancelled:
            first, second = planned[:2]
            shared = min(len(first.samples), len(second.samples))
            containers = first.item_count - len(first.samples)
            first.samples = second.samples[:shared]
            first.item_count = containers + shared
            first.ops[1] = Op("items", first.ops[1].time, events=first.item_count)
        return planned

    def items(self, parcel: ParcelPlan) -> list[ItemPlan]:
        """A parcel's items, containers before what they hold."""
        plan = self.investigations[parcel.investigation]
        family = plan.family
        storage = STORAGE[family]
        rng = random.Random(hash_of(parcel.parcel_id))
        hazardous = (
            set(rng.sample(range(len(parcel.samples)), min(2, len(parcel.samples))))
            if parcel.dangerous
            else set()
        )
        items: list[ItemPlan] = []
        containers = parcel.item_count - len(parcel.samples)
        holders: list[str] = []
        if family == "MX":
            dewar = f"Dewar {parcel.number + 1}"
            items.append(
                ItemPlan(
                    dewar, tr.ItemKind.CONTAINER, tr.ContainerType.DEWAR, None, None, (), storage
                )
            )
            for p in range(containers - 1):
                puck = f"Puck {chr(65 + p // 26) if p >= 26 else ''}{chr(65 + p % 26)}"
                items.append(
                    ItemPlan(
                        puck, tr.ItemKind.CONTAINER, tr.ContainerType.PUCK, dewar, None, (), storage
                    )
                )
                holders.append(puck)
        elif containers:
            box = f"Box {parcel.number + 1}"
            items.append(
                ItemPlan(box, tr.ItemKind.CONTAINER, tr.ContainerType.BOX, None, None, (), storage)
            )
            holders.append(box)
        for k, sample in enumerate(parcel.samples):
            parent = holders[k * len(holders) // len(parcel.samples)] if holders else None
            goods = (HAZARDS[(k + parcel.investigation) % len(HAZARDS)],) if k in hazardous else ()
            items.append(ItemPlan(sample, tr.ItemKind.SAMPLE, None, parent, sample, goods, storage))
        return items

    @cached_property
    def sample_placements(self) -> dict[tuple[int, str], list[ParcelPlan]]:
        """The parcels each sample (investigation, name) is in."""
        found: dict[tuple[int, str], list[ParcelPlan]] = {}
        for parcel in self.parcels:
            for sample in parcel.samples:
                found.setdefault((parcel.investigation, sample), []).append(parcel)
        return found

    def current(self, investigation: int, sample: str) -> ParcelPlan:
        """The parcel "where is this sample" names now (the read model's order)."""
        return min(self.sample_placements[(investigation, sample)], key=placement_key)


#: The whereabouts' stages: in the facility's hands, being prepared, journey over, cancelled.
STAGE = {
    **dict.fromkeys((ST.SENT, ST.STORES, ST.BEAMLINE, ST.BACK_STORES, ST.LOST), 0),
    **dict.fromkeys((ST.CREATED, ST.SCHEDULED, ST.READY, ST.REFUSED, ST.APPROVED), 1),
    **dict.fromkeys((ST.BACK_USER, ST.DESTROYED), 2),
    ST.CANCELLED: 3,
}


def placement_key(parcel: ParcelPlan) -> tuple[int, float, str]:
    """The sample whereabouts' order: by stage, the latest step first, then id."""
    assert parcel.final_at is not None
    return (STAGE[parcel.final], -parcel.final_at.timestamp(), str(parcel.parcel_id))


def hash_of(value: UUID) -> int:
    """A stable seed from an id."""
    return value.int % (2**61 - 1)


def _container_count(family: str, items: int) -> int:
    if items < 3:
        return 0
    if family == "MX":
        return 1 + max(1, math.ceil((items - 1) / 17))  # a dewar and pucks of up to 16
    return 1  # a box


def _life(
    plan: InvestigationPlan, parcel: ParcelPlan, rng: random.Random, cancel: bool, replaces: bool
) -> list[Op]:
    """The parcel's writes up to the plan's today, at their planned times."""
    s, e = plan.start, plan.end
    day, hour = timedelta(days=1), timedelta(hours=1)
    P, S, T, L = tr.P, tr.S, tr.T, tr.L  # noqa: N806 - the domain's own short names
    created = s - (24 if replaces else 35) * day + rng.uniform(0, 5) * day
    if created > TODAY:
        # Later sessions' parcels are declared already, some days ago.
        created = TODAY - rng.uniform(1, 72) * hour
    items = parcel.item_count
    ops = [Op("create", created), Op("items", created, events=items)]
    ready = s - 16 * day + rng.uniform(0, 2) * day
    moves: list[tuple[datetime, tr.ParcelStatus, tr.Actor]] = [(created + hour, ST.SCHEDULED, P)]
    if cancel:
        moves.append((s - 25 * day, ST.CANCELLED, P))
    else:
        moves.append((ready, ST.READY, P))
        if parcel.dangerous:
            checked = ready + rng.uniform(0.5, 4) * day
            if rng.random() < REFUSED_SHARE:
                moves += [
                    (checked, ST.REFUSED, S),
                    (checked + 0.5 * day, ST.SCHEDULED, P),
                    (checked + day, ST.READY, P),
                    (checked + 1.5 * day, ST.APPROVED, S),
                ]
            else:
                moves.append((checked, ST.APPROVED, S))
        moves.append((s - 7 * day + rng.uniform(0, 2) * day, ST.SENT, P))
        roll = rng.random()
        arrived = s - 3 * day + rng.uniform(0, 2) * day
        if roll < LOST_SHARE:
            moves.append((arrived, ST.LOST, T))
        else:
            moves.append((arrived, ST.STORES, T))
            if roll < LOST_SHARE + NO_SHOW_SHARE:
                moves.append((e + 2 * hour, ST.BACK_STORES, T))
            else:
                moves += [(s + hour, ST.BEAMLINE, L), (e + 2 * hour, ST.BACK_STORES, L)]
            done = (
                ST.DESTROYED
                if parcel.after_experiment is tr.AfterExperiment.DESTROY
                else ST.BACK_USER
            )
            moves.append((e + rng.uniform(2, 12) * day, done, T))
    for at, status, actor in moves:
        if at > TODAY:
            break
        automatic = status is ST.READY and not parcel.dangerous
        ops.append(Op("move", at, status, actor, events=2 if automatic else 1))
    return ops


# -- the load ---------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadStats:
    """What one load session wrote, and how long it took."""

    investigations: int = 0  # investigations created this session
    shipments: int = 0
    parcels: int = 0
    items: int = 0
    steps: int = 0  # life-cycle steps
    calls: int = 0  # EventStore.append calls of the parcels' lives
    loaders: int = 0
    setup_seconds: float = 0.0
    seconds: float = 0.0
    vacuum_seconds: float = 0.0
    resumed: int = 0  # parcels complete when the session started

    def rate(self) -> str:
        """Rates over the session's wall time (setup excluded)."""
        seconds = max(self.seconds - self.setup_seconds, 1e-9)
        return (
            f"{self.parcels / seconds:,.1f} parcels/s, {self.items / seconds:,.0f} items/s, "
            f"{self.steps / seconds:,.1f} steps/s, {self.calls / seconds:,.1f} calls/s"
        )


def parcel_versions(services: Services) -> dict[UUID, int]:
    """The version of every parcel there is."""
    with services.engine.connect() as connection:
        return {
            r[0]: int(r[1]) for r in connection.execute(select(parcels.c.id, parcels.c.version))
        }


def loaded_fully(catalogue: TrackingPlan, versions: dict[UUID, int]) -> bool:
    """Whether every planned parcel has lived its whole planned life."""
    return all(versions.get(p.parcel_id) == p.version for p in catalogue.parcels)


def load(server: Server, scale: Scale, loaders: int, reload: bool) -> dict[str, Any]:
    """Load the year unless it is loaded already; the load record either way."""
    server.prepare(scale.database, reload)
    revision = code_revision()
    url = server.database_url(scale.database)
    catalogue = TrackingPlan(scale)
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as scratch:
        services = build_services(settings_for(url, Path(scratch)))
        try:
            upgrade(services.engine)
            stale = register_checkpoints(services.store, services.projections)
            if stale:
                raise SystemExit(
                    f"{scale.database}: projections {stale} need a rebuild; run with --reload"
                )
            record = server.loaded(scale.database)
            if record is not None and loaded_fully(catalogue, parcel_versions(services)):
                log(f"{scale.database} is loaded already; --reload to load it again")
                return record
        finally:
            services.close()
        stats = load_year(url, catalogue, loaders, Path(scratch))
        services = build_services(settings_for(url, Path(scratch)))
        try:
            deliver_mail(services)
            versions = parcel_versions(services)
            statuses = parcel_status_counts(services)
        finally:
            services.close()
    if not loaded_fully(catalogue, versions):
        wrong = [p.name for p in catalogue.parcels if versions.get(p.parcel_id) != p.version]
        raise SystemExit(f"load incomplete: {len(wrong)} parcels short (first: {wrong[:5]})")
    stats.vacuum_seconds = server.vacuum_analyze(scale.database)
    totals = {
        "investigations": scale.investigations,
        "beamlines": scale.beamlines,
        "parcels": len(catalogue.parcels),
        "items": sum(p.item_count for p in catalogue.parcels),
        "statuses": statuses,
    }
    return server.mark_loaded(scale.database, scale.name, revision, totals, asdict(stats))


def deliver_mail(services: Services) -> int:
    """Send the notifications the steps queued (into a scratch mail directory) with the
    service's own sender, until none is due: a live service would have sent a year's mail
    long ago, and a backlog would keep the measured service's senders busy. How many."""
    mailer, sent, started = services.mailer(), 0, time.perf_counter()
    while True:
        report = outbox.deliver_due(
            services.engine,
            mailer,
            services.settings.mail_from,
            policy=services.retry_policy,
            limit=1000,
        )
        sent += report.sent
        if report.sent + report.retrying + report.failed == 0:
            break
    if sent:
        log(f"delivered {sent:,} queued notifications in {time.perf_counter() - started:,.0f} s")
    return sent


def parcel_status_counts(services: Services) -> dict[str, int]:
    """Parcels per status (the planned ones: not on the benchmark's own beamlines)."""
    query = (
        select(parcels.c.status, func.count())
        .where(parcels.c.instrument.is_(None) | parcels.c.instrument.not_in(BENCH_BEAMLINES))
        .group_by(parcels.c.status)
        .order_by(parcels.c.status)
    )
    with services.engine.connect() as connection:
        return {str(r[0]): int(r[1]) for r in connection.execute(query)}


def set_up(services: Services, catalogue: TrackingPlan) -> None:
    """Accounts, groups, beamlines with their scientists: what is missing."""
    store, engine = services.store, services.engine
    with engine.connect() as connection:
        known_users = set(connection.execute(select(users.c.username)).scalars())
        known_scientists = {
            (row.instrument, row.username)
            for row in connection.execute(select(instrument_scientists))
        }
        known_instruments = set(connection.execute(select(instrument_rows.c.name)).scalars())
        known_members = {
            (row.group_name, row.username) for row in connection.execute(select(group_members))
        }
    added = 0
    for username, full_name in catalogue.users():
        if username not in known_users:
            identity.add_user(
                store, CLI, username, full_name, f"{username}@example.org", admin=False
            )
            added += 1
    for group, members, description in (
        (tr.SAFETY_GROUP, SAFETY_STAFF, "The safety group: approves dangerous goods"),
        (tr.STORES_GROUP, STORES_STAFF, "The stores: receive, keep and return parcels"),
    ):
        identity.ensure_group(store, CLI, group, description)
        for username in members:
            if (group, username) not in known_members:
                identity.add_member(store, CLI, group, username)
    for name, family in (*catalogue.beamlines, *((b, "") for b in BENCH_BEAMLINES)):
        if name not in known_instruments:
            full_name = f"{name} {TECHNIQUE[family]} beamline" if family else f"{name} (benchmark)"
            instruments.run_instrument_command(
                store, CLI, name, RegisterInstrument(name, full_name, "Generated by " + SOURCE)
            )
        for username in scientists_of(name):
            if family == "" and username not in known_users:
                identity.add_user(
                    store,
                    CLI,
                    username,
                    f"{name} scientist",
                    f"{username}@example.org",
                    admin=False,
                )
                known_users.add(username)
            if (name, username) not in known_scientists:
                instruments.add_scientist(store, CLI, name, username)
    if added:
        log(f"added {added} users, the safety and stores groups, beamlines with scientists")


def load_year(url: str, catalogue: TrackingPlan, loaders: int, scratch: Path) -> LoadStats:
    """Set up what is missing, then let `loaders` processes bring every investigation's
    parcels to their planned state."""
    stats = LoadStats(loaders=loaders)
    started = time.perf_counter()
    services = build_services(settings_for(url, scratch))
    try:
        set_up(services, catalogue)
        versions = parcel_versions(services)
    finally:
        services.close()  # before forking: the loaders open their own connections
    stats.setup_seconds = time.perf_counter() - started
    todo = [
        plan.index
        for plan in catalogue.investigations
        if not all(
            versions.get(p.parcel_id) == p.version for p in catalogue.by_investigation[plan.index]
        )
        or not catalogue.by_investigation[plan.index]
    ]
    stats.resumed = sum(1 for p in catalogue.parcels if versions.get(p.parcel_id) == p.version)
    if stats.resumed:
        log(f"resuming: {stats.resumed:,} parcels complete, {len(todo):,} investigations to do")
    progress = Progress(len(catalogue.parcels), stats.resumed, "parcels")

    def count(message: tuple[Any, ...]) -> None:
        _, _, created, new_shipments, new_parcels, items, steps, calls, finished = message
        stats.investigations += created
        stats.shipments += new_shipments
        stats.parcels += new_parcels
        stats.items += items
        stats.steps += steps
        stats.calls += calls
        progress.advance(finished, f"{stats.steps:,} steps, {stats.items:,} items")

    work = [(url, catalogue.scale.name, str(scratch), todo[w::loaders]) for w in range(loaders)]
    try:
        run_loaders(load_worker, work, count)
    finally:
        progress.close()
        stats.seconds = time.perf_counter() - started
        log(
            f"loaded {stats.investigations:,} investigations, {stats.shipments:,} shipments, "
            f"{stats.parcels:,} parcels, {stats.items:,} items, {stats.steps:,} steps from "
            f"{loaders} processes in {stats.seconds - stats.setup_seconds:,.0f} s (setup "
            f"{stats.setup_seconds:,.0f} s): {stats.rate()}"
        )
    return stats


BATCH = 20  # investigations whose parcels a loader appends together


def load_worker(
    url: str,
    scale_name: str,
    scratch: str,
    todo: list[int],
    number: int,
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """One loader process: the investigations `todo`, their shipments and parcels, `BATCH`
    investigations at a time."""
    with reporting(messages, number):
        catalogue = TrackingPlan(SCALES[scale_name])
        services = build_services(settings_for(url, Path(scratch)))
        try:
            with services.engine.connect() as connection:
                known = Known(
                    set(connection.execute(select(investigations.c.id)).scalars()),
                    {
                        (row.investigation_id, row.username): row.role
                        for row in connection.execute(select(participants))
                    },
                    set(connection.execute(select(shipments.c.id)).scalars()),
                    set(connection.execute(select(samples.c.id)).scalars()),
                    parcel_versions(services),
                )
            for start in range(0, len(todo), BATCH):
                plans = [catalogue.investigations[i] for i in todo[start : start + BATCH]]
                finished = sum(
                    1
                    for plan in plans
                    for parcel in catalogue.by_investigation[plan.index]
                    if known.versions.get(parcel.parcel_id, 0) != parcel.version
                )
                counts = load_batch(services, catalogue, plans, known)
                messages.put(("investigation", number, *counts, finished))
        finally:
            services.close()


@dataclass(frozen=True, slots=True)
class Known:
    """What the database holds already (a resumed load skips it)."""

    investigations: set[UUID]
    participants: dict[tuple[UUID, str], str]
    shipments: set[UUID]
    samples: set[UUID]
    versions: dict[UUID, int]


def principals_of(plan: InvestigationPlan) -> dict[tr.Actor, Principal]:
    """Who plays each part for an investigation's parcels (as their credentials resolve)."""
    return {
        tr.Actor.PARTICIPANT: Principal(PrincipalKind.USER, username=plan.principal_investigator),
        tr.Actor.SAFETY: Principal(
            PrincipalKind.USER,
            username=SAFETY_STAFF[plan.index % len(SAFETY_STAFF)],
            groups=frozenset({tr.SAFETY_GROUP}),
        ),
        tr.Actor.STORES: Principal(
            PrincipalKind.USER,
            username=STORES_STAFF[plan.index % len(STORES_STAFF)],
            groups=frozenset({tr.STORES_GROUP}),
        ),
        tr.Actor.LOCAL_CONTACT: Principal(
            PrincipalKind.USER,
            username=plan.local_contact,
            scientist_of=frozenset({plan.beamline}),
        ),
    }


def set_up_investigation(services: Services, plan: InvestigationPlan, known: Known) -> int:
    """The investigation and its participants through the portal services (1 if created)."""
    store = services.store
    created = 0
    if plan.investigation_id not in known.investigations:
        investigation_service.create_investigation(
            store,
            CLI,
            EMBARGO,
            proposal=plan.proposal,
            instrument=plan.beamline,
            title=f"{TECHNIQUE[plan.family]} study {plan.index} on {plan.beamline}",
            start=plan.start,
            end=plan.end,
            visit_id=plan.visit_id,
            summary="Generated by " + SOURCE,
        )
        created = 1
    for username, role in plan.participants:
        if known.participants.get((plan.investigation_id, username)) != role.value:
            investigation_service.add_participant(store, CLI, plan.investigation_id, username, role)
    return created


def load_batch(
    services: Services, catalogue: TrackingPlan, plans: list[InvestigationPlan], known: Known
) -> tuple[int, int, int, int, int, int]:
    """Bring some investigations to their planned state: (investigations created, shipments,
    parcels, items, steps, appends).

    Investigations, participants and shipments go through the portal services. Each parcel's
    life (created, items declared with their new samples, every step) is decided by the
    domain's decider on its state, with the part the step's actor plays and the step's
    planned time, exactly as `catalogue.portal.tracking` decides it; the events are appended
    with `EventStore.append` (inline projections, the mail notifications' outbox), each step
    under its actor's metadata. To keep a year's load within the budget, the parcels of a
    batch are appended together: round r appends the r-th run of same-actor steps of every
    parcel, one multi-stream append per actor.
    """
    store = services.store
    created = new_shipments = new_parcels = items = steps = appends = 0
    # (parcel stream, expected version, [(actor principal, events, sample appends)])
    work: list[tuple[str, int, list[tuple[Principal, list[Any], list[StreamAppend]]]]] = []
    for plan in plans:
        created += set_up_investigation(services, plan, known)
        principals = principals_of(plan)
        planned = catalogue.by_investigation[plan.index]
        for shipment in dict.fromkeys(p.shipment for p in planned):
            shipment_id = tr.shipment_id_for(plan.investigation_id, shipment)
            if shipment_id in known.shipments:
                continue
            first = min(p.ops[0].time for p in planned if p.shipment == shipment)
            pi = plan.principal_investigator
            caller = Caller(principals[tr.Actor.PARTICIPANT], source=SOURCE, now=first)
            tracking_service.create_shipment(
                store,
                caller,
                plan.investigation_id,
                tr.CreateShipment(
                    investigation_id=plan.investigation_id,
                    proposal=plan.proposal,
                    name=shipment,
                    sender=address(f"Dr {pi}", f"{pi}@example.org"),
                    return_address=address(f"Dr {pi}"),
                    courier_company="World Courier",
                    courier_account=f"WC-{plan.index:05d}",
                ),
            )
            known.shipments.add(shipment_id)
            new_shipments += 1
        for parcel in planned:
            done = known.versions.get(parcel.parcel_id, 0)
            if done >= parcel.version:
                continue
            state, version = (
                load_parcel(store, parcel.parcel_id) if done else (tr.PARCEL.initial, 0)
            )
            segments: list[tuple[Principal, list[Any], list[StreamAppend]]] = []
            counted = 0
            for op in parcel.ops:
                counted += op.events
                if counted <= version:
                    continue
                actor = op.actor or tr.Actor.PARTICIPANT
                events, samples_new = decide_op(catalogue, plan, parcel, op, state, known)
                for event in events:
                    state = tr.evolve_parcel(state, event)
                principal = principals[actor]
                if segments and segments[-1][0] == principal:
                    segments[-1][1].extend(events)
                    segments[-1][2].extend(samples_new)
                else:
                    segments.append((principal, list(events), samples_new))
                if op.kind == "create":
                    new_parcels += 1
                elif op.kind == "items":
                    items += len(events)
                else:
                    steps += 1
            work.append((tr.PARCEL.stream(parcel.parcel_id), version, segments))
    versions = {stream: version for stream, version, _ in work}
    rounds = max((len(segments) for _, _, segments in work), default=0)
    for r in range(rounds):
        by_actor: dict[Principal, list[StreamAppend]] = {}
        for stream, _, segments in work:
            if r >= len(segments):
                continue
            principal, events, samples_new = segments[r]
            expected = versions[stream] or NO_STREAM
            by_actor.setdefault(principal, []).extend(
                [*samples_new, StreamAppend(stream, events, expected)]
            )
            versions[stream] += len(events)
        for principal, batch in by_actor.items():
            store.append(batch, Caller(principal, source=SOURCE).metadata())
            appends += 1
    return created, new_shipments, new_parcels, items, steps, appends


def load_parcel(store: Any, parcel_id: UUID) -> tuple[tr.Parcel, int]:
    """A parcel's state and version from its stream."""
    state, version = tr.PARCEL.initial, 0
    for recorded in store.read_stream(tr.PARCEL.stream(parcel_id)):
        state = tr.evolve_parcel(state, recorded.payload)
        version = recorded.version
    return state, version


def decide_op(
    catalogue: TrackingPlan,
    plan: InvestigationPlan,
    parcel: ParcelPlan,
    op: Op,
    state: tr.Parcel,
    known: Known,
) -> tuple[list[Any], list[StreamAppend]]:
    """The events of one planned op, decided on the parcel's state (and the sample streams
    an items declaration registers)."""
    if op.kind == "create":
        command: tr.ParcelCommand = tr.CreateParcel(
            shipment_id=tr.shipment_id_for(plan.investigation_id, parcel.shipment),
            investigation_id=plan.investigation_id,
            proposal=plan.proposal,
            name=parcel.name,
            now=op.time,
            after_experiment=parcel.after_experiment,
            comment="",
            has_return_address=True,
        )
        return tr.decide_parcel(state, command), []
    if op.kind == "items":
        events: list[Any] = []
        new_samples: list[StreamAppend] = []
        for item in catalogue.items(parcel):
            spec = tr.ItemSpec(
                name=item.name,
                kind=item.kind,
                container_type=item.container_type,
                parent_id=None
                if item.parent is None
                else tr.item_id_for(parcel.parcel_id, item.parent),
                dangerous_goods=item.dangerous_goods,
                storage=item.storage,
            )
            if item.sample is not None:
                sample_id = smp.sample_id_for(plan.investigation_id, item.sample)
                spec = spec.model_copy(update={"sample_id": sample_id})
                if sample_id not in known.samples:
                    register = smp.RegisterSample(
                        investigation_id=plan.investigation_id, name=item.sample
                    )
                    new_samples.append(
                        StreamAppend(
                            smp.sample_stream(sample_id),
                            smp.decide_sample(smp.Sample(), register),
                            NO_STREAM,
                        )
                    )
                    known.samples.add(sample_id)
            added = tr.decide_parcel(state, tr.AddItem(spec, plan.investigation_id))
            for event in added:
                state = tr.evolve_parcel(state, event)
            events += added
        return events, new_samples
    assert op.status is not None
    assert op.actor is not None
    step = step_for(plan, parcel, op.status)
    session = None
    if step.session_id is not None:
        session = tr.Session(
            plan.investigation_id, plan.proposal, plan.beamline, plan.start, plan.end
        )
    move = tr.MoveParcel(
        to=op.status,
        roles=frozenset({op.actor}),
        now=op.time,
        location=step.location,
        comment=step.comment,
        session=session,
        tracking_number=step.tracking_number,
    )
    return tr.decide_parcel(state, move), []


def item_input(item: ItemPlan) -> tracking_service.ItemInput:
    """A planned item as the tracking service takes it."""
    return tracking_service.ItemInput(
        tr.ItemSpec(
            name=item.name,
            kind=item.kind,
            container_type=item.container_type,
            dangerous_goods=item.dangerous_goods,
            storage=item.storage,
        ),
        parent=item.parent,
        sample=None if item.sample is None else tracking_service.NewSample(item.sample),
    )


def step_for(
    plan: InvestigationPlan, parcel: ParcelPlan, status: tr.ParcelStatus
) -> tracking_service.Step:
    """The step to `status`, with what that step needs."""
    match status:
        case ST.SCHEDULED:
            return tracking_service.Step(status, session_id=plan.investigation_id)
        case ST.REFUSED:
            return tracking_service.Step(status, comment="Safety data sheet missing for item 1")
        case ST.SENT:
            return tracking_service.Step(
                status, tracking_number=f"1Z{parcel.parcel_id.hex[:16].upper()}"
            )
        case ST.BACK_USER:
            return tracking_service.Step(
                status, tracking_number=f"1R{parcel.parcel_id.hex[:16].upper()}"
            )
        case ST.STORES:
            return tracking_service.Step(
                status,
                location=f"Stores, shelf {parcel.parcel_id.hex[0].upper()}{parcel.number + 1}",
            )
    return tracking_service.Step(status)


# -- the service: tokens and the fresh parcels --------------------------------------------------


@dataclass(frozen=True, slots=True)
class FreshParcel:
    """A parcel the transition clients drive through its life cycle over HTTP."""

    parcel_id: UUID
    session_id: UUID
    participant: str  # its principal investigator
    local_contact: str
    steps: tuple[tuple[str, str, dict[str, Any], str], ...]  # (group, actor, body, status)


def fresh_steps(
    k: int, parcel_id: UUID, session_id: UUID, dangerous: bool, destroy: bool
) -> tuple[tuple[str, str, dict[str, Any], str], ...]:
    """The steps of a fresh parcel: (group, actor, request body, status answered)."""
    session = {"status": "SCHEDULED", "session_id": str(session_id)}
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("SCHEDULED", "participant", session, "SCHEDULED")
    ]
    if not dangerous:
        steps.append(("READY (auto-approved)", "participant", {"status": "READY"}, "APPROVED"))
    else:
        steps.append(("READY", "participant", {"status": "READY"}, "READY"))
        if k % 10 == 0:
            refusal = {"status": "REFUSED", "comment": "UN number missing on item 2"}
            steps += [
                ("REFUSED", "safety", refusal, "REFUSED"),
                ("SCHEDULED", "participant", session, "SCHEDULED"),
                ("READY", "participant", {"status": "READY"}, "READY"),
            ]
        steps.append(("APPROVED", "safety", {"status": "APPROVED"}, "APPROVED"))
    number = f"1Z{parcel_id.hex[:16].upper()}"
    steps += [
        ("SENT", "participant", {"status": "SENT", "tracking_number": number}, "SENT"),
        ("STORES", "stores", {"status": "STORES", "location": "Stores, shelf B4"}, "STORES"),
        ("BEAMLINE", "local_contact", {"status": "BEAMLINE"}, "BEAMLINE"),
        ("BACK_STORES", "local_contact", {"status": "BACK_STORES"}, "BACK_STORES"),
    ]
    if destroy:
        steps.append(("DESTROYED", "stores", {"status": "DESTROYED"}, "DESTROYED"))
    else:
        back = {"status": "BACK_USER", "tracking_number": f"1R{parcel_id.hex[:16].upper()}"}
        steps.append(("BACK_USER", "stores", back, "BACK_USER"))
    return tuple(steps)


def bench_pi(k: int) -> str:
    """The principal investigator of fresh investigation k."""
    return f"bench-pi-{k:02d}"


def prepare_fresh(services: Services, count: int) -> list[FreshParcel]:
    """Investigations of this run on the benchmark's beamlines (sessions in a few days), each
    with a shipment of 10 parcels of 8 items declared in-process: ready to be driven."""
    store = services.store
    now = datetime.now(UTC)
    run = _base36(int(now.timestamp()))
    with services.engine.connect() as connection:
        known_users = set(connection.execute(select(users.c.username)).scalars())
    per_investigation = 10
    fresh: list[FreshParcel] = []
    for k in range(math.ceil(count / per_investigation)):
        pi = bench_pi(k)
        if pi not in known_users:
            identity.add_user(store, CLI, pi, f"Bench PI {k}", f"{pi}@example.org", admin=False)
        beamline = BENCH_BEAMLINES[k % len(BENCH_BEAMLINES)]
        local_contact = scientists_of(beamline)[0]
        start = now + timedelta(days=2)
        proposal = f"BT-{run}-{k}"
        visit_id = default_visit_id(beamline, start)
        investigation_id = investigation_service.create_investigation(
            store,
            CLI,
            EMBARGO,
            proposal=proposal,
            instrument=beamline,
            title=f"Tracking benchmark run {run}, {k}",
            start=start,
            end=start + timedelta(days=3),
            visit_id=visit_id,
            summary="Parcels driven over HTTP by " + SOURCE,
        )
        assert investigation_id == investigation_id_for(proposal, visit_id)
        for username, role in (
            (pi, Role.PRINCIPAL_INVESTIGATOR),
            (local_contact, Role.LOCAL_CONTACT),
        ):
            investigation_service.add_participant(store, CLI, investigation_id, username, role)
        caller = Caller(Principal(PrincipalKind.USER, username=pi), source=SOURCE)
        shipment_id = tracking_service.create_shipment(
            store,
            caller,
            investigation_id,
            tr.CreateShipment(
                investigation_id=investigation_id,
                proposal=proposal,
                name="Shipment 1",
                sender=address(f"Dr {pi}", f"{pi}@example.org"),
                return_address=address(f"Dr {pi}"),
                courier_company="World Courier",
            ),
        )
        for p in range(min(per_investigation, count - len(fresh))):
            number = len(fresh)
            dangerous, destroy = number % 10 < 3, number % 3 == 0
            after = tr.AfterExperiment.DESTROY if destroy else tr.AfterExperiment.RETURN
            name = f"Parcel {p + 1}"
            parcel_id = tracking_service.create_parcel(store, caller, shipment_id, name, after, "")
            items = [
                tracking_service.ItemInput(
                    tr.ItemSpec(
                        name="Puck A",
                        kind=tr.ItemKind.CONTAINER,
                        container_type=tr.ContainerType.PUCK,
                    )
                )
            ]
            for s in range(7):
                sample = f"crystal_{p}_{s}"
                items.append(
                    tracking_service.ItemInput(
                        tr.ItemSpec(
                            name=sample,
                            kind=tr.ItemKind.SAMPLE,
                            dangerous_goods=("6.1",) if dangerous and s == 0 else (),
                            storage=(tr.Storage.LIQUID_NITROGEN,),
                        ),
                        parent="Puck A",
                        sample=tracking_service.NewSample(sample),
                    )
                )
            tracking_service.add_items(store, caller, parcel_id, items, None)
            fresh.append(
                FreshParcel(
                    parcel_id,
                    investigation_id,
                    pi,
                    local_contact,
                    fresh_steps(number, parcel_id, investigation_id, dangerous, destroy),
                )
            )
    return fresh


def _base36(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while value:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out or "0"


# -- read requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorklistExpect:
    """How a good worklist page looks."""

    statuses: frozenset[str]
    instrument: str | None
    total: int
    items: int
    after: tuple[datetime, str] | None = None  # the previous page's last key

    def check(self, response: httpx.Response) -> str | None:
        """Why the page is wrong, or None."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        items = body.get("items")
        if not isinstance(items, list):
            return f"not a page: {str(body)[:200]}"
        if body.get("total") != min(self.total, 10_000):
            return f"total {body.get('total')}, expected {self.total}"
        if len(items) != self.items:
            return f"{len(items)} items, expected {self.items}"
        keys = []
        for item in items:
            if item["status"] not in self.statuses:
                return f"parcel {item['id']} is {item['status']}, not {sorted(self.statuses)}"
            if self.instrument is not None and item["instrument"] != self.instrument:
                return f"parcel {item['id']} is for {item['instrument']}, not {self.instrument}"
            keys.append((parse_time(item["session_start"]), item["id"]))
        if keys != sorted(keys):
            return "not soonest session first"
        if self.after is not None and keys and keys[0] <= self.after:
            return "the cursor page does not start after the previous page"
        return None


@dataclass(frozen=True, slots=True)
class WhereExpect:
    """How a good "where is this sample" answer looks."""

    sample_id: str
    parcel_id: str
    status: str
    parcels: int

    def check(self, response: httpx.Response) -> str | None:
        """Why the answer is wrong, or None."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        current = body.get("current") or {}
        if body.get("sample_id") != self.sample_id:
            return f"sample {body.get('sample_id')}, expected {self.sample_id}"
        if current.get("parcel_id") != self.parcel_id or current.get("status") != self.status:
            return (
                f"current parcel {current.get('parcel_id')} {current.get('status')}, expected "
                f"{self.parcel_id} {self.status}"
            )
        if len(body.get("parcels") or ()) != self.parcels:
            return f"{len(body.get('parcels') or ())} parcels, expected {self.parcels}"
        return None


@dataclass(frozen=True, slots=True)
class SamplesExpect:
    """How a good page of an investigation's samples looks."""

    total: int
    current: dict[str, str]  # sample id -> its current parcel's id

    def check(self, response: httpx.Response) -> str | None:
        """Why the page is wrong, or None."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        items = body.get("items") or []
        if body.get("total") != self.total or len(items) != min(PAGE, self.total):
            return f"total {body.get('total')} with {len(items)} items, expected {self.total}"
        for item in items:
            expected = self.current.get(item["sample_id"])
            if expected is None or (item.get("current") or {}).get("parcel_id") != expected:
                return (
                    f"sample {item['sample_id']} is in {item.get('current')}, expected {expected}"
                )
        return None


@dataclass(frozen=True, slots=True)
class ParcelExpect:
    """How a good parcel answer looks."""

    parcel_id: str
    status: str
    items: int

    def check(self, response: httpx.Response) -> str | None:
        """Why the answer is wrong, or None."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        if body.get("id") != self.parcel_id or body.get("status") != self.status:
            return f"parcel {body.get('id')} {body.get('status')}, expected {self.status}"
        if body.get("item_count") != self.items or len(body.get("items") or ()) != self.items:
            return f"{body.get('item_count')} items, expected {self.items}"
        return None


def planned_totals(catalogue: TrackingPlan) -> Counter[tuple[str, str]]:
    """Planned parcels per (status, beamline) at the end of the load."""
    totals: Counter[tuple[str, str]] = Counter()
    for parcel in catalogue.parcels:
        totals[(parcel.final.value, catalogue.investigations[parcel.investigation].beamline)] += 1
    return totals


def extra_totals(services: Services) -> Counter[str]:
    """Parcels per status on the benchmark's own beamlines (earlier runs' fresh parcels)."""
    query = (
        select(parcels.c.status, func.count())
        .where(parcels.c.instrument.in_(BENCH_BEAMLINES))
        .group_by(parcels.c.status)
    )
    with services.engine.connect() as connection:
        return Counter({str(r[0]): int(r[1]) for r in connection.execute(query)})


def worklist_probes(
    client: httpx.Client,
    path: str,
    params: dict[str, str],
    token: str,
    statuses: tuple[tr.ParcelStatus, ...],
    instrument: str | None,
    total: int,
    limit: int,
    depth: int,
    group: str,
) -> list[Probe]:
    """The first page, and the page `depth` deep through the cursor if there is one."""
    names = frozenset(s.value for s in statuses)
    query = {**params, "limit": str(limit)} | ({"instrument": instrument} if instrument else {})
    first = f"{path}?{urlencode(query)}"
    probes = [
        Probe(
            first,
            token,
            WorklistExpect(names, instrument, total, min(limit, total)).check,
            f"{group} first",
        )
    ]
    cursor, after, page = None, None, 1
    headers = {"Authorization": f"Bearer {token}"}
    while page < depth:
        url = first if cursor is None else f"{first}&{urlencode({'cursor': cursor})}"
        body = client.get(url, headers=headers).json()
        if not body.get("next_cursor"):
            break
        cursor, page = body["next_cursor"], page + 1
        last = body["items"][-1]
        after = (parse_time(last["session_start"]), last["id"])
    if cursor is not None:
        remaining = total - (page - 1) * limit
        probes.append(
            Probe(
                f"{first}&{urlencode({'cursor': cursor})}",
                token,
                WorklistExpect(names, instrument, total, min(limit, remaining), after).check,
                f"{group} page {page}",
            )
        )
    return probes


def read_endpoints(
    client: httpx.Client,
    catalogue: TrackingPlan,
    tokens: dict[str, str],
    extra: Counter[str],
) -> list[Endpoint]:
    """The read request kinds (seeded choices)."""
    rng = random.Random(5)
    totals = planned_totals(catalogue)
    beamlines = [b for b, _ in catalogue.beamlines]
    chosen = rng.sample(beamlines, min(10, len(beamlines)))

    def total(statuses: tuple[tr.ParcelStatus, ...], instrument: str | None) -> int:
        if instrument is not None:
            return sum(totals[(s.value, instrument)] for s in statuses)
        return sum(totals[(s.value, b)] + 0 for s in statuses for b in beamlines) + sum(
            extra[s.value] for s in statuses
        )

    endpoints = []
    worklists = [
        (
            f"stores-{section}",
            f"stores worklist, {section}",
            f"{TRACKING}/worklists/stores",
            {"section": section},
            statuses,
            tokens["stores1"],
        )
        for section, statuses in STORES_SECTIONS.items()
    ]
    worklists.append(
        (
            "safety",
            "safety worklist",
            f"{TRACKING}/worklists/safety",
            {},
            SAFETY_STATUSES,
            tokens["safety1"],
        )
    )
    for key, label, path, params, statuses, token in worklists:
        facility = worklist_probes(
            client, path, params, token, statuses, None, total(statuses, None), PAGE, 3, "all"
        )
        beamline = []
        for name in chosen:
            beamline += worklist_probes(
                client,
                path,
                params,
                token,
                statuses,
                name,
                total(statuses, name),
                BEAMLINE_PAGE,
                2,
                "beamline",
            )
        # As many facility-wide requests as one-beamline ones.
        probes = facility * max(1, len(beamline) // max(1, len(facility))) + beamline
        rng.shuffle(probes)
        endpoints.append(Endpoint(key, label, tuple(probes), TARGET_WORKLIST_P95_MS))

    # Where is this sample: random samples of parcels that exist, as their PI and the stores.
    as_owner, as_stores, samples_pages, parcel_pages = [], [], [], []
    for parcel in sampled_parcels(catalogue):
        plan = catalogue.investigations[parcel.investigation]
        sample = rng.choice(parcel.samples)
        current = catalogue.current(plan.index, sample)
        sample_id = smp.sample_id_for(plan.investigation_id, sample)
        expect = WhereExpect(
            str(sample_id),
            str(current.parcel_id),
            current.final.value,
            len(catalogue.sample_placements[(plan.index, sample)]),
        )
        path = f"{TRACKING}/samples/{sample_id}"
        as_owner.append(Probe(path, tokens[plan.principal_investigator], expect.check, "owner"))
        as_stores.append(Probe(path, tokens["stores1"], expect.check, "stores"))
        names = {s for p in catalogue.by_investigation[plan.index] for s in p.samples}
        current_of = {
            str(smp.sample_id_for(plan.investigation_id, s)): str(
                catalogue.current(plan.index, s).parcel_id
            )
            for s in names
        }
        samples_pages.append(
            Probe(
                f"{TRACKING}/samples?"
                + urlencode({"investigation_id": str(plan.investigation_id), "limit": PAGE}),
                tokens[plan.principal_investigator],
                SamplesExpect(len(names), current_of).check,
                "owner",
            )
        )
        parcel_pages.append(
            Probe(
                f"{TRACKING}/parcels/{parcel.parcel_id}",
                tokens[plan.principal_investigator],
                ParcelExpect(str(parcel.parcel_id), parcel.final.value, parcel.item_count).check,
                "owner",
            )
        )
    endpoints += [
        Endpoint("where-owner", "where is this sample, as its PI", tuple(as_owner), None),
        Endpoint("where-stores", "where is this sample, as stores staff", tuple(as_stores), None),
        Endpoint(
            "samples",
            f"an investigation's samples and where they are ({PAGE})",
            tuple(samples_pages),
            None,
        ),
        Endpoint("parcel", "one parcel with items and steps, as its PI", tuple(parcel_pages), None),
    ]
    return endpoints


def sampled_parcels(catalogue: TrackingPlan) -> list[ParcelPlan]:
    """The parcels whose samples, investigation and self the information reads ask about."""
    return random.Random(6).sample(catalogue.parcels, catalogue.scale.sampled)


def needed_users(catalogue: TrackingPlan) -> set[str]:
    """Everyone the read requests act as."""
    owners = {
        catalogue.investigations[p.investigation].principal_investigator
        for p in sampled_parcels(catalogue)
    }
    return owners | {"stores1", "safety1"}


# -- transitions ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Transitions:
    """The timed steps."""

    parcels: int
    clients: int
    steps: list[tuple[str, float]] = field(default_factory=list)  # (group, seconds)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Steps answered correctly per second over the wall time."""
        return len(self.steps) / max(self.seconds, 1e-9)

    def p(self, q: int, group: str | None = None) -> float:
        """A percentile in ms (of one step, if given)."""
        return percentile([s for g, s in self.steps if group is None or g == group], q)


def mover_process(
    base_url: str,
    jobs: list[FreshParcel],
    tokens: dict[str, str],
    start_at: float,
    results: multiprocessing.Queue[tuple[list[tuple[str, float]], list[str], float, float]],
) -> None:
    """One client: drive its parcels one after the other through their life cycle."""
    steps: list[tuple[str, float]] = []
    failures: list[str] = []
    first = last = float("nan")
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            client.get("/health")
            time.sleep(max(0.0, start_at - time.time()))
            first = time.perf_counter()
            for job in jobs:
                actors = {
                    "participant": tokens[job.participant],
                    "local_contact": tokens[job.local_contact],
                    "stores": tokens["stores2"],
                    "safety": tokens["safety2"],
                }
                path = f"{TRACKING}/parcels/{job.parcel_id}/steps"
                for group, actor, body, status in job.steps:
                    t0 = time.perf_counter()
                    response = client.post(
                        path, json=body, headers={"Authorization": f"Bearer {actors[actor]}"}
                    )
                    elapsed = time.perf_counter() - t0
                    answer = json_object(response)
                    if isinstance(answer, str):
                        failures.append(f"POST {path} {body}: {answer}")
                        break
                    if answer.get("status") != status:
                        failures.append(
                            f"POST {path} {body}: status {answer.get('status')}, expected {status}"
                        )
                        break
                    steps.append((group, elapsed))
            last = time.perf_counter()
    except Exception as error:
        failures.append(f"the client failed: {type(error).__name__}: {error}")
    results.put((steps, failures, first, last))


def measure_transitions(
    base_url: str, fresh: list[FreshParcel], tokens: dict[str, str], clients: int
) -> Transitions:
    """The fresh parcels' life cycles from `clients` processes at once."""
    start_at = time.time() + 0.5 + 0.1 * clients
    answers, lost = in_processes(
        mover_process,
        [(base_url, fresh[c::clients], tokens, start_at) for c in range(clients)],
        "transition client",
    )
    result = Transitions(len(fresh), clients)
    for steps, failures, _, _ in answers:
        result.steps += steps
        result.failures += failures
    result.failures += lost
    result.seconds = wall_time([(first, last) for *_, first, last in answers])
    return result


# -- the run ------------------------------------------------------------------------------------


STEP_GROUPS = (
    "SCHEDULED",
    "READY (auto-approved)",
    "READY",
    "REFUSED",
    "APPROVED",
    "SENT",
    "STORES",
    "BEAMLINE",
    "BACK_STORES",
    "BACK_USER",
    "DESTROYED",
)


@dataclass(slots=True)
class Results:
    """Everything one run measured."""

    reads: list[Measurement]
    transitions: Transitions

    def failed(self) -> bool:
        """Whether any answer was wrong."""
        return bool(any(m.failures for m in self.reads) or self.transitions.failures)


def measure(server: Server, scale: Scale, requests: int, clients: int, movers: int) -> Results:
    """Start the service, then measure the reads, then the transitions."""
    url = server.database_url(scale.database)
    catalogue = TrackingPlan(scale)
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as scratch:
        services = build_services(settings_for(url, Path(scratch)))
        try:
            deliver_mail(services)
            log(f"preparing {scale.fresh} fresh parcels and the run's tokens ...")
            fresh = prepare_fresh(services, scale.fresh)
            people = needed_users(catalogue) | {"stores2", "safety2"}
            people |= {f.participant for f in fresh} | {f.local_contact for f in fresh}
            expires = datetime.now(UTC) + timedelta(days=1)
            tokens = {
                username: identity.issue_token(services.store, CLI, username, SOURCE, expires).token
                for username in sorted(people)
            }
            extra = extra_totals(services)
        finally:
            services.close()
        with service(url, 2, "tracking", Path(scratch)) as base_url:
            with httpx.Client(base_url=base_url, timeout=60) as client:
                endpoints = read_endpoints(client, catalogue, tokens, extra)
            reads = []
            for endpoint in endpoints:
                warm_up(base_url, endpoint, scale.warmup)
                measurement = run_clients(base_url, endpoint, requests, clients)
                reads.append(measurement)
                report_read(measurement)
            log(f"transitions: {len(fresh)} parcels through their life cycle, {movers} clients ...")
            transitions = measure_transitions(base_url, fresh, tokens, movers)
            report_transitions(transitions)
    return Results(reads, transitions)


def report_read(m: Measurement) -> None:
    """One read endpoint's line, its groups', and its first failures."""
    target = "" if m.met is None else ("  PASS" if m.met else "  MISS")
    print(
        f"  {m.endpoint.label:<52} p50 {m.percentile(50):6.1f}  p95 {m.percentile(95):6.1f}  "
        f"p99 {m.percentile(99):6.1f} ms  {m.rate:6,.0f} req/s  {len(m.failures)} failed{target}",
        flush=True,
    )
    groups = sorted({g for g, _ in m.latencies})
    if len(groups) > 1:
        for group in groups:
            count = sum(1 for g, _ in m.latencies if g == group)
            print(
                f"      {group:<16} p50 {m.percentile(50, group):6.1f}  "
                f"p95 {m.percentile(95, group):6.1f} ms  ({count} requests)",
                flush=True,
            )
    print_failures(dict.fromkeys(m.failures))


def report_transitions(t: Transitions) -> None:
    """The transitions' lines."""
    print(
        f"  transitions: {len(t.steps):,} steps of {t.parcels} parcels in {t.seconds:.1f} s = "
        f"{t.rate:,.1f} steps/s ({t.clients} clients; p50 {t.p(50):.1f}, p95 {t.p(95):.1f} ms)  "
        f"{len(t.failures)} failed",
        flush=True,
    )
    for group in STEP_GROUPS:
        count = sum(1 for g, _ in t.steps if g == group)
        if count:
            print(
                f"      {group:<22} p50 {t.p(50, group):6.1f}  p95 {t.p(95, group):6.1f} ms  "
                f"({count})",
                flush=True,
            )
    print_failures(t.failures)


def table(results: Results) -> str:
    """The figures against their targets, as a Markdown table."""
    t = results.transitions
    lines = [
        "| figure | measured | target | |",
        "| --- | ---: | --- | --- |",
        f"| transitions through the API ({t.parcels} parcels' whole life cycles, {t.clients} "
        f"clients) | {t.rate:,.1f} steps/s (p50 {t.p(50):.1f}, p95 {t.p(95):.1f} ms) | none | "
        f"{'information' if not t.failures else '**failures**'} |",
    ]
    for m in results.reads:
        target = "none" if m.endpoint.target_ms is None else f"p95 ≤ {m.endpoint.target_ms:.0f} ms"
        lines.append(
            f"| {m.endpoint.label} | p95 {m.percentile(95):.1f} ms (p50 {m.percentile(50):.1f}, "
            f"p99 {m.percentile(99):.1f}; {m.rate:,.0f} req/s) | {target} | {verdict(m.met)} |"
        )
    return "\n".join(lines)


def group_table(results: Results) -> str:
    """p95 per kind of worklist page and per step, as a Markdown table."""
    lines = ["| request | p95 ms | p50 ms | requests |", "| --- | ---: | ---: | ---: |"]
    for m in results.reads:
        if m.endpoint.target_ms is None:
            continue
        for group in sorted({g for g, _ in m.latencies}):
            count = sum(1 for g, _ in m.latencies if g == group)
            lines.append(
                f"| {m.endpoint.label}: {group} | {m.percentile(95, group):.1f} | "
                f"{m.percentile(50, group):.1f} | {count} |"
            )
    t = results.transitions
    for group in STEP_GROUPS:
        count = sum(1 for g, _ in t.steps if g == group)
        if count:
            lines.append(
                f"| POST /steps → {group} | {t.p(95, group):.1f} | {t.p(50, group):.1f} | {count} |"
            )
    return "\n".join(lines)


# -- recording -----------------------------------------------------------------------------------


def session_line(stats: dict[str, Any]) -> str:
    """How the load session of the database measured went."""
    seconds = max(float(stats.get("seconds", 0)) - float(stats.get("setup_seconds", 0)), 1e-9)
    return (
        f"- load session: {stats.get('investigations', 0):,} investigations, "
        f"{stats.get('shipments', 0):,} shipments, {stats.get('parcels', 0):,} parcels, "
        f"{stats.get('items', 0):,} items, {stats.get('steps', 0):,} steps "
        f"({stats.get('resumed', 0):,} parcels there already) from {stats.get('loaders')} "
        f"processes in {seconds:,.0f} s ({seconds / 60:,.1f} min): "
        f"{stats.get('parcels', 0) / seconds:,.1f} parcels/s, "
        f"{stats.get('items', 0) / seconds:,.0f} items/s, {stats.get('steps', 0) / seconds:,.1f} "
        f"steps/s, {stats.get('calls', 0) / seconds:,.1f} appends/s; setup "
        f"{stats.get('setup_seconds', 0):,.0f} s; then VACUUM (ANALYZE) "
        f"{stats.get('vacuum_seconds', 0):,.0f} s"
    )


DATA_DESCRIPTION = """\
Run it with `.venv/bin/python benchmarks/tracking.py [--quick] [--record]`. The first run
loads a year of the facility into a persistent PostgreSQL database
(`catalogue_bench_tracking`, `--quick`: `catalogue_bench_tracking_quick`) that later runs
reuse; `--reload` loads it again. No peer library exists for this workload, so there is no
ratio: the figures stand against the issue's targets (worklists p95 ≤ 20 ms).

How the data is generated and loaded (full scale): 40 beamlines, 200 investigations each
(8,000, back to back from 2026-01-05 over 364 days; PI, co-investigator, one of the
beamline's two scientists as local contact; 1,600 visitor accounts); groups `safety` (3
members) and `stores` (4). 20,000 parcels (0.3x to 1.7x of 2.5 per investigation, in one
or two shipments) and 400,000 items (0.3x to 1.7x of 20 per parcel): MX parcels a dewar
with pucks of up to 16 samples, the others a box of samples; every sample is registered by
the items call (`sample: {name}`). 15 % of the parcels declare dangerous goods on one or two
items. Life cycles up to the plan's fixed "today" (2026-11-16), each step at its planned
time (`Caller.now`) by the actor it belongs to: declared 30-35 days before the session,
SCHEDULED, READY 14-16 days before (approved at once without dangerous goods; else by the
safety group 0.5-4 days later, a quarter of them REFUSED first then declared again), SENT
5-7 days before, STORES 1-3 days before, BEAMLINE at the start, BACK_STORES at the end,
BACK_USER (or DESTROYED for the 30 % whose owners asked) 2-12 days after; 5 % of the
investigations with two parcels or more CANCEL one and ship its samples in another; 0.4 %
LOST on arrival, 2 % never taken to the beamline. Parcels of later sessions are declared
already and stop where today stops them. Accounts, investigations and shipments through the
portal services; each parcel's life decided by `catalogue.domain.tracking.decide_parcel` on
its state (the actor's part, `now` at the step's planned time) and appended by
`EventStore.append` under the actor's metadata, the parcels of 20 investigations per round of
multi-stream appends, from 2 processes (the portal's per-call path loaded 2-5 parcels/s here:
1-3 hours for the year; the portal's access checks are what it skips), with the inline
projections and the mail notifications' outbox. The notifications the year
queued (about 115,000) are then delivered by the service's own sender (`deliver_due`, into a
scratch mail directory), as a live service would have long before, and the same is done
before each measurement for what earlier runs queued: otherwise the measured service's
senders drain that backlog while the reads are timed. Then `VACUUM (ANALYZE)`.

How it is measured: `catalogue serve` with `CATALOGUE_WORKERS=2` (log level warning), fresh
tokens. Reads: warm-up requests, then timed requests from 2 client processes (httpx,
keep-alive, back to back): each stores section and the safety worklist as a member of the
group: the facility-wide first page (50) and third page (cursor), and for 10 random
beamlines the first page (10) and the second (cursor), as many facility requests as
beamline ones; every page checked (exact planned total, statuses of the section, the
beamline asked, soonest session first, the cursor page after the previous page). "Where is
this sample" for 300 random samples as their PI and as stores staff (current parcel and
status as planned, number of parcels); the first page of the sampled investigations'
samples and the sampled parcels (information). Transitions: 320 fresh parcels (8 items,
30 % dangerous, a third of those refused once) on investigations of the run (beamlines
BENCH-T1/T2, sessions two days ahead) driven over HTTP through their whole life cycle by
4 client processes at once, each step checked (200 and the new status): steps/s over the
wall time and p95 per step. Everything on the same 2-CPU machine as the service and
PostgreSQL.
"""


def record(results: Results, lines: list[str], scale: Scale, clients: int) -> None:
    """Append a dated run under the section (created with its description if absent)."""
    failures = [f for m in results.reads for f in m.failures[:5]]
    failures += results.transitions.failures[:5]
    record_run(
        "tracking.py",
        scale is QUICK,
        [
            *lines,
            f"- read clients: {clients} processes; transition clients: "
            f"{results.transitions.clients}; command: {command('tracking.py')}",
        ],
        [table(results), group_table(results)],
        ("Failures (first five per figure):", failures),
        (SECTION, DATA_DESCRIPTION),
    )


def main(argv: list[str] | None = None) -> int:
    """Load the year if needed, then measure worklists, whereabouts and transitions."""
    parser = arguments(__doc__, "1/20 scale, fewer requests", persistent=True)
    parser.add_argument("--requests", type=int, help="timed requests per read endpoint")
    parser.add_argument("--clients", type=int, default=2, help="read client processes (2)")
    parser.add_argument("--movers", type=int, default=4, help="transition client processes (4)")
    parser.add_argument("--loaders", type=int, default=2, help="loader processes (2)")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    unwind_on_sigterm()

    server = Server(server_url(), MARKER_KEY)
    revision = code_revision()
    load_record = load(server, scale, max(1, args.loaders), args.reload)
    session = session_line(load_record.get("stats", {}))
    lines = machine_lines(server, revision) + load_lines(load_record, session)
    print("\n".join(lines), flush=True)
    if args.load_only:
        return 0
    results = measure(server, scale, args.requests or scale.requests, args.clients, args.movers)
    print()
    print(table(results))
    print()
    print(group_table(results))
    if args.record:
        record(results, lines, scale, args.clients)
    return 1 if results.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
