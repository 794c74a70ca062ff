"""What the benchmark scripts share: the PostgreSQL server and its persistent benchmark
databases, `catalogue serve` as a subprocess, timed HTTP clients in processes of their own,
percentiles, the facility the data is generated for, and the lines and `--record` entries
of `RESULTS.md`.

The scripts run as `python benchmarks/<script>.py`, so this directory is first on
`sys.path` and they import it as `harness`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Self
from uuid import UUID

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from catalogue.domain.investigations import default_visit_id, investigation_id_for
from catalogue.settings import Settings

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = Path(__file__).with_name("RESULTS.md")
#: The `catalogue` command of this virtualenv.
CATALOGUE = Path(sys.executable).with_name("catalogue")


# -- the facility the data is generated for ------------------------------------------------------

# (name, family); a family decides the technique, the proposal prefix and the detector.
BEAMLINES: tuple[tuple[str, str], ...] = (
    ("ID23-1", "MX"), ("ID19", "TOMO"), ("BM29", "SAXS"), ("ID24", "XAS"),
    ("ID23-2", "MX"), ("BM05", "TOMO"), ("ID02", "SAXS"), ("BM23", "XAS"),
    ("ID30A-1", "MX"), ("ID16A", "TOMO"), ("ID13", "SAXS"), ("ID21", "XAS"),
    ("ID30A-3", "MX"), ("ID16B", "TOMO"), ("ID09", "SAXS"), ("ID26", "XAS"),
    ("ID30B", "MX"), ("BM18", "TOMO"), ("BM26", "SAXS"), ("BM08", "XAS"),
    ("BM07", "MX"), ("ID11", "TOMO"), ("ID10", "SAXS"), ("BM16", "XAS"),
    ("ID29", "MX"), ("ID15A", "TOMO"), ("ID20", "XAS"), ("ID12", "XAS"),
    ("BM30", "MX"), ("ID17", "TOMO"), ("ID22", "XAS"), ("ID31", "XAS"),
    ("ID30A-2", "MX"), ("ID01", "XAS"), ("ID03", "XAS"), ("ID06", "XAS"),
    ("BM14", "MX"), ("ID15B", "XAS"), ("ID18", "XAS"), ("ID27", "XAS"),
)  # fmt: skip
PROPOSAL_PREFIX = {"MX": "MX", "TOMO": "ES", "SAXS": "LS", "XAS": "HC"}
TECHNIQUE = {"MX": "MX", "TOMO": "TOMO", "SAXS": "BIOSAXS", "XAS": "XAS"}
DETECTOR = {"MX": "eiger2_9m", "TOMO": "pco_edge", "SAXS": "pilatus2m", "XAS": "xspress3"}
FILL_MODES = ("7/8+1", "uniform", "16-bunch", "4-bunch")
#: The release date is the end of an investigation plus this.
EMBARGO = timedelta(days=3 * 365)


@dataclass(frozen=True, slots=True)
class GeneratedInvestigation:
    """One generated investigation as the facility names it: its proposal (its family's prefix,
    1000 + its index), its visit on its beamline, its id; a benchmark adds what it plans."""

    index: int
    beamline: str
    family: str
    proposal: str
    visit_id: str
    investigation_id: UUID
    start: datetime
    end: datetime

    @classmethod
    def named(
        cls, index: int, beamline: str, family: str, start: datetime, end: datetime, **more: Any
    ) -> Self:
        """Investigation `index` on `beamline` from `start` to `end`; `more`: the fields the
        benchmark's subclass adds."""
        proposal = f"{PROPOSAL_PREFIX[family]}-{1000 + index}"
        visit_id = default_visit_id(beamline, start)
        investigation_id = investigation_id_for(proposal, visit_id)
        return cls(
            index, beamline, family, proposal, visit_id, investigation_id, start, end, **more
        )


def scientists_of(beamline: str) -> tuple[str, str]:
    """The beamline's two instrument scientists (also its investigations' local contacts)."""
    name = beamline.lower()
    return f"{name}-sci1", f"{name}-sci2"


def visitor(number: int) -> str:
    """A user who takes part in investigations."""
    return f"visitor{number:04d}"


def settings_for(url: str, data_dir: Path) -> Settings:
    """The service's settings on a benchmark database (its files in a scratch directory)."""
    return Settings(database_url=url, data_dir=data_dir)


def spread(total: int, parts: int) -> list[int]:
    """`total` split over `parts` unevenly (0.3x to 1.7x the mean), deterministically."""
    weights = [0.3 + 1.4 * ((i * 7919) % 1000) / 1000 for i in range(parts)]
    total_weight = sum(weights)
    counts, cumulative, assigned = [], 0.0, 0
    for weight in weights:
        cumulative += weight
        upto = round(total * cumulative / total_weight)
        counts.append(upto - assigned)
        assigned = upto
    return counts


# -- running a benchmark ---------------------------------------------------------------------------


def arguments(doc: str | None, quick: str, *, persistent: bool) -> argparse.ArgumentParser:
    """The flags every benchmark takes: `--quick` (`quick` says what it does), `--reload` and
    `--load-only` for one with a persistent database, and `--record`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    if persistent:
        parser.add_argument(
            "--reload", action="store_true", help="drop the database and load again"
        )
        parser.add_argument("--load-only", action="store_true", help="load, do not measure")
    parser.add_argument("--record", action="store_true", help=f"append to {RESULTS_FILE.name}")
    return parser


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def unwind_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so that the `finally` blocks run on the way out (they
    stop the service subprocess, drop scratch databases)."""
    signal.signal(signal.SIGTERM, _terminate)


def log(message: str) -> None:
    """One timestamped line on stdout."""
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {message}", flush=True)


def utc_minute() -> str:
    """Now, to the minute, as the records show it."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Progress:
    """A rich progress bar on a terminal, a log line every 30 s otherwise."""

    def __init__(self, total: int, done: int, label: str) -> None:
        self.total, self.done, self.label = total, done, label
        self.started = time.perf_counter()
        self.first = done
        self.last_log = self.started
        self.bar: Any = None
        if sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=done)

    def advance(self, count: int, extra: str = "") -> None:
        """Count `count` more done (`extra`: more to say on the log line)."""
        self.done += count
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        elif now - self.last_log >= 30 or self.done >= self.total:
            self.last_log = now
            elapsed = now - self.started
            rate = (self.done - self.first) / max(elapsed, 1e-9)
            eta = (self.total - self.done) / rate if rate else float("inf")
            log(
                f"{self.label}: {self.done:,}/{self.total:,} ({100 * self.done / self.total:.1f} %)"
                f", {rate:,.0f}/s, elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min"
                + (f"; {extra}" if extra else "")
            )

    def close(self) -> None:
        """Stop the bar."""
        if self.bar is not None:
            self.bar.stop()


def code_revision() -> str:
    """The git commit, flagged when catalogue/ has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "catalogue"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" + uncommitted changes in catalogue/" if dirty else "")


# -- the PostgreSQL server -----------------------------------------------------------------------


def server_url() -> URL:
    """The server named by CATALOGUE_TEST_DATABASE_URL, or the local default."""
    return make_url(os.environ.get("CATALOGUE_TEST_DATABASE_URL") or DEFAULT_PG_URL)


class Server:
    """The PostgreSQL server, through an autocommit admin connection. A benchmark's persistent
    database keeps the record of its load as its comment, under `marker_key`."""

    def __init__(self, url: URL, marker_key: str = "") -> None:
        self.url = url.set(drivername="postgresql")
        self.marker_key = marker_key

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit connection to the server's maintenance database."""
        return psycopg.connect(
            self.url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        )

    def database_url(self, name: str) -> str:
        """The URL of database `name` on this server."""
        return self.url.set(database=name).render_as_string(hide_password=False)

    def exists(self, name: str) -> bool:
        """Whether database `name` exists."""
        with self.admin() as connection:
            row = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
        return row is not None

    def create(self, name: str) -> None:
        """Create database `name`."""
        with self.admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop(self, name: str) -> None:
        """Drop database `name`, disconnecting its sessions."""
        with self.admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def prepare(self, name: str, reload: bool) -> None:
        """Create database `name` if it does not exist (with `reload`, drop it first)."""
        if reload and self.exists(name):
            log(f"dropping {name}")
            self.drop(name)
        if not self.exists(name):
            log(f"creating {name}")
            self.create(name)

    def loaded(self, name: str) -> dict[str, Any] | None:
        """The record of a finished load kept as the database's comment, if any."""
        with self.admin() as connection:
            row = connection.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
        if row is None or not row[0]:
            return None
        with contextlib.suppress(ValueError):
            document = json.loads(row[0])
            record = document.get(self.marker_key) if isinstance(document, dict) else None
            if isinstance(record, dict) and record.get("complete"):
                return dict(record)
        return None

    def mark_loaded(
        self, name: str, scale: str, code: str, counts: dict[str, Any], stats: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep the record of a finished load as the database's comment; the record."""
        record = {
            "complete": True,
            "scale": scale,
            "loaded_at": utc_minute(),
            "code": code,
            "counts": counts,
            "sizes": self.sizes(name),
            "stats": stats,
        }
        text = json.dumps({self.marker_key: record}, separators=(",", ":"))
        with self.admin() as connection:
            connection.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(text)
                )
            )
        return record

    def version(self) -> str:
        """The server's version string."""
        with self.admin() as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def vacuum_analyze(self, name: str) -> float:
        """VACUUM (ANALYZE) the database: planner statistics and visibility map, as autovacuum
        would leave them on a long-lived database. The seconds it took (logged)."""
        log("VACUUM (ANALYZE) ...")
        started = time.perf_counter()
        with psycopg.connect(self.database_url(name), autocommit=True) as connection:
            connection.execute("VACUUM (ANALYZE)")
        seconds = time.perf_counter() - started
        log(f"VACUUM (ANALYZE) took {seconds:,.0f} s")
        return seconds

    def sizes(self, name: str) -> dict[str, int]:
        """Bytes of the database and of its largest tables (with their indexes)."""
        with psycopg.connect(self.database_url(name), autocommit=True) as connection:
            rows = connection.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                "ORDER BY 2 DESC LIMIT 6"
            ).fetchall()
            total = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        return {"database": int(total[0]) if total else 0} | {str(r[0]): int(r[1]) for r in rows}


# -- the service ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def service(url: str, workers: int, label: str, data_dir: Path | None = None) -> Iterator[str]:
    """`catalogue serve` with `workers` workers on a free port (attachments in `data_dir` if
    given; `label` names its log file); its base URL once healthy. Stopped on the way out."""
    port = free_port()
    env = {
        **os.environ,
        "CATALOGUE_DATABASE_URL": url,
        "CATALOGUE_WORKERS": str(workers),
        "CATALOGUE_PORT": str(port),
        "CATALOGUE_HOST": "127.0.0.1",
        # No access log: it would time the log file, not the API.
        "CATALOGUE_LOG_LEVEL": "warning",
    }
    if data_dir is not None:
        env["CATALOGUE_DATA_DIR"] = str(data_dir)
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+", prefix=f"bench-{label}-serve-", suffix=".log") as output:
        process = subprocess.Popen(
            [str(CATALOGUE), "serve"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    raise SystemExit(f"`catalogue serve` exited:\n{output.read()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    output.seek(0)
                    raise SystemExit(f"no /health after 90 s:\n{output.read()[-3000:]}")
                time.sleep(0.25)
            log(f"service up on {base_url} with {workers} workers (pid {process.pid})")
            yield base_url
        finally:
            if process.poll() is None:
                # The service's own process group (start_new_session): its workers too.
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


# -- timed requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One request: its path, the bearer token it carries, why its answer is wrong (None when
    it is right), and its group in the report."""

    path: str
    token: str
    check: Callable[[httpx.Response], str | None]
    group: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One timed request kind: the requests it rotates over, and its p95 target."""

    key: str
    label: str
    probes: tuple[Probe, ...]
    target_ms: float | None  # None: information only


@dataclass(slots=True)
class Measurement:
    """The timed requests of one endpoint."""

    endpoint: Endpoint
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (group, seconds)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time from the first request to the last

    def percentile(self, p: int, group: str | None = None) -> float:
        """The p-th percentile latency in ms (of one group, if given)."""
        return percentile([s for g, s in self.latencies if group is None or g == group], p)

    @property
    def rate(self) -> float:
        """Requests per second over the wall time."""
        return (len(self.latencies) + len(self.failures)) / max(self.seconds, 1e-9)

    @property
    def met(self) -> bool | None:
        """p95 within the target and no failure (None: no target)."""
        if self.endpoint.target_ms is None:
            return None
        return self.percentile(95) <= self.endpoint.target_ms and not self.failures


def percentile(values: Sequence[float], p: int) -> float:
    """The p-th percentile of seconds, in ms."""
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def json_object(response: httpx.Response) -> dict[str, Any] | str:
    """The answer's JSON object, or why it is not a 200 answer with one."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    if not isinstance(body, dict):
        return f"not an object: {str(body)[:200]}"
    return body


def _authorization(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_process(
    base_url: str,
    endpoint: Endpoint,
    count: int,
    offset: int,
    start_at: float,
    results: multiprocessing.Queue[tuple[list[tuple[str, float]], list[str], float, float]],
) -> None:
    """One load client: `count` requests in a row on one keep-alive connection."""
    latencies: list[tuple[str, float]] = []
    failures: list[str] = []
    probes = endpoint.probes
    headers = {token: _authorization(token) for token in {p.token for p in probes}}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        first_probe = probes[offset % len(probes)]
        client.get(first_probe.path, headers=headers[first_probe.token])  # open the connection
        time.sleep(max(0.0, start_at - time.time()))
        first = time.perf_counter()
        for i in range(count):
            probe = probes[(offset + i) % len(probes)]
            t0 = time.perf_counter()
            try:
                response = client.get(probe.path, headers=headers[probe.token])
            except httpx.HTTPError as error:
                failures.append(f"{probe.path}: {type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - t0
            problem = probe.check(response)
            if problem is None:
                latencies.append((probe.group, elapsed))
            else:
                failures.append(f"{probe.path}: {problem}")
        last = time.perf_counter()
    # perf_counter is CLOCK_MONOTONIC, shared by the processes of one machine.
    results.put((latencies, failures, first, last))


def in_processes(
    target: Callable[..., None], calls: Sequence[tuple[Any, ...]], what: str
) -> tuple[list[Any], list[str]]:
    """`target(*args, results)` in a forked process for each `args` of `calls`, at once; what
    they put on `results` (one answer each), and a failure if one gave none within an hour."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[Any] = context.Queue()
    processes = [context.Process(target=target, args=(*args, results)) for args in calls]
    for process in processes:
        process.start()
    answers, failures = [], []
    try:
        for _ in processes:
            answers.append(results.get(timeout=3600))
    except queue.Empty:
        failures.append(f"a {what} process gave no result within an hour")
    for process in processes:
        process.join(timeout=10)
    return answers, failures


@contextlib.contextmanager
def reporting(messages: multiprocessing.Queue[tuple[Any, ...]], number: int) -> Iterator[None]:
    """In loader process `number`: tell `run_loaders` when it is done, or why it failed."""
    try:
        yield
    except BaseException:
        messages.put(("error", number, traceback.format_exc()))
        raise
    messages.put(("done", number))


def run_loaders(
    target: Callable[..., None],
    arguments: Sequence[tuple[Any, ...]],
    on_message: Callable[[tuple[Any, ...]], None],
) -> None:
    """`target(*args, number, messages)` in a forked process for each `args` of `arguments`;
    every message they put but `done` goes to `on_message`, until each is done. A loader
    that fails or dies ends the load (the others are stopped)."""
    context = multiprocessing.get_context("fork")
    messages: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    workers = [
        context.Process(target=target, args=(*args, number, messages), name=f"loader-{number}")
        for number, args in enumerate(arguments)
    ]
    for worker in workers:
        worker.start()
    running = set(range(len(workers)))
    try:
        while running:
            try:
                message = messages.get(timeout=5)
            except queue.Empty:
                for number, worker in enumerate(workers):
                    if number in running and not worker.is_alive():
                        raise SystemExit(
                            f"loader {number} died (exit code {worker.exitcode})"
                        ) from None
                continue
            kind, number = message[0], message[1]
            if kind == "done":
                running.discard(number)
            elif kind == "error":
                raise SystemExit(f"loader {number} failed:\n{message[2]}")
            else:
                on_message(message)
    finally:
        for worker in workers:
            if worker.is_alive() and running:
                worker.terminate()
            worker.join(timeout=30)


def run_clients(base_url: str, endpoint: Endpoint, total: int, clients: int) -> Measurement:
    """`total` requests from `clients` processes at once; latencies and wall time."""
    start_at = time.time() + 0.5 + 0.1 * clients
    share = [total // clients + (1 if c < total % clients else 0) for c in range(clients)]
    answers, lost = in_processes(
        client_process,
        [(base_url, endpoint, share[c], c * 997, start_at) for c in range(clients)],
        "client",
    )
    measurement = Measurement(endpoint)
    for latencies, failures, _, _ in answers:
        measurement.latencies += latencies
        measurement.failures += failures
    measurement.failures += lost
    measurement.seconds = wall_time([(first, last) for _, _, first, last in answers])
    return measurement


def wall_time(spans: Iterable[tuple[float, float]]) -> float:
    """Seconds from the first start to the last end of the (start, end) `spans` of processes
    (perf_counter times; a NaN span, of a process that did not get to start, left out)."""
    spans = [(first, last) for first, last in spans if first == first and last == last]
    if not spans:
        return 0.0
    return max(last for _, last in spans) - min(first for first, _ in spans)


def warm_up(base_url: str, endpoint: Endpoint, count: int) -> None:
    """Untimed requests first (each answer checked too)."""
    failures = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for i in range(count):
            probe = endpoint.probes[i % len(endpoint.probes)]
            response = client.get(probe.path, headers=_authorization(probe.token))
            problem = probe.check(response)
            if problem is not None:
                failures.append(f"{probe.path}: {problem}")
    if failures:
        log(f"warm-up of {endpoint.key}: {len(failures)} bad answers, first: {failures[0]}")


def parse_time(text: str) -> datetime:
    """A time from an answer."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def verdict(met: bool | None) -> str:
    """A target's verdict in a RESULTS.md table."""
    return "information" if met is None else ("met" if met else "**not met**")


def print_failures(failures: Iterable[str]) -> None:
    """The first three failures, under a report line."""
    for failure in list(failures)[:3]:
        print(f"    failure: {failure}", flush=True)


# -- recording -----------------------------------------------------------------------------------


def machine_lines(server: Server, revision: str) -> list[str]:
    """Where and on what code the figures were measured."""
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return [
        f"- code: {revision}",
        f"- machine: `{uname}`, nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        f"- Python {platform.python_version()}, PostgreSQL {server.version()}",
    ]


def load_lines(record: dict[str, Any], session: str, counts_label: str = "") -> list[str]:
    """How the database measured was loaded: when, on what code, what it holds, `session` (the
    line on the load session), and its size."""
    counts, sizes = record.get("counts", {}), record.get("sizes", {})
    gib = {k: v / 2**30 for k, v in sizes.items()}
    largest = ", ".join(f"{k} {v:.1f}" for k, v in gib.items() if k != "database")
    return [
        f"- data: loaded {record.get('loaded_at')} on code {record.get('code')}: "
        f"{counts_label}{counts}",
        session,
        f"- database size {gib.get('database', 0):.1f} GiB (largest, GiB: {largest})",
    ]


def command(script: str) -> str:
    """The command line of this run, quoted as code."""
    return f"`python benchmarks/{script} {' '.join(sys.argv[1:])}`"


def record_run(
    script: str,
    quick: bool,
    lines: Sequence[str],
    tables: Sequence[str],
    failures: tuple[str, Sequence[str]],
    section: tuple[str, str] | None = None,
) -> None:
    """Append a dated run of `script` to RESULTS.md: its lines, tables and `failures` (a heading
    and the failures, if any). With a `section` (its heading and description), at the end of
    that section, created with its description and a run log if absent; else at the end."""
    caveat = " (--quick: not comparable with full runs)" if quick else ""
    entry = [f"#### {utc_minute()} ({script}){caveat}", "", *lines]
    for text_table in tables:
        entry += ["", text_table]
    entry.append("")
    heading, items = failures
    if items:
        entry += [heading, "", *[f"- {f}" for f in items], ""]
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else "# Benchmark results\n"
    following = -1
    if section is not None:
        title, description = section
        if title not in text:
            text = text.rstrip("\n") + f"\n\n{title}\n\n{description}\n### Run log ({script})\n"
        # The run goes at the end of this section: before the next "## " heading, if any.
        following = text.find("\n## ", text.index(title) + len(title))
    block = "\n" + "\n".join(entry)
    if following == -1:
        text = text.rstrip("\n") + "\n" + block
    else:
        text = text[:following].rstrip("\n") + "\n" + block + text[following:]
    RESULTS_FILE.write_text(text)
    print(f"recorded in {RESULTS_FILE}", flush=True)
