"""One ingest pass, and the watch loop: scan, skip what the catalogue holds, read the rest in
worker processes, record in batches, and count what became of every folder."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from catalogue.domain import ingests as ing
from catalogue.portal import ingests as recording
from catalogue.portal.execution import Caller
from catalogue.store import EventStore
from ingest.scanner import FolderScan, scan_paths
from ingest.worker import ReadOptions, Result, Running, Skipped, read_folder, read_folders

RUNNING = "running"
SKIPPED = "skipped"
#: Folders recorded per transaction.
BATCH = 200
#: Folders per worker task: fewer round trips to the workers, still an even spread.
TASK = 8


@dataclass(slots=True)
class Summary:
    """What one pass did with the folders it found."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    running: int = 0
    failed: int = 0
    #: Failed before and not yet due for another attempt.
    waiting: int = 0
    #: Files that are no dataset (master files, detector data files outside the layout).
    skipped: int = 0
    masters: int = 0
    folders: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: What became of each folder read this pass (unchanged and waiting ones are not read).
    results: list[recording.Recorded] = field(default_factory=list)

    @property
    def done(self) -> int:
        """Folders dealt with so far."""
        return (
            self.new + self.updated + self.unchanged + self.running + self.failed + self.waiting
            + self.skipped
        )  # fmt: skip

    def counts(self) -> dict[str, int]:
        """How many folders had each outcome."""
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "running": self.running,
            "failed": self.failed,
            "waiting": self.waiting,
            "skipped": self.skipped,
        }

    def line(self) -> str:
        """The summary in one line."""
        return (
            f"{self.folders} folders: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.running} running, {self.failed} failed"
            + (f", {self.waiting} waiting to retry" if self.waiting else "")
            + (f", {self.skipped} not datasets" if self.skipped else "")
            + (f"; {self.masters} master files skipped" if self.masters else "")
        )


Progress = Callable[[Summary], None]


def ingest_paths(
    store: EventStore,
    caller: Caller,
    roots: Sequence[str],
    *,
    workers: int = 1,
    options: ReadOptions | None = None,
    investigation_id: UUID | None = None,
    progress: Progress | None = None,
    retry_failures: bool = False,
) -> Summary:
    """Ingest every dataset below the roots that is new, changed or due for a retry (every
    failed one with `retry_failures`: a pass somebody asked for, not the watch loop)."""
    options = options or ReadOptions()
    summary = Summary()
    scanned = scan_paths(roots)
    summary.masters = scanned.masters
    summary.folders = len(scanned.folders)
    summary.failures.extend(scanned.problems)
    states = recording.folder_states(store, [os.path.abspath(root) for root in roots])
    due: list[FolderScan] = []
    for scan in scanned.folders:
        state = states.get(scan.path)
        if state is None:
            due.append(scan)
        elif state.status == "ingested" and state.fingerprint == scan.fingerprint:
            summary.unchanged += 1
        elif (
            not retry_failures
            and state.status == "failed"
            and state.failed_fingerprint == scan.fingerprint
            and state.retry_at is not None
            and state.retry_at > caller.now
        ):
            # Failed on these very files: left alone until its retry time (back-off).
            summary.waiting += 1
        else:
            due.append(scan)
    if progress:
        progress(summary)
    # Raw data first: a processed dataset names its raw dataset, which must be recorded.
    due.sort(key=lambda s: (s.folder is not None and s.folder.processed, s.path))
    known = {
        scan.path: recording.known_stamps(store, scan.path)
        for scan in due
        if scan.path in states and states[scan.path].dataset_id is not None
    }
    recorder = _Recorder(store, caller, summary, investigation_id, progress)
    for result in _read_all(due, known, options, workers):
        recorder.add(result)
    recorder.flush(final=True)
    return summary


def _read_all(
    due: list[FolderScan],
    known: dict[str, dict[str, ing.FileStamp]],
    options: ReadOptions,
    workers: int,
) -> Iterator[Result]:
    if workers <= 1 or len(due) <= TASK:
        for scan in due:
            yield read_folder(scan, known.get(scan.path, {}), options)
        return
    tasks = [
        [(scan, known.get(scan.path, {})) for scan in due[start : start + TASK]]
        for start in range(0, len(due), TASK)
    ]
    # Spawned, not forked: the parent holds database connections and, in the service,
    # threads; a forked child would inherit both in an undefined state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: list[Future[list[Result]]] = [
            pool.submit(read_folders, task, options) for task in tasks
        ]
        for future in futures:
            yield from future.result()


class _Recorder:
    """Collects results and records them in batches; processed data after all raw data."""

    def __init__(
        self,
        store: EventStore,
        caller: Caller,
        summary: Summary,
        investigation_id: UUID | None,
        progress: Progress | None,
    ) -> None:
        self.store = store
        self.caller = caller
        self.summary = summary
        self.investigation_id = investigation_id
        self.progress = progress
        self.raw: list[ing.FolderReading | ing.FolderFailure] = []
        self.processed: list[ing.FolderReading | ing.FolderFailure] = []
        self.last_report = 0.0

    def add(self, result: Result) -> None:
        """Queue one folder's result; record a batch when one is full."""
        if isinstance(result, Running | Skipped):
            if isinstance(result, Running):
                self.summary.running += 1
            else:
                self.summary.skipped += 1
            outcome = RUNNING if isinstance(result, Running) else SKIPPED
            self.summary.results.append(
                recording.Recorded(result.path, outcome, reason=result.reason)
            )
            self.report()
            return
        if isinstance(result, ing.FolderReading) and result.kind.value == "processed":
            self.processed.append(result)
        else:
            self.raw.append(result)
        if len(self.raw) >= BATCH:
            self.record(self.raw)
            self.raw = []

    def flush(self, *, final: bool) -> None:
        """Record what is queued: raw data, then processed data."""
        if self.raw:
            self.record(self.raw)
            self.raw = []
        for start in range(0, len(self.processed), BATCH):
            self.record(self.processed[start : start + BATCH])
        self.processed = []
        if final and self.progress:
            self.progress(self.summary)

    def record(self, items: list[ing.FolderReading | ing.FolderFailure]) -> None:
        """Record one batch and count the outcomes."""
        for outcome in recording.record(
            self.store, self.caller, items, investigation_id=self.investigation_id
        ):
            self.summary.results.append(outcome)
            if outcome.outcome == recording.NEW:
                self.summary.new += 1
            elif outcome.outcome == recording.UPDATED:
                self.summary.updated += 1
            elif outcome.outcome == recording.UNCHANGED:
                self.summary.unchanged += 1
            else:
                self.summary.failed += 1
                self.summary.failures.append((outcome.path, outcome.reason or "failed"))
        self.report(force=True)

    def report(self, *, force: bool = False) -> None:
        """Tell the progress display, at most ten times a second."""
        now = time.monotonic()
        if self.progress and (force or now - self.last_report > 0.1):
            self.last_report = now
            self.progress(self.summary)


def watch(
    store: EventStore,
    make_caller: Callable[[], Caller],
    roots: Sequence[str],
    *,
    interval_s: float,
    workers: int = 1,
    options: ReadOptions | None = None,
    investigation_id: UUID | None = None,
    report: Callable[[datetime, Summary], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Pass after pass until stopped: network file systems send no change events, so the
    tree is polled; unchanged folders cost one `stat` per file."""
    while not should_stop():
        caller = make_caller()
        summary = ingest_paths(
            store, caller, roots, workers=workers, options=options,
            investigation_id=investigation_id,
        )  # fmt: skip
        if report:
            report(caller.now, summary)
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(0.2, interval_s))
