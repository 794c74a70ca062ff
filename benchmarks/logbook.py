"""Electronic logbook (issue 4) on 10,000,000 entries over 2,000 investigations (PostgreSQL).

The logbook (full scale): 40 beamlines, 50 investigations each (2,000, one after another on
each beamline, 2 to 5 days long, from January 2026), 10,000,000 entries: about 90 %
machine notifications written by each beamline's control-system API key (Bliss-like
`commandLine`, `info`, `debug` and `error` lines: "ascan samy 0 1 10 0.1", "ct 0.5",
"Scan 123 started", "Detector eiger2_9m timeout after 30 s", "Beam lost: RF trip" ...),
about 10 % annotations by the investigations' participants (a third of them Markdown),
a few beamline tags on some entries, and a few facility broadcasts. It is loaded once,
through the real write path (`catalogue.portal.logbook.post_entries`: access checks,
deciders, `EventStore.append` with the inline projections), 1,000 entries per call, by 2
processes, into a persistent database that later runs reuse: `catalogue_bench_logbook`
(`--quick`: `catalogue_bench_logbook_quick`, 200,000 entries over 200 investigations on 10
beamlines). `--reload` drops and loads it again; an interrupted load resumes (entries
carry deterministic client ids, and posting a client id again changes nothing).

Then the service runs with 2 workers (`catalogue serve`), and client processes measure,
over HTTP:

1. bulk posting: `POST /api/v1/logbook/notifications` with 1,000 entries a request from 4
   concurrent clients (each a beamline API key): entries/s, target >= 10,000;
2. the newest page (50) of one investigation's logbook as a participant: p95 <= 50 ms;
3. a full-text query across one beamline as its instrument scientist (common, medium and
   rare words, a phrase, a prefix): p95 <= 50 ms; as a participant (information only);
4. the per-day timeline counts of one investigation: p95 <= 50 ms;
5. live delivery: a client follows `/api/v1/logbook/stream` (Server-Sent Events) while
   single entries are posted a few per second; post -> received p95 <= 100 ms.

The reads are measured first, then the bulk posting, then live delivery (the posts go to
investigations of their own, on beamlines `BENCH-1`..`BENCH-4`, so that no run changes the
logbooks the reads measure). Every answer is checked against the generated plan (status,
item counts, exact totals, newest-first order, every full-text hit containing its terms,
every posted entry created and delivered), so a broken endpoint cannot look fast.

No peer library exists for this workload (an event-sourced logbook with this access
model and API), so no ratio is printed: the figures stand against their targets.

Usage: python benchmarks/logbook.py [--quick] [--reload] [--load-only] [--record]
       [--requests N] [--clients N] [--posters N] [--loaders N]

PostgreSQL: CATALOGUE_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
names the server.
"""

from __future__ import annotations

import contextlib
import html
import json
import multiprocessing
import random
import re
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
from harness import (
    BEAMLINES,
    DETECTOR,
    EMBARGO,
    FILL_MODES,
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
from sqlalchemy import Engine, func, select

from catalogue.domain import logbook as lb
from catalogue.domain.access import OPERATOR, Principal, PrincipalKind
from catalogue.domain.instruments import RegisterInstrument
from catalogue.domain.investigations import Role, default_visit_id, investigation_id_for
from catalogue.domain.markup import Markup
from catalogue.portal import identity, instruments
from catalogue.portal import investigations as investigation_service
from catalogue.portal import logbook as logbook_service
from catalogue.portal.execution import Caller
from catalogue.readmodels.fulltext import Term, parse_text_query
from catalogue.revisions import upgrade
from catalogue.runner import register_checkpoints
from catalogue.schema import (
    credentials,
    instrument_scientists,
    investigations,
    logbook_entries,
    logbook_tags,
    participants,
    users,
)
from catalogue.schema import instruments as instrument_rows
from catalogue.services import Services, build_services

SECTION = "## Electronic logbook (issue 4)"
MARKER_KEY = "catalogue_bench_logbook"
SOURCE = "benchmarks/logbook.py"
#: Accounts, beamlines and investigations are made as the operator's CLI makes them.
CLI = Caller(OPERATOR, source="cli")
LOADER_KEY_LABEL = "bench-loader"
TARGET_POST_RATE = 10_000.0
TARGET_QUERY_P95_MS = 50.0
TARGET_LIVE_P95_MS = 100.0
PAGE = 50
BULK = lb.MAX_BULK
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
#: Each beamline starts an investigation every 6 days; each lasts 2 to 5 days.
SLOT = timedelta(days=6)
SOFTWARE = "bliss 2.1.3"
LIVE_WARMUP = 5
ENTRIES = "/api/v1/logbook/entries"
NOTIFICATIONS = "/api/v1/logbook/notifications"
LOGBOOK = "/api/v1/logbook"


# -- scale ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """How big the logbook is, and how much is measured."""

    name: str
    database: str
    beamlines: int
    per_beamline: int  # investigations per beamline
    entries: int  # all loaded entries, broadcasts included
    broadcasts: int
    visitors: int  # users who take part in investigations
    posted: int  # entries bulk-posted over HTTP in measurement 1
    live_samples: int  # live deliveries timed in measurement 5
    requests: int  # timed requests per read endpoint
    warmup: int  # untimed requests per read endpoint first
    sampled: int  # investigations the page and timeline requests rotate over

    @property
    def investigations(self) -> int:
        """How many investigations."""
        return self.beamlines * self.per_beamline


FULL = Scale(
    "full",
    "catalogue_bench_logbook",
    beamlines=40,
    per_beamline=50,
    entries=10_000_000,
    broadcasts=60,
    visitors=800,
    posted=100_000,
    live_samples=200,
    requests=1_000,
    warmup=50,
    sampled=200,
)
QUICK = Scale(
    "quick",
    "catalogue_bench_logbook_quick",
    beamlines=10,
    per_beamline=20,
    entries=200_000,
    broadcasts=12,
    visitors=80,
    posted=20_000,
    live_samples=50,
    requests=200,
    warmup=20,
    sampled=100,
)
SCALES = {scale.name: scale for scale in (FULL, QUICK)}


# -- what the facility looks like (beamlines, techniques, detectors: harness) -------------------

#: Beamlines of the measurement's own writes (bulk posting, live delivery): entries posted
#: by later runs land there, never in the logbooks the reads measure.
POSTING_BEAMLINES = ("BENCH-1", "BENCH-2", "BENCH-3", "BENCH-4")
LIVE_PROPOSAL = "BENCH-LIVE"
LIVE_WRITER = "bench-writer"  # principal investigator of the live investigation
LIVE_FOLLOWER = "bench-follower"  # collaborator: follows it remotely
SAMPLES = {
    "MX": ("lysozyme", "thaumatin", "insulin", "proteinase_k"),
    "TOMO": ("bone", "concrete", "fossil", "battery"),
    "SAXS": ("bsa", "apoferritin", "lipid_vesicles", "micelles"),
    "XAS": ("cu_foil", "fe2o3", "pt_catalyst", "ni_oxide"),
}
MOTORS = ("samx", "samy", "samz", "phi", "omega", "sy", "sz")
COUNTERS = ("i0", "it", "mon", "diode", "fluo")
BEAM_LOSSES = ("RF trip", "orbit interlock", "vacuum interlock in cell 12", "injector fault")
BEAMLINE_TAGS = (
    ("sample", "#43a047", "About a sample"),
    ("result", "#1e88e5", "A result worth finding again"),
    ("alignment", "#fdd835", "Beamline or sample alignment"),
    ("problem", "#e53935", "Something went wrong"),
)
BROADCASTS = (
    "Machine day: no beam from 08:00 to 20:00",
    "Beam will be back at {hour}:00 after the injector repair",
    "Storage ring restart: top-up resumes at {hour}:00",
    "Facility network maintenance on Tuesday 07:00-09:00; data transfer paused",
    "Refill schedule changed: every 12 h in 7/8+1 mode",
    "Fire alarm test in the experimental hall at {hour}:30",
)
#: Notification categories in realistic proportions (weights).
NOTIFICATION_CATEGORIES = (
    (lb.Category.COMMAND_LINE, 32),
    (lb.Category.INFO, 44),
    (lb.Category.DEBUG, 19),
    (lb.Category.ERROR, 5),
)
ANNOTATION_SHARE = 0.10
MARKDOWN_SHARE = 0.30

#: Full-text queries: (kind, query); every investigation holds at least one match of each.
TEXT_QUERIES = (
    ("common", "scan"),
    ("medium", "timeout"),
    ("rare", "quench"),
    ("phrase", '"beam lost"'),
    ("prefix", "cryo*"),
)


def control_machine(beamline: str) -> str:
    """The control computer a beamline's notifications come from (`lid231`)."""
    return "l" + beamline.lower().replace("-", "")


@dataclass(frozen=True, slots=True)
class InvestigationPlan(GeneratedInvestigation):
    """One investigation of the generated logbook."""

    entries: int
    participants: tuple[tuple[str, Role], ...]

    @property
    def release_date(self) -> datetime:
        """When its data opens (the default embargo after its end)."""
        return self.end + EMBARGO

    @property
    def principal_investigator(self) -> str:
        """Its principal investigator."""
        return self.participants[0][0]

    @property
    def writers(self) -> tuple[str, ...]:
        """Participants who may annotate (not the collaborators)."""
        return tuple(u for u, role in self.participants if role is not Role.COLLABORATOR)

    def is_participant(self, username: str) -> bool:
        """Whether the user takes part."""
        return any(u == username for u, _ in self.participants)


@dataclass(frozen=True, slots=True)
class BroadcastPlan:
    """One facility-wide message."""

    number: int
    time: datetime
    text: str


@dataclass(frozen=True, slots=True)
class PlannedEntry:
    """One generated entry, before it becomes a post."""

    rank: int
    kind: lb.EntryKind
    category: lb.Category
    author: str  # "" for the beamline's control system, else a username
    text: str
    markdown: str | None
    tags: tuple[str, ...]
    time: datetime


class LogbookPlan:
    """The whole generated logbook, computed (not stored) from the scale: deterministic."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.beamlines = BEAMLINES[: scale.beamlines]
        counts = _entry_counts(scale)
        self.investigations: list[InvestigationPlan] = []
        for index, count in enumerate(counts):
            slot, b = divmod(index, scale.beamlines)
            beamline, family = self.beamlines[b]
            start = EPOCH + SLOT * slot + timedelta(hours=2 * (b % 5))
            end = start + timedelta(days=2 + index % 4)
            self.investigations.append(
                InvestigationPlan.named(
                    index,
                    beamline,
                    family,
                    start,
                    end,
                    entries=count,
                    participants=self._participants(index, beamline),
                )
            )
        period = SLOT * scale.per_beamline
        self.broadcasts = [
            BroadcastPlan(
                k,
                EPOCH + period * (k + 0.37) / scale.broadcasts,
                BROADCASTS[k % len(BROADCASTS)].format(hour=8 + k % 12),
            )
            for k in range(scale.broadcasts)
        ]
        self.by_id = {plan.investigation_id: plan for plan in self.investigations}

    def _participants(self, index: int, beamline: str) -> tuple[tuple[str, Role], ...]:
        pool = self.scale.visitors
        base = index * 37
        people = [
            (visitor(base % pool + 1), Role.PRINCIPAL_INVESTIGATOR),
            (visitor((base + 1) % pool + 1), Role.CO_INVESTIGATOR),
        ]
        if index % 2:
            people.append((visitor((base + 2) % pool + 1), Role.CO_INVESTIGATOR))
        people.append((visitor((base + 3) % pool + 1), Role.COLLABORATOR))
        people.append((scientists_of(beamline)[index % 2], Role.LOCAL_CONTACT))
        return tuple(people)

    def users(self) -> list[tuple[str, str]]:
        """(username, full name) of every account the logbook needs."""
        accounts = [(visitor(k), f"Visitor {k}") for k in range(1, self.scale.visitors + 1)]
        for beamline, _ in self.beamlines:
            for number, name in enumerate(scientists_of(beamline), 1):
                accounts.append((name, f"{beamline} scientist {number}"))
        accounts += [(LIVE_WRITER, "Bench Writer"), (LIVE_FOLLOWER, "Bench Follower")]
        return accounts

    def on_beamline(self, beamline: str) -> list[InvestigationPlan]:
        """The investigations of one beamline."""
        return [plan for plan in self.investigations if plan.beamline == beamline]

    def broadcasts_between(self, start: datetime, end: datetime) -> int:
        """Broadcasts an investigation's logbook shows (those of its period, ends included)."""
        return sum(1 for b in self.broadcasts if start <= b.time <= end)

    def expected_total(self, plan: InvestigationPlan) -> int:
        """Entries of an investigation's logbook: its own and the broadcasts of its period."""
        return plan.entries + self.broadcasts_between(plan.start, plan.end)


def _entry_counts(scale: Scale) -> list[int]:
    """Entries per investigation, spread unevenly (0.3x to 1.7x), summing to the scale's."""
    return spread(scale.entries - scale.broadcasts, scale.investigations)


def posting_investigation(beamline: str) -> tuple[str, str, UUID]:
    """(proposal, visit id, id) of the investigation a posting beamline's measured posts go to."""
    proposal = f"BENCH-POST-{beamline.rsplit('-', 1)[1]}"
    visit_id = default_visit_id(beamline, EPOCH)
    return proposal, visit_id, investigation_id_for(proposal, visit_id)


def live_investigation() -> tuple[str, str, UUID]:
    """(proposal, visit id, id) of the investigation whose live stream is followed."""
    visit_id = default_visit_id(POSTING_BEAMLINES[0], EPOCH) + "-live"
    return LIVE_PROPOSAL, visit_id, investigation_id_for(LIVE_PROPOSAL, visit_id)


# -- the text of a beamline session --------------------------------------------------------------


class Session:
    """What a Bliss session and its users write, line after line: scans numbered in order,
    samples, motors, detectors; word frequencies from very common ("scan") to rare."""

    def __init__(self, rng: random.Random, beamline: str, family: str, proposal: str) -> None:
        self.rng = rng
        self.beamline = beamline
        self.family = family
        self.proposal = proposal
        self.detector = DETECTOR[family]
        self.scan = 0
        self.running = False
        self.sample_number = 1
        self.dataset = 0

    @property
    def sample(self) -> str:
        """The sample on the beam now."""
        names = SAMPLES[self.family]
        return f"{names[self.sample_number % len(names)]}_{self.sample_number}"

    def _motor(self) -> str:
        return self.rng.choice(MOTORS)

    def notification(self, category: lb.Category) -> str:
        """A control-system line of this category."""
        if category is lb.Category.COMMAND_LINE:
            return self._command()
        if category is lb.Category.INFO:
            return self._info()
        if category is lb.Category.DEBUG:
            return self._debug()
        return self._error()

    def _command(self) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.35:
            points, count_time = rng.choice((10, 20, 50, 100, 200)), rng.choice((0.05, 0.1, 0.5, 1))
            kind = rng.random()
            if kind < 0.4:
                low = round(rng.uniform(-2, 1), 2)
                return (
                    f"ascan {self._motor()} {low} {low + rng.choice((1, 2))} {points} {count_time}"
                )
            if kind < 0.7:
                width = round(rng.uniform(0.1, 1), 2)
                return f"dscan {self._motor()} -{width} {width} {points} {count_time}"
            if kind < 0.85:
                return f"loopscan {points} {count_time}"
            return f"timescan {count_time}"
        if roll < 0.55:
            return f"ct {rng.choice((0.1, 0.5, 1, 2))}"
        if roll < 0.80:
            return f"{rng.choice(('mv', 'umv'))} {self._motor()} {rng.uniform(-5, 5):.3f}"
        if roll < 0.88:
            return f"wm {self._motor()} {self._motor()}"
        if roll < 0.93:
            self.sample_number += 1
            return f"newsample {self.sample}"
        self.dataset += 1
        return f"newdataset {self.sample}_{self.dataset:04d}"

    def _info(self) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.55:
            if self.running:
                self.running = False
                points = rng.choice((10, 20, 50, 100, 200))
                return f"Scan {self.scan} finished: {points} points in {rng.uniform(2, 300):.1f} s"
            self.running = True
            self.scan += 1
            return f"Scan {self.scan} started"
        if roll < 0.70:
            low = rng.uniform(-5, 5)
            return f"{self._motor()} moved from {low:.3f} to {low + rng.uniform(-1, 1):.3f}"
        if roll < 0.80:
            return (
                f"Data saved to /data/visitor/{self.proposal.lower()}/{self.beamline.lower()}/"
                f"RAW_DATA/{self.sample}/{self.sample}_{self.dataset:04d}.h5"
            )
        if roll < 0.90:
            return (
                f"Beam current {rng.uniform(180, 200):.1f} mA, fill mode {rng.choice(FILL_MODES)}"
            )
        if roll < 0.95:
            counters = rng.sample(COUNTERS, 2)
            return (
                f"Counts: {counters[0]} {rng.randint(1000, 900000)}, "
                f"{counters[1]} {rng.randint(100, 90000)}"
            )
        if rng.random() < 0.5:
            return f"Refill in {rng.choice((5, 10, 15, 30))} minutes"
        return f"Beam back, current {rng.uniform(190, 200):.1f} mA"

    def _debug(self) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.3:
            trigger = rng.choice(("INTERNAL", "EXTERNAL_GATE", "EXTERNAL_TRIGGER"))
            return f"{self.detector}: armed for {rng.randint(10, 3600)} frames, trigger {trigger}"
        if roll < 0.5:
            return f"musst_{rng.randint(1, 2)}: {rng.randint(100, 200000)} samples read"
        if roll < 0.7:
            return (
                f"{self._motor()}: velocity {rng.uniform(0.1, 5):.2f}, "
                f"acceleration {rng.uniform(0.01, 1):.3f}"
            )
        if roll < 0.9:
            return (
                f"writer: {rng.randint(1, 5000)} frames flushed to {self.sample}_{self.scan:04d}.h5"
            )
        return f"cryostream: {rng.uniform(99, 101):.1f} K, flow {rng.uniform(4, 6):.1f} l/min"

    def _error(self) -> str:
        rng, roll = self.rng, self.rng.random()
        if roll < 0.25:
            return self.timeout()
        if roll < 0.40:
            return self.beam_lost()
        if roll < 0.60:
            return f"Motor {self._motor()}: limit switch ({rng.choice('+-')}) reached"
        if roll < 0.80:
            self.running = False
            return f"Scan {self.scan} aborted by user"
        if roll < 0.90:
            return self.cryostream()
        return f"Shutter {rng.choice(('fe', 'bs', 'exp'))} failed to open"

    # The lines every investigation has at least once (the full-text queries find them).
    def timeout(self) -> str:
        """A detector timeout (a medium-frequency word)."""
        return f"Detector {self.detector} timeout after {self.rng.choice((10, 30, 60))} s"

    def beam_lost(self) -> str:
        """A beam loss (the phrase query)."""
        return f"Beam lost: {self.rng.choice(BEAM_LOSSES)}"

    def cryostream(self) -> str:
        """A sample-environment alarm (the prefix query)."""
        return f"Cryostream temperature {self.rng.uniform(105, 130):.1f} K out of range"

    def quench(self) -> str:
        """A rare event: once per investigation, nowhere else."""
        return f"Superconducting wiggler quench on {self.beamline}: beam dumped, refill soon"

    def annotation(self) -> tuple[str, str | None]:
        """What a person writes: (plain text, Markdown or None)."""
        rng = self.rng
        if rng.random() < MARKDOWN_SHARE:
            return "", self._markdown()
        sample = self.sample
        choices = (
            f"Mounted {sample}, centring on the loop",
            f"{sample} looks damaged after {rng.randint(2, 9)} scans, moving to a fresh spot",
            f"Beam size set to {rng.choice((5, 10, 20, 50))}x{rng.choice((5, 10, 20))} um",
            "Back from lunch, resuming the series",
            f"Energy set to {rng.uniform(6, 20):.3f} keV for the next samples",
            f"Scan {self.scan} looks good: peak at {rng.uniform(-2, 2):.3f} mm",
            "Cryostream restarted after ice formed on the pin",
            "Alignment done, starting data collection",
            f"Sample changer jammed on puck {rng.randint(1, 9)}; loaded by hand",
        )
        return rng.choice(choices), None

    def _markdown(self) -> str:
        rng = self.rng
        choices = (
            f"Crystal **{self.sample_number}** diffracts to {rng.uniform(1.2, 3.5):.1f} Å; "
            "moving to the next pin.",
            f"## Shift summary\n\n- {rng.randint(3, 40)} datasets collected\n"
            f"- best scan: `{self.scan}`\n- problems: *detector timeouts*",
            f"Compare scan `{self.scan}` with scan `{max(self.scan - 1, 0)}`: the edge moved by "
            f"**{rng.uniform(0.1, 3):.2f} eV**",
            f"Sample *{self.sample}*: {rng.choice(('ice rings', 'twinned', 'weak', 'cracked'))}"
            "\n\n1. remount\n2. re-centre\n3. collect again",
        )
        return rng.choice(choices)


def plan_entries(plan: InvestigationPlan) -> list[PlannedEntry]:
    """An investigation's entries in time order, generated from its index alone."""
    rng = random.Random(plan.index * 1_000_003 + 17)
    session = Session(rng, plan.beamline, plan.family, plan.proposal)
    n = plan.entries
    forced = {
        n // 7: (lb.Category.ERROR, session.timeout),
        n // 5: (lb.Category.ERROR, session.cryostream),
        n // 3: (lb.Category.ERROR, session.quench),
        (2 * n) // 3: (lb.Category.ERROR, session.beam_lost),
    }
    categories = [c for c, _ in NOTIFICATION_CATEGORIES]
    weights = [w for _, w in NOTIFICATION_CATEGORIES]
    writers = plan.writers
    # The principal investigator writes most, then the co-investigators, the local contact.
    author_weights = [*(4.0, 3.5, 3.5)[: len(writers) - 1], 2.5]
    span = plan.end - plan.start
    entries = []
    for rank in range(n):
        time_at = plan.start + span * ((rank + 0.05 + 0.9 * rng.random()) / n)
        tags: tuple[str, ...] = ()
        if rank in forced:
            category, line = forced[rank]
            entries.append(
                PlannedEntry(
                    rank, lb.EntryKind.NOTIFICATION, category, "", line(), None, (), time_at
                )
            )
            continue
        if rank > 0 and rng.random() < ANNOTATION_SHARE:
            text, markdown = session.annotation()
            if rng.random() < 0.2:
                tags = (rng.choice(("sample", "result", "alignment")),)
            author = rng.choices(writers, author_weights)[0]
            category = lb.Category.COMMENT if rng.random() < 0.9 else lb.Category.INFO
            entries.append(
                PlannedEntry(
                    rank, lb.EntryKind.ANNOTATION, category, author, text, markdown, tags, time_at
                )
            )
            continue
        category = rng.choices(categories, weights)[0]
        text = (
            f"Experiment {plan.proposal} started on {plan.beamline}"
            if rank == 0
            else session.notification(category)
        )
        if category is lb.Category.ERROR and rng.random() < 0.3:
            tags = ("problem",)
        entries.append(
            PlannedEntry(rank, lb.EntryKind.NOTIFICATION, category, "", text, None, tags, time_at)
        )
    return entries


def notification_client_id(plan: InvestigationPlan, rank: int) -> str:
    """The control system's own id of a notification."""
    return f"bliss:{plan.beamline.lower()}:{plan.proposal}:{rank:06d}"


def entry_input(plan: InvestigationPlan, entry: PlannedEntry) -> logbook_service.EntryInput:
    """A planned entry as the logbook service takes it."""
    if entry.kind is lb.EntryKind.NOTIFICATION:
        return logbook_service.EntryInput(
            kind=entry.kind,
            category=entry.category,
            content=lb.NewContent(entry.text),
            investigation_id=plan.investigation_id,
            client_id=notification_client_id(plan, entry.rank),
            time=entry.time,
            software=SOFTWARE,
            machine=control_machine(plan.beamline),
            tags=entry.tags,
        )
    content = (
        lb.NewContent(entry.text)
        if entry.markdown is None
        else lb.NewContent(entry.text, Markup.MARKDOWN, entry.markdown)
    )
    return logbook_service.EntryInput(
        kind=entry.kind,
        category=entry.category,
        content=content,
        investigation_id=plan.investigation_id,
        client_id=f"portal:{plan.proposal}:{entry.rank:06d}",
        time=entry.time,
        tags=entry.tags,
    )


# -- the database -------------------------------------------------------------------------------


def entries_per_investigation(engine: Engine) -> dict[UUID, int]:
    """How many entries each investigation's logbook holds."""
    query = (
        select(logbook_entries.c.investigation_id, func.count())
        .where(logbook_entries.c.investigation_id.is_not(None))
        .group_by(logbook_entries.c.investigation_id)
    )
    with engine.connect() as connection:
        return {row[0]: int(row[1]) for row in connection.execute(query)}


def broadcast_count(engine: Engine) -> int:
    """How many broadcasts exist."""
    query = select(func.count()).where(logbook_entries.c.kind == lb.EntryKind.BROADCAST.value)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


# -- the load -----------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadStats:
    """What one load session wrote, and how long it took."""

    entries: int = 0  # entries posted this session (new ones)
    existing: int = 0  # entries posted again on resuming, found there already
    batches: int = 0
    loaders: int = 0
    setup_seconds: float = 0.0  # accounts, beamlines, tags, investigations
    generate_seconds: float = 0.0  # making the entries (all loaders' CPU time)
    post_seconds: float = 0.0  # post_entries (all loaders' time)
    seconds: float = 0.0  # the whole session
    vacuum_seconds: float = 0.0
    resumed_from: int = 0  # entries there when the session started
    slowest_batch: float = 0.0

    def rate(self) -> float:
        """Entries per second over the session's wall time (setup excluded)."""
        return self.entries / max(self.seconds - self.setup_seconds, 1e-9)


def load(server: Server, scale: Scale, loaders: int, reload: bool) -> dict[str, Any]:
    """Load the logbook unless it is loaded already; the load record either way."""
    server.prepare(scale.database, reload)
    revision = code_revision()
    url = server.database_url(scale.database)
    catalogue = LogbookPlan(scale)
    with tempfile.TemporaryDirectory(prefix="bench-logbook-") as scratch:
        services = build_services(settings_for(url, Path(scratch)))
        try:
            upgrade(services.engine)
            # Before the first append, as the service does: every inline projection live.
            stale = register_checkpoints(services.store, services.projections)
            if stale:
                raise SystemExit(
                    f"{scale.database}: projections {stale} need a rebuild; run with --reload"
                )
            record = server.loaded(scale.database)
            counts = entries_per_investigation(services.engine)
            broadcasts = broadcast_count(services.engine)
            if record is not None and loaded_fully(catalogue, counts, broadcasts):
                log(f"{scale.database} is loaded already; --reload to load it again")
                return record
        finally:
            services.close()
        stats = load_logbook(url, catalogue, loaders, Path(scratch))
    with tempfile.TemporaryDirectory(prefix="bench-logbook-") as scratch:
        services = build_services(settings_for(url, Path(scratch)))
        try:
            counts = entries_per_investigation(services.engine)
            broadcasts = broadcast_count(services.engine)
        finally:
            services.close()
    if not loaded_fully(catalogue, counts, broadcasts):
        wrong = [
            p.proposal
            for p in catalogue.investigations
            if counts.get(p.investigation_id) != p.entries
        ]
        raise SystemExit(
            f"load incomplete: {len(wrong)} investigations with the wrong entry count "
            f"(first: {wrong[:5]}), {broadcasts} broadcasts of {scale.broadcasts}"
        )
    stats.vacuum_seconds = server.vacuum_analyze(scale.database)
    totals = {
        "entries": sum(counts.get(p.investigation_id, 0) for p in catalogue.investigations)
        + broadcasts,
        "investigations": scale.investigations,
        "beamlines": scale.beamlines,
        "broadcasts": broadcasts,
    }
    return server.mark_loaded(scale.database, scale.name, revision, totals, asdict(stats))


def loaded_fully(catalogue: LogbookPlan, counts: dict[UUID, int], broadcasts: int) -> bool:
    """Whether every planned entry is there (and nothing else in the planned logbooks)."""
    return broadcasts == len(catalogue.broadcasts) and all(
        counts.get(plan.investigation_id, 0) == plan.entries for plan in catalogue.investigations
    )


def set_up(services: Services, catalogue: LogbookPlan) -> None:
    """Accounts, beamlines (with scientists, loader API keys and tags) and investigations
    (with participants), through the portal services as the operator; what exists is kept."""
    store, engine = services.store, services.engine
    with engine.connect() as connection:
        known_users = set(connection.execute(select(users.c.username)).scalars())
        known_scientists = {
            (row.instrument, row.username)
            for row in connection.execute(select(instrument_scientists))
        }
        known_investigations = set(connection.execute(select(investigations.c.id)).scalars())
        known_participants = {
            (row.investigation_id, row.username): row.role
            for row in connection.execute(select(participants))
        }
        known_tags = {(row.scope, row.name) for row in connection.execute(select(logbook_tags))}
        known_instruments = set(connection.execute(select(instrument_rows.c.name)).scalars())
    loader_keys = loader_key_ids(engine)

    added = 0
    for username, full_name in catalogue.users():
        if username not in known_users:
            identity.add_user(
                store, CLI, username, full_name, f"{username}@example.org", admin=False
            )
            added += 1
    beamlines = [name for name, _ in catalogue.beamlines] + list(POSTING_BEAMLINES)
    for name in beamlines:
        if name not in known_instruments:
            family = dict(catalogue.beamlines).get(name)
            full_name = f"{name} {TECHNIQUE[family]} beamline" if family else f"{name} (benchmark)"
            instruments.run_instrument_command(
                store, CLI, name, RegisterInstrument(name, full_name, "Generated by " + SOURCE)
            )
    for name, _ in catalogue.beamlines:
        for username in scientists_of(name):
            if (name, username) not in known_scientists:
                instruments.add_scientist(store, CLI, name, username)
        if name not in loader_keys:
            instruments.issue_api_key(store, CLI, name, LOADER_KEY_LABEL, None)
        for tag, colour, description in BEAMLINE_TAGS:
            if (lb.tag_scope(None, name), tag) not in known_tags:
                logbook_service.define_tag(
                    store, CLI, lb.DefineTag(None, name, tag, colour, description)
                )
    if added:
        log(f"added {added} users, beamlines with scientists, loader API keys and tags")

    created = 0
    progress = Progress(len(catalogue.investigations), 0, "investigations")
    try:
        for plan in catalogue.investigations:
            if plan.investigation_id not in known_investigations:
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
                created += 1
            for username, role in plan.participants:
                if known_participants.get((plan.investigation_id, username)) != role.value:
                    investigation_service.add_participant(
                        store, CLI, plan.investigation_id, username, role
                    )
            progress.advance(1)
    finally:
        progress.close()

    # The measurement's own investigations: one per posting beamline, and the live one.
    bench = [(beamline, *posting_investigation(beamline)) for beamline in POSTING_BEAMLINES]
    bench.append((POSTING_BEAMLINES[0], *live_investigation()))
    for beamline, proposal, visit_id, investigation_id in bench:
        if investigation_id not in known_investigations:
            investigation_service.create_investigation(
                store,
                CLI,
                EMBARGO,
                proposal=proposal,
                instrument=beamline,
                title=f"Benchmark writes on {beamline}",
                start=EPOCH,
                end=EPOCH + timedelta(days=3650),
                visit_id=visit_id,
                summary="Measured posts of " + SOURCE + " land here.",
            )
            created += 1
    _, _, live_id = live_investigation()
    for username, role in (
        (LIVE_WRITER, Role.PRINCIPAL_INVESTIGATOR),
        (LIVE_FOLLOWER, Role.COLLABORATOR),
    ):
        if known_participants.get((live_id, username)) != role.value:
            investigation_service.add_participant(store, CLI, live_id, username, role)
    if created:
        log(f"created {created} investigations")


def loader_key_ids(engine: Engine) -> dict[str, str]:
    """The id of each beamline's loader API key (its notifications' ids derive from it)."""
    query = (
        select(credentials.c.subject, credentials.c.id)
        .where(
            credentials.c.kind == "api_key",
            credentials.c.label == LOADER_KEY_LABEL,
            credentials.c.revoked_at.is_(None),
        )
        .order_by(credentials.c.created_at)
    )
    with engine.connect() as connection:
        found: dict[str, str] = {}
        for subject, key_id in connection.execute(query):
            found.setdefault(subject, key_id)
        return found


def post_broadcasts(services: Services, catalogue: LogbookPlan) -> int:
    """The facility's broadcasts, posted by the operator (an administrator)."""
    entries = [
        logbook_service.EntryInput(
            kind=lb.EntryKind.BROADCAST,
            category=lb.Category.INFO,
            content=lb.NewContent(b.text),
            client_id=f"broadcast:{b.number:04d}",
            time=b.time,
        )
        for b in catalogue.broadcasts
    ]
    caller = Caller(OPERATOR, source=SOURCE)
    _, created = logbook_service.post_entries(
        services.store, caller, entries, services.logbook_limits
    )
    return created


def load_logbook(url: str, catalogue: LogbookPlan, loaders: int, scratch: Path) -> LoadStats:
    """Set up what is missing, then post every investigation's entries that are not all there
    yet, from `loaders` processes."""
    scale = catalogue.scale
    stats = LoadStats(loaders=loaders)
    started = time.perf_counter()
    services = build_services(settings_for(url, scratch))
    try:
        set_up(services, catalogue)
        stats.setup_seconds = time.perf_counter() - started
        log(f"setup took {stats.setup_seconds:,.1f} s")
        new_broadcasts = post_broadcasts(services, catalogue)
        stats.entries += new_broadcasts
        counts = entries_per_investigation(services.engine)
    finally:
        # Before forking: the loaders open their own connections.
        services.close()
    todo = [
        p.index for p in catalogue.investigations if counts.get(p.investigation_id) != p.entries
    ]
    too_many = [
        p.proposal
        for p in catalogue.investigations
        if counts.get(p.investigation_id, 0) > p.entries
    ]
    if too_many:
        raise SystemExit(
            f"{len(too_many)} investigations hold more entries than this load makes "
            f"(first: {too_many[:5]}): run with --reload"
        )
    done = sum(counts.get(p.investigation_id, 0) for p in catalogue.investigations)
    stats.resumed_from = done + len(catalogue.broadcasts) - new_broadcasts
    if done:
        log(f"resuming: {done:,} entries there, {len(todo)} investigations to complete")
    progress = Progress(scale.entries - len(catalogue.broadcasts), done, "entries")

    def count(message: tuple[Any, ...]) -> None:
        _, _, posted, created, generate, post = message
        stats.entries += created
        stats.existing += posted - created
        stats.batches += 1
        stats.generate_seconds += generate
        stats.post_seconds += post
        stats.slowest_batch = max(stats.slowest_batch, post)
        progress.advance(posted)

    work = [(url, scale.name, str(scratch), todo[w::loaders]) for w in range(loaders)]
    try:
        run_loaders(load_worker, work, count)
    finally:
        progress.close()
        stats.seconds = time.perf_counter() - started
        log(
            f"loaded {stats.entries:,} entries ({stats.existing:,} there already) in "
            f"{stats.batches:,} posts of up to {BULK:,} from {loaders} processes in "
            f"{stats.seconds - stats.setup_seconds:,.1f} s (setup {stats.setup_seconds:,.1f} s): "
            f"{stats.rate():,.0f} entries/s; loaders' time: generating "
            f"{stats.generate_seconds:,.1f} s, post_entries {stats.post_seconds:,.1f} s "
            f"(slowest call {stats.slowest_batch:.2f} s)"
        )
    return stats


def load_worker(
    url: str,
    scale_name: str,
    scratch: str,
    todo: list[int],
    number: int,
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """One loader process: post the entries of the investigations `todo`, 1,000 per call, as
    their writers (the beamline's API key, the participants)."""
    with reporting(messages, number):
        catalogue = LogbookPlan(SCALES[scale_name])
        services = build_services(settings_for(url, Path(scratch)))
        try:
            keys = loader_key_ids(services.engine)
            limits = services.logbook_limits
            for index in todo:
                plan = catalogue.investigations[index]
                t0 = time.perf_counter()
                batches = investigation_batches(plan, keys[plan.beamline])
                generate = time.perf_counter() - t0
                for principal, entries in batches:
                    t1 = time.perf_counter()
                    caller = Caller(principal, source=SOURCE)
                    _, created = logbook_service.post_entries(
                        services.store, caller, entries, limits
                    )
                    post = time.perf_counter() - t1
                    messages.put(("batch", number, len(entries), created, generate, post))
                    generate = 0.0
        finally:
            services.close()


def investigation_batches(
    plan: InvestigationPlan, key_id: str
) -> list[tuple[Principal, list[logbook_service.EntryInput]]]:
    """An investigation's entries as posts of at most 1,000, each by one writer."""
    by_author: dict[str, list[logbook_service.EntryInput]] = {}
    for entry in plan_entries(plan):
        by_author.setdefault(entry.author, []).append(entry_input(plan, entry))
    local_contacts = {u for u, role in plan.participants if role is Role.LOCAL_CONTACT}
    batches = []
    for author, entries in by_author.items():
        if author == "":
            principal = Principal(
                PrincipalKind.API_KEY, instrument=plan.beamline, credential_id=key_id
            )
        else:
            principal = Principal(
                PrincipalKind.USER,
                username=author,
                scientist_of=frozenset({plan.beamline})
                if author in local_contacts
                else frozenset(),
            )
        for start in range(0, len(entries), BULK):
            batches.append((principal, entries[start : start + BULK]))
    return batches


# -- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """Credentials of this run: tokens by username, posting keys, the live stream's people."""

    tokens: dict[str, str]
    posting: list[tuple[str, str, UUID]]  # (beamline, API key, investigation id)
    live_key: str  # an API key of the live investigation's beamline


def prepare_access(
    services: Services, catalogue: LogbookPlan, usernames: set[str], posters: int
) -> Access:
    """Fresh tokens (valid for a day) and API keys for this run, issued as the operator."""
    expires = datetime.now(UTC) + timedelta(days=1)
    tokens = {
        username: identity.issue_token(services.store, CLI, username, SOURCE, expires).token
        for username in sorted(usernames | {LIVE_WRITER, LIVE_FOLLOWER})
    }
    posting = []
    for beamline in POSTING_BEAMLINES[:posters]:
        key = instruments.issue_api_key(services.store, CLI, beamline, SOURCE, expires).token
        posting.append((beamline, key, posting_investigation(beamline)[2]))
    live_key = instruments.issue_api_key(
        services.store, CLI, POSTING_BEAMLINES[0], SOURCE + " live", expires
    ).token
    return Access(tokens, posting, live_key)


# -- read requests ------------------------------------------------------------------------------


_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\w+")


def entry_words(item: dict[str, Any]) -> list[str]:
    """The words of an entry's text and rich text, lower-cased."""
    content = item.get("content") or {}
    rich = html.unescape(_TAG.sub(" ", content.get("html") or ""))
    return [w.lower() for w in _WORD.findall(f"{content.get('text') or ''} {rich}")]


def matches(words: list[str], term: Term) -> bool:
    """Whether the words hold the term (a word, a phrase or a prefix)."""
    if term.prefix:
        return any(w.startswith(term.words[0]) for w in words)
    n = len(term.words)
    return any(tuple(words[i : i + n]) == term.words for i in range(len(words) - n + 1))


@dataclass(frozen=True, slots=True)
class Expect:
    """How a good answer looks."""

    kind: str  # "page" or "timeline"
    items: int | None = None  # exactly this many items
    min_items: int = 0
    total: int | None = None  # exactly this total
    investigation: str | None = None  # every own entry belongs to it
    query: str | None = None  # every entry matches this full-text query

    def check(self, response: httpx.Response) -> str | None:
        """Why the answer is wrong, or None when it is what the plan says it must be."""
        body = json_object(response)
        if isinstance(body, str):
            return body
        if self.kind == "timeline":
            total, days = body.get("total"), body.get("days")
            if not isinstance(days, list) or not days:
                return f"no days: {str(body)[:200]}"
            if total != self.total:
                return f"timeline total {total}, expected {self.total}"
            if (
                sum(day["total"] for day in days) != total
                or sum(body["categories"].values()) != total
            ):
                return "the days' or the categories' counts do not add up to the total"
            return None
        items, total = body.get("items"), body.get("total")
        if not isinstance(items, list) or not isinstance(total, int):
            return f"not a page (items, total): {str(body)[:200]}"
        if self.items is not None and len(items) != self.items:
            return f"{len(items)} items, expected {self.items}"
        if len(items) < self.min_items:
            return f"{len(items)} items, expected at least {self.min_items}"
        if self.total is not None and total != self.total:
            return f"total {total}, expected {self.total}"
        times = [parse_time(item["time"]) for item in items]
        if times != sorted(times, reverse=True):
            return "items are not newest first"
        if self.investigation is not None:
            strays = [
                item["id"]
                for item in items
                if item["investigation_id"] != self.investigation and item["kind"] != "broadcast"
            ]
            if strays:
                return f"entries of another logbook: {strays[:3]}"
        if self.query is not None:
            terms = [t for t in parse_text_query(self.query) if not t.negated]
            for item in items:
                words = entry_words(item)
                if not all(matches(words, term) for term in terms):
                    return f"entry {item['id']} does not match {self.query!r}: {item['content']}"
        return None


def read_endpoints(catalogue: LogbookPlan, tokens: dict[str, str]) -> list[Endpoint]:
    """The read request kinds, over random investigations and beamlines (seeded)."""
    scale = catalogue.scale
    rng = random.Random(4)
    sampled = rng.sample(catalogue.investigations, scale.sampled)
    pages, timelines = [], []
    for plan in sampled:
        token = tokens[plan.principal_investigator]
        expected = catalogue.expected_total(plan)
        investigation = str(plan.investigation_id)
        pages.append(
            Probe(
                f"{LOGBOOK}?{urlencode({'investigation': investigation, 'limit': PAGE})}",
                token,
                Expect("page", items=PAGE, total=expected, investigation=investigation).check,
                "page",
            )
        )
        timelines.append(
            Probe(
                f"{LOGBOOK}/timeline?{urlencode({'investigation': investigation})}",
                token,
                Expect("timeline", total=expected).check,
                "timeline",
            )
        )
    now = datetime.now(UTC)
    staff, members = [], []
    for beamline, _ in catalogue.beamlines:
        on_beamline = catalogue.on_beamline(beamline)
        scientist = scientists_of(beamline)[0]
        member = rng.choice(on_beamline).principal_investigator
        readable = sum(1 for p in on_beamline if p.is_participant(member) or p.release_date <= now)
        for kind, query in TEXT_QUERIES:
            path = f"{LOGBOOK}?{urlencode({'instrument': beamline, 'q': query, 'limit': PAGE})}"
            # "quench" is written once in each investigation and nowhere else.
            rare = kind == "rare"
            staff.append(
                Probe(
                    path,
                    tokens[scientist],
                    Expect(
                        "page",
                        items=min(PAGE, len(on_beamline)) if rare else PAGE,
                        total=len(on_beamline) if rare else None,
                        query=query,
                    ).check,
                    kind,
                )
            )
            members.append(
                Probe(
                    path,
                    tokens[member],
                    Expect(
                        "page",
                        min_items=1,
                        total=readable if rare else None,
                        query=query,
                    ).check,
                    kind,
                )
            )
    rng.shuffle(staff)
    rng.shuffle(members)
    return [
        Endpoint(
            "page",
            f"newest page ({PAGE}) of an investigation's logbook, as a participant",
            tuple(pages),
            TARGET_QUERY_P95_MS,
        ),
        Endpoint(
            "text",
            "full text across a beamline, as its instrument scientist",
            tuple(staff),
            TARGET_QUERY_P95_MS,
        ),
        Endpoint(
            "text-member",
            "full text across a beamline, as a participant (not staff)",
            tuple(members),
            None,
        ),
        Endpoint(
            "timeline",
            "per-day timeline counts of an investigation, as a participant",
            tuple(timelines),
            TARGET_QUERY_P95_MS,
        ),
    ]


def needed_users(catalogue: LogbookPlan) -> set[str]:
    """Everyone the read requests act as (the same seeded choices as `read_endpoints`)."""
    recorder: dict[str, str] = _TokenRecorder()
    read_endpoints(catalogue, recorder)
    return set(recorder)


class _TokenRecorder(dict[str, str]):
    """A token lookup that notes who is asked for."""

    def __missing__(self, username: str) -> str:
        self[username] = ""
        return ""


# -- bulk posting -------------------------------------------------------------------------------


@dataclass(slots=True)
class Posting:
    """The measured bulk posts."""

    clients: int
    entries: int = 0  # entries created
    latencies: list[float] = field(default_factory=list)  # seconds per request
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Entries created per second over the wall time."""
        return self.entries / max(self.seconds, 1e-9)

    @property
    def met(self) -> bool:
        """At or above the target, with no failure."""
        return self.rate >= TARGET_POST_RATE and not self.failures


def posting_bodies(beamline: str, investigation_id: UUID, run: str, batches: int) -> list[bytes]:
    """A control system's requests: `batches` bulk posts of 1,000 notifications each."""
    rng = random.Random(f"{run}:{beamline}")
    session = Session(rng, beamline, "MX", "BENCH-POST")
    categories = [c for c, _ in NOTIFICATION_CATEGORIES]
    weights = [w for _, w in NOTIFICATION_CATEGORIES]
    machine = control_machine(beamline)
    bodies = []
    for b in range(batches):
        items = []
        for k in range(BULK):
            category = rng.choices(categories, weights)[0]
            items.append(
                {
                    "id": f"bliss:{beamline.lower()}:{run}:{b * BULK + k:07d}",
                    "investigation_id": str(investigation_id),
                    "category": category.value,
                    "text": session.notification(category),
                    "software": SOFTWARE,
                    "machine": machine,
                }
            )
        bodies.append(json.dumps({"entries": items}, separators=(",", ":")).encode())
    return bodies


def posting_client(
    base_url: str,
    beamline: str,
    key: str,
    investigation_id: UUID,
    run: str,
    batches: int,
    barrier: Any,
    results: multiprocessing.Queue[tuple[int, list[float], list[str], float, float]],
) -> None:
    """One beamline's control system posting its bulk requests back to back."""
    created, latencies, failures = 0, [], []
    first = last = float("nan")
    try:
        # One more than timed: the first is a warm-up (connection, the workers' first post).
        warmup, *bodies = posting_bodies(beamline, investigation_id, run, batches + 1)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base_url, timeout=300) as client:
            response = client.post(NOTIFICATIONS, content=warmup, headers=headers)
            if response.status_code != 200:
                failures.append(
                    f"{beamline}: warm-up: HTTP {response.status_code}: {response.text}"
                )
            barrier.wait(timeout=120)
            first = time.perf_counter()
            for body in bodies:
                t0 = time.perf_counter()
                try:
                    response = client.post(NOTIFICATIONS, content=body, headers=headers)
                except httpx.HTTPError as error:
                    failures.append(f"{beamline}: {type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - t0
                answer = response.json() if response.status_code == 200 else {}
                if answer.get("created") != BULK or len(answer.get("ids", ())) != BULK:
                    failures.append(
                        f"{beamline}: HTTP {response.status_code}: {response.text[:200]}"
                    )
                    continue
                created += BULK
                latencies.append(elapsed)
            last = time.perf_counter()
    except Exception as error:
        failures.append(f"{beamline}: the client failed: {type(error).__name__}: {error}")
        with contextlib.suppress(Exception):
            barrier.abort()  # the others stop waiting for this one
    results.put((created, latencies, failures, first, last))


def measure_posting(base_url: str, access: Access, total: int) -> Posting:
    """Bulk posts of 1,000 notifications from one process per posting API key, at once."""
    clients = len(access.posting)
    batches = max(1, round(total / BULK / clients))
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    barrier = multiprocessing.get_context("fork").Barrier(clients)
    answers, lost = in_processes(
        posting_client,
        [
            (base_url, beamline, key, investigation_id, run, batches, barrier)
            for beamline, key, investigation_id in access.posting
        ],
        "posting",
    )
    posting = Posting(clients)
    for created, latencies, failures, _, _ in answers:
        posting.entries += created
        posting.latencies += latencies
        posting.failures += failures
    posting.failures += lost
    # A client that did not get to post has NaN times.
    posting.seconds = wall_time([(first, last) for *_, first, last in answers])
    return posting


# -- live delivery ------------------------------------------------------------------------------


@dataclass(slots=True)
class Live:
    """The timed live deliveries."""

    latencies: list[float] = field(default_factory=list)  # seconds
    failures: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """p95 within the target, nothing lost."""
        return percentile(self.latencies, 95) <= TARGET_LIVE_P95_MS and not self.failures


def follow_stream(
    base_url: str,
    token: str,
    investigation_id: UUID,
    prefix: str,
    expected: int,
    received: dict[str, float],
    opened: threading.Event,
    errors: list[str],
    deadline: float,
) -> None:
    """Follow the logbook's stream, noting when each of our entries arrives (SSE parsed here:
    `event`/`data` lines, a blank line ends a message, `:` lines are comments)."""
    try:
        timeout = httpx.Timeout(10, read=30)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=base_url, headers=headers, timeout=timeout) as client,
            client.stream(
                "GET", f"{LOGBOOK}/stream", params={"investigation": str(investigation_id)}
            ) as response,
        ):
            if response.status_code != 200 or not response.headers.get(
                "content-type", ""
            ).startswith("text/event-stream"):
                response.read()
                errors.append(f"stream: HTTP {response.status_code}: {response.text[:200]}")
                return
            event, data = "message", []
            for line in response.iter_lines():
                arrived = time.perf_counter()
                if line == "":
                    if data and event == "entry":
                        entry = json.loads("\n".join(data))
                        client_id = entry.get("client_id") or ""
                        if client_id.startswith(prefix) and client_id not in received:
                            received[client_id] = arrived
                    event, data = "message", []
                    if len(received) >= expected:
                        return
                elif line.startswith(":"):
                    if line.startswith(": following from position"):
                        opened.set()
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                if time.perf_counter() > deadline:
                    return
    except Exception as error:
        errors.append(f"stream: {type(error).__name__}: {error}")
    finally:
        opened.set()


def measure_live(base_url: str, access: Access, samples: int) -> Live:
    """A participant follows the live investigation; its PI and its beamline's API key post
    single entries, a few a second; latency = received - just before the POST."""
    _, _, investigation_id = live_investigation()
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    prefix = f"live:{run}:"
    count = samples + LIVE_WARMUP
    received: dict[str, float] = {}
    sent: dict[str, float] = {}
    errors: list[str] = []
    opened = threading.Event()
    deadline = time.perf_counter() + count * 0.4 + 60
    follower = threading.Thread(
        target=follow_stream,
        args=(
            base_url,
            access.tokens[LIVE_FOLLOWER],
            investigation_id,
            prefix,
            count,
            received,
            opened,
            errors,
            deadline,
        ),
        name="sse-follower",
        daemon=True,
    )
    follower.start()
    live = Live()
    if not opened.wait(30) or errors:
        live.failures += errors or ["the stream did not open within 30 s"]
        return live
    rng = random.Random(5)
    writer_headers = {"Authorization": f"Bearer {access.tokens[LIVE_WRITER]}"}
    machine_headers = {"Authorization": f"Bearer {access.live_key}"}
    with (
        httpx.Client(base_url=base_url, headers=writer_headers, timeout=30) as writer,
        httpx.Client(base_url=base_url, headers=machine_headers, timeout=30) as machine,
    ):
        writer.get("/health")
        machine.get("/health")
        for n in range(count):
            client_id = f"{prefix}{n:05d}"
            if n % 2 == 0:
                client, body = (
                    writer,
                    {
                        "investigation_id": str(investigation_id),
                        "id": client_id,
                        "category": "comment",
                        "text": f"Live note {n}: crystal {n // 2} centred, collecting",
                    },
                )
            else:
                client, body = (
                    machine,
                    {
                        "kind": "notification",
                        "category": "info",
                        "investigation_id": str(investigation_id),
                        "id": client_id,
                        "text": f"Scan {n} started",
                        "software": SOFTWARE,
                    },
                )
            sent[client_id] = time.perf_counter()
            try:
                response = client.post(ENTRIES, json=body)
            except httpx.HTTPError as error:
                live.failures.append(f"POST {client_id}: {type(error).__name__}: {error}")
                continue
            if response.status_code != 201:
                live.failures.append(
                    f"POST {client_id}: HTTP {response.status_code}: {response.text[:200]}"
                )
            time.sleep(rng.uniform(0.15, 0.35))
    follower.join(timeout=max(1.0, min(30.0, deadline - time.perf_counter())))
    live.failures += errors
    for n in range(count):
        client_id = f"{prefix}{n:05d}"
        if client_id not in received:
            live.failures.append(f"{client_id} posted but never received on the stream")
        elif n >= LIVE_WARMUP and client_id in sent:
            live.latencies.append(received[client_id] - sent[client_id])
    return live


# -- the run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    """Everything one run measured."""

    reads: list[Measurement]
    posting: Posting
    live: Live

    def failed(self) -> bool:
        """Whether any answer was wrong."""
        return bool(
            any(m.failures for m in self.reads) or self.posting.failures or self.live.failures
        )


def measure(server: Server, scale: Scale, requests: int, clients: int, posters: int) -> Results:
    """Start the service, then measure reads, bulk posting and live delivery."""
    url = server.database_url(scale.database)
    catalogue = LogbookPlan(scale)
    with tempfile.TemporaryDirectory(prefix="bench-logbook-") as scratch:
        services = build_services(settings_for(url, Path(scratch)))
        try:
            access = prepare_access(services, catalogue, needed_users(catalogue), posters)
        finally:
            services.close()
        with service(url, 2, "logbook", Path(scratch)) as base_url:
            endpoints = read_endpoints(catalogue, access.tokens)
            reads = []
            for endpoint in endpoints:
                warm_up(base_url, endpoint, scale.warmup)
                measurement = run_clients(base_url, endpoint, requests, clients)
                reads.append(measurement)
                report_read(measurement)
            log(
                f"bulk posting: {len(access.posting)} clients, about {scale.posted:,} entries in "
                f"posts of {BULK:,} ..."
            )
            posting = measure_posting(base_url, access, scale.posted)
            report_posting(posting)
            log(f"live delivery: {scale.live_samples} entries posted while a client follows ...")
            live = measure_live(base_url, access, scale.live_samples)
            report_live(live)
    return Results(reads, posting, live)


def report_read(m: Measurement) -> None:
    """One read endpoint's line (and, for full text, each kind of query's), first failures."""
    target = "" if m.met is None else ("  PASS" if m.met else "  MISS")
    print(
        f"  {m.endpoint.label:<66} p50 {m.percentile(50):6.1f}  p95 {m.percentile(95):6.1f}  "
        f"p99 {m.percentile(99):6.1f} ms  {m.rate:6,.0f} req/s  {len(m.failures)} failed{target}",
        flush=True,
    )
    if m.endpoint.key.startswith("text"):
        for kind, query in TEXT_QUERIES:
            print(
                f"      {kind:<7} {query:<14} p50 {m.percentile(50, kind):6.1f}  "
                f"p95 {m.percentile(95, kind):6.1f} ms",
                flush=True,
            )
    print_failures(dict.fromkeys(m.failures))


def report_posting(p: Posting) -> None:
    """The bulk posting line."""
    print(
        f"  bulk posting: {p.entries:,} entries in {p.seconds:.1f} s = {p.rate:,.0f} entries/s "
        f"({p.clients} clients; a request of {BULK:,}: p50 {percentile(p.latencies, 50):.0f}, "
        f"p95 {percentile(p.latencies, 95):.0f} ms)  {len(p.failures)} failed  "
        f"{'PASS' if p.met else 'MISS'}",
        flush=True,
    )
    print_failures(p.failures)


def report_live(live: Live) -> None:
    """The live delivery line."""
    values = live.latencies
    print(
        f"  live delivery (post -> received), {len(values)} entries: p50 "
        f"{percentile(values, 50):.1f}  p95 {percentile(values, 95):.1f}  p99 "
        f"{percentile(values, 99):.1f}  max {max(values, default=0) * 1000:.1f} ms  "
        f"{len(live.failures)} failed  {'PASS' if live.met else 'MISS'}",
        flush=True,
    )
    print_failures(live.failures)


def table(results: Results) -> str:
    """The figures against their targets, as a Markdown table."""
    reads = {m.endpoint.key: m for m in results.reads}
    posting, live = results.posting, results.live
    lines = [
        "| figure | measured | target | |",
        "| --- | ---: | --- | --- |",
        f"| 1. bulk posting, {BULK:,} a request, {posting.clients} API keys at once | "
        f"{posting.rate:,.0f} entries/s (request p95 {percentile(posting.latencies, 95):,.0f} ms)"
        f" | ≥ {TARGET_POST_RATE:,.0f} entries/s | {verdict(posting.met)} |",
    ]
    for number, key in (("2.", "page"), ("3.", "text"), ("", "text-member"), ("4.", "timeline")):
        m = reads[key]
        target = "none" if m.endpoint.target_ms is None else f"p95 ≤ {m.endpoint.target_ms:.0f} ms"
        lines.append(
            f"| {number} {m.endpoint.label} | p95 {m.percentile(95):.1f} ms (p50 "
            f"{m.percentile(50):.1f}, p99 {m.percentile(99):.1f}; {m.rate:,.0f} req/s) | "
            f"{target} | {verdict(m.met)} |"
        )
    lines.append(
        f"| 5. live delivery, post → received over SSE | p95 {percentile(live.latencies, 95):.1f}"
        f" ms (p50 {percentile(live.latencies, 50):.1f}, {len(live.latencies)} entries) | "
        f"p95 ≤ {TARGET_LIVE_P95_MS:.0f} ms | {verdict(live.met)} |"
    )
    return "\n".join(lines).replace("|  ", "| ")


def text_table(results: Results) -> str:
    """The full-text p95 per kind of query, as a Markdown table."""
    reads = {m.endpoint.key: m for m in results.reads}
    lines = [
        "| query | p95 ms, instrument scientist | p95 ms, participant |",
        "| --- | ---: | ---: |",
    ]
    for kind, query in TEXT_QUERIES:
        lines.append(
            f"| {kind}: `{query}` | {reads['text'].percentile(95, kind):.1f} | "
            f"{reads['text-member'].percentile(95, kind):.1f} |"
        )
    return "\n".join(lines)


# -- recording -----------------------------------------------------------------------------------


def session_line(stats: dict[str, Any]) -> str:
    """How the load session of the database measured went."""
    seconds = max(float(stats.get("seconds", 0)) - float(stats.get("setup_seconds", 0)), 1e-9)
    return (
        f"- load session: {stats.get('entries', 0):,} entries (resumed after "
        f"{stats.get('resumed_from', 0):,}; {stats.get('existing', 0):,} posted again) in "
        f"{stats.get('batches', 0):,} `post_entries` calls of up to {BULK:,} from "
        f"{stats.get('loaders')} processes: {seconds:,.0f} s ({seconds / 60:,.1f} min), "
        f"{stats.get('entries', 0) / seconds:,.0f} entries/s; setup (accounts, investigations) "
        f"{stats.get('setup_seconds', 0):,.0f} s; then VACUUM (ANALYZE) "
        f"{stats.get('vacuum_seconds', 0):,.0f} s"
    )


DATA_DESCRIPTION = """\
Run it with `.venv/bin/python benchmarks/logbook.py [--quick] [--record]`. The first run
loads the logbook into a persistent PostgreSQL database (`catalogue_bench_logbook`,
`--quick`: `catalogue_bench_logbook_quick`) that later runs reuse; `--reload` loads it again.
No peer library exists for this workload, so there is no ratio: the figures stand against
the issue's targets.

How the data is generated and loaded (full scale): 40 beamlines (ESRF names), 50
investigations each (2,000; one every 6 days on each beamline from 2026-01-05, 2 to 5 days
long; release date end + 3 years), 800 visitor accounts (each investigation: a principal
investigator, one or two co-investigators, a collaborator) and two scientists per beamline
(one the local contact). 10,000,000 entries: 60 facility broadcasts, and per investigation
between 0.3x and 1.7x of 5,000 entries spread over its period, about 90 % notifications
(commandLine 32 %, info 44 %, debug 19 %, error 5 %: Bliss-like lines with scan numbers,
motors, samples, detectors) and 10 % annotations by the participants who may write (30 %
of them Markdown; 20 % tagged with one of four beamline tags; 30 % of the errors tagged
`problem`). Each investigation holds at least one entry matching each full-text query; the
rare word `quench` is in exactly one entry per investigation. Generation is deterministic
(seeded per investigation) and every entry has a client id, so a load resumes by posting
the unfinished investigations again. Accounts, beamlines, API keys, tags, investigations and
participants are made through the portal services as the operator; the entries through
`catalogue.portal.logbook.post_entries` (access checks, deciders, `EventStore.append` with
the inline projections: the service's write path), 1,000 per call as their writers (the
beamline's API key, or each participant), from 2 processes. Then `VACUUM (ANALYZE)`.

How it is measured: `catalogue serve` with `CATALOGUE_WORKERS=2` (log level warning),
fresh tokens and API keys for the run. Reads: warm-up requests, then timed requests from 2
client processes (httpx, keep-alive, back to back): the newest page (50) of 200 random
investigations as their principal investigator (answer checked: 50 items, newest first, of
that logbook, the exact total with broadcasts), full text across each beamline with
`scan`, `timeout`, `quench`, `"beam lost"`, `cryo*` as its scientist (every item must
contain the terms; `quench` must total one per investigation) and as a participant, and
each sampled investigation's timeline (exact totals). Bulk posting: 4 processes, each with
its own API key on its own beamline (`BENCH-1`..`BENCH-4`, outside the measured logbooks),
post 1,000 notifications a request back to back (bodies prepared beforehand; one untimed
warm-up request each first); rate = entries created over the wall time. Live delivery: a
participant follows the stream of an investigation of its own (`BENCH-LIVE`); its PI and
its beamline's API key post one entry every 0.15-0.35 s in turn; latency = arrival of the
SSE message - just before the POST (first 5 not counted; 200 timed). The reads run first,
then the bulk posting, then the live delivery. Everything runs on the same 2-CPU machine
as the service and PostgreSQL.
"""


def record(results: Results, lines: list[str], scale: Scale, clients: int) -> None:
    """Append a dated run under the section (created with its description if absent)."""
    failures = [f for m in results.reads for f in m.failures[:5]]
    failures += results.posting.failures[:5] + results.live.failures[:5]
    record_run(
        "logbook.py",
        scale is QUICK,
        [
            *lines,
            f"- read clients: {clients} processes; bulk posting: {results.posting.clients} "
            f"processes; command: {command('logbook.py')}",
        ],
        [table(results), text_table(results)],
        ("Failures (first five per figure):", failures),
        (SECTION, DATA_DESCRIPTION),
    )


def main(argv: list[str] | None = None) -> int:
    """Load the logbook if needed, then measure posting, reads and live delivery."""
    parser = arguments(__doc__, "200,000 entries, fewer requests", persistent=True)
    parser.add_argument("--requests", type=int, help="timed requests per read endpoint")
    parser.add_argument("--clients", type=int, default=2, help="read client processes (2)")
    parser.add_argument(
        "--posters",
        type=int,
        default=len(POSTING_BEAMLINES),
        choices=range(1, len(POSTING_BEAMLINES) + 1),
        help=f"bulk posting clients ({len(POSTING_BEAMLINES)})",
    )
    parser.add_argument("--loaders", type=int, default=2, help="loader processes (2)")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    unwind_on_sigterm()  # the service subprocess is stopped on the way out

    server = Server(server_url(), MARKER_KEY)
    revision = code_revision()
    load_record = load(server, scale, max(1, args.loaders), args.reload)
    session = session_line(load_record.get("stats", {}))
    lines = machine_lines(server, revision) + load_lines(load_record, session)
    print("\n".join(lines), flush=True)
    if args.load_only:
        return 0
    results = measure(server, scale, args.requests or scale.requests, args.clients, args.posters)
    print()
    print(table(results))
    print()
    print(text_table(results))
    if args.record:
        record(results, lines, scale, args.clients)
    return 1 if results.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
