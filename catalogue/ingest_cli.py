"""`catalogue ingest`: NeXus/HDF5 data trees into the catalogue, once or watching."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from catalogue.domain.access import OPERATOR
from catalogue.domain.investigations import investigation_id_for
from catalogue.errors import InvalidCommand
from catalogue.portal import ingests
from catalogue.portal.execution import Caller
from catalogue.services import Services, open_services
from ingest.pipeline import Summary, ingest_paths, watch
from ingest.worker import ReadOptions

out = Console()
err = Console(stderr=True)
log = logging.getLogger("catalogue.ingest")
#: How often a pass without a terminal logs its progress.
LOG_SECONDS = 5.0


def install(app: typer.Typer) -> None:
    """Add the command to the main CLI."""
    app.command("ingest")(ingest_command)


def ingest_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Data trees, dataset folders or NeXus files.")
    ] = None,
    watching: Annotated[
        bool, typer.Option("--watch", help="Walk the trees again and again (polling).")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Reading processes (default: setting).")
    ] = None,
    checksum: Annotated[
        str | None,
        typer.Option(help="md5, sha1, sha256, sha512, adler32, crc32 or none (default: setting)."),
    ] = None,
    follow_links: Annotated[
        bool, typer.Option(help="Follow external links into detector files.")
    ] = False,
    investigation: Annotated[
        str | None,
        typer.Option(
            help="For files outside the ESRF layout: the investigation, as its id or "
            "PROPOSAL/VISIT."
        ),
    ] = None,
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds between passes with --watch.")
    ] = None,
    failures: Annotated[
        bool, typer.Option("--failures", help="List the folders whose ingest failed.")
    ] = False,
) -> None:
    """Ingest finished datasets: new ones, changed ones and failed ones that are due again."""
    if failures:
        _list_failures()
        return
    if not paths:
        raise InvalidCommand("name at least one path to ingest (or --failures)", "paths")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InvalidCommand(f"no such file or directory: {missing[0]}", "paths")
    services = open_services()
    try:
        settings = services.settings
        algorithm = (checksum or settings.ingest_checksum).lower()
        if algorithm not in ("none", "md5", "sha1", "sha256", "sha512", "adler32", "crc32"):
            raise InvalidCommand(
                f"unknown checksum {algorithm!r}: md5, sha1, sha256, sha512, adler32, crc32 "
                "or none",
                "checksum",
            )
        options = ReadOptions(
            checksum=None if algorithm == "none" else algorithm,
            follow_links=follow_links,
            stale_after_s=settings.ingest_stale_hours * 3600,
            settle_s=settings.ingest_settle_seconds,
        )
        roots = [str(p.resolve()) for p in paths]
        investigation_id = _investigation(investigation)
        count = workers or settings.ingest_workers
        if watching:
            _watch(services, roots, count, options, investigation_id, interval)
            return
        summary = _one_pass(services, roots, count, options, investigation_id)
        out.print(summary.line())
        for path, reason in summary.failures[:20]:
            out.print(f"  failed: {path}: {reason}", markup=False)
        if len(summary.failures) > 20:
            out.print(f"  … {len(summary.failures) - 20} more: catalogue ingest --failures")
        if summary.failed:
            raise typer.Exit(2)
    finally:
        services.close()


def _investigation(text: str | None) -> UUID | None:
    if text is None:
        return None
    try:
        return UUID(text)
    except ValueError:
        pass
    proposal, slash, visit = text.partition("/")
    if not slash or not proposal or not visit:
        raise InvalidCommand(
            f"--investigation {text[:80]!r} is neither an id nor PROPOSAL/VISIT", "investigation"
        )
    return investigation_id_for(proposal, visit)


def _caller() -> Caller:
    return Caller(OPERATOR, source="ingest")


def _one_pass(
    services: Services,
    roots: list[str],
    workers: int,
    options: ReadOptions,
    investigation_id: UUID | None,
) -> Summary:
    with Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("scanning", total=None)
        logged = [0.0]

        def advance(summary: Summary) -> None:
            description = (
                f"{summary.new} new · {summary.updated} updated · {summary.unchanged} unchanged"
                f" · {summary.running} running · {summary.failed} failed"
            )
            bar.update(task, completed=summary.done, total=summary.folders, description=description)
            # Without a terminal (a service, a batch job): a log line every few seconds.
            if not err.is_terminal and time.monotonic() - logged[0] > LOG_SECONDS:
                logged[0] = time.monotonic()
                log.info("ingest: %d/%d folders; %s", summary.done, summary.folders, description)

        return ingest_paths(
            services.store,
            _caller(),
            roots,
            workers=workers,
            options=options,
            investigation_id=investigation_id,
            progress=advance,
            # Somebody asked for this pass: failed folders are tried again now.
            retry_failures=True,
        )


def _watch(
    services: Services,
    roots: list[str],
    workers: int,
    options: ReadOptions,
    investigation_id: UUID | None,
    interval: float | None,
) -> None:
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    seconds = interval or services.settings.ingest_poll_seconds
    out.print(f"watching {', '.join(roots)} every {seconds:g} s (Ctrl-C stops)")

    def report(now: datetime, summary: Summary) -> None:
        if summary.new or summary.updated or summary.failed:
            out.print(f"{now:%H:%M:%S} {summary.line()}")
        for path, reason in summary.failures:
            log.warning("ingest failed: %s: %s", path, reason)

    with contextlib.suppress(KeyboardInterrupt):
        watch(
            services.store,
            _caller,
            roots,
            interval_s=seconds,
            workers=workers,
            options=options,
            investigation_id=investigation_id,
            report=report,
            should_stop=stop.is_set,
        )
    out.print("stopped watching")


def _list_failures() -> None:
    services = open_services()
    try:
        caller = _caller()
        table = Table("folder", "reason", "attempts", "next attempt")
        cursor = None
        shown = 0
        while True:
            page = ingests.list_failures(services.store, caller, cursor, 1000)
            for item in page.items:
                retry = item["retry_at"]
                table.add_row(
                    item["path"],
                    item["reason"],
                    str(item["attempts"]),
                    retry.isoformat(timespec="seconds") if retry else "",
                )
                shown += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        if shown:
            out.print(table)
        else:
            out.print("no failures")
    finally:
        services.close()
