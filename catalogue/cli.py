"""The `catalogue` command: database, projections and the HTTP service (a composition root)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from catalogue import admin_cli, ingest_cli, mail_cli
from catalogue.errors import CatalogueError
from catalogue.projections import Mode
from catalogue.revisions import current_revision, head_revision, require_current, upgrade
from catalogue.runner import find_projection, projection_status, rebuild, register_checkpoints
from catalogue.services import build_services, load_settings, open_services

#: On shutdown, requests still running after this long are cancelled: live streams never
#: finish by themselves, and their clients reconnect (with Last-Event-ID) to another worker.
GRACEFUL_SHUTDOWN_SECONDS = 3

app = typer.Typer(
    help="Beamline data catalogue: event store, projections and the data-portal API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Create, upgrade and inspect the database schema.", no_args_is_help=True)
projections_app = typer.Typer(help="Inspect and rebuild read models.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(projections_app, name="projections")

out = Console()
err = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes.")] = None,
) -> None:
    """Run the HTTP API (refuses to start on a database at the wrong schema revision)."""
    import uvicorn

    from catalogue.api.app import create_app

    settings = load_settings()
    services = build_services(settings)
    try:
        require_current(services.engine)
    finally:
        services.close()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    out.print(f"Catalogue serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if workers > 1:
        uvicorn.run(
            "catalogue.api.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=settings.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create the schema on an empty database, or upgrade it to this code's revision."""
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    services = build_services(load_settings())
    try:
        upgrade(services.engine, revision)
        out.print(f"database at revision {current_revision(services.engine)}")
        if revision == "head":
            for name in register_checkpoints(services.store, services.projections):
                out.print(f"projection {name} is new: run `catalogue projections rebuild {name}`")
    finally:
        services.close()


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the one this code needs."""
    services = build_services(load_settings())
    try:
        current = current_revision(services.engine) or "none"
        head = head_revision()
        out.print(f"database: {current}  code: {head}")
        if current != head:
            raise typer.Exit(1)
    finally:
        services.close()


@projections_app.command("status")
def projections_status() -> None:
    """Each projection's mode, status, checkpoint and lag behind the store head."""
    services = open_services()
    try:
        register_checkpoints(services.store, services.projections)
        table = Table("projection", "mode", "status", "position", "head", "lag")
        for s in projection_status(services.store, services.projections):
            table.add_row(
                s.name, s.mode.value, s.status.value, str(s.position), str(s.head), str(s.lag)
            )
        out.print(table)
    finally:
        services.close()


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="Projection to rebuild.")],
    restart: Annotated[
        bool, typer.Option(help="Start again from 0 even if an earlier rebuild was interrupted.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
) -> None:
    """Rebuild a projection from position 0, with a progress bar; resumes if interrupted."""
    services = open_services()
    try:
        projection = find_projection(services.projections, name)
        register_checkpoints(services.store, services.projections)
        with Progress(
            TextColumn("rebuilding {task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} positions"),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task(projection.name, total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)
                if not err.is_terminal:
                    logging.getLogger("catalogue.rebuild").info(
                        "rebuild %s: %d/%d positions", projection.name, done, total
                    )

            head = rebuild(
                services.store,
                projection,
                batch_size=batch_size,
                restart=restart,
                progress=advance,
            )
        mode = "inline, live" if projection.mode is Mode.INLINE else "catch-up, live"
        out.print(f"rebuilt {projection.name} to position {head} ({mode})")
    finally:
        services.close()


admin_cli.install(app)
mail_cli.install(app)
ingest_cli.install(app)


def main() -> None:
    """Entry point: errors become one line on stderr and a non-zero exit, never a traceback."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("catalogue").setLevel(logging.INFO)
    try:
        app()
    except CatalogueError as error:
        # One line, unwrapped, whatever the terminal width.
        print(f"error: {' '.join(error.detail.split())}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
