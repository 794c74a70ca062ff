"""The FastAPI application, built from settings by `create_app` (the composition root)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from catalogue.api import (
    datasets,
    health,
    ingest,
    instruments,
    investigations,
    logbook,
    samples,
    tracking,
)
from catalogue.api.live import HeadWatcher
from catalogue.api.problems import (
    PROBLEM_RESPONSES,
    install_problem_handlers,
    refuse_control_characters,
)
from catalogue.outbox import run_sender_until_stopped
from catalogue.revisions import require_current
from catalogue.runner import register_checkpoints, run_until_stopped
from catalogue.services import Services, build_services
from catalogue.settings import Settings

log = logging.getLogger(__name__)


def start_runners(services: Services, stop: threading.Event) -> list[threading.Thread]:
    """One thread per catch-up projection, tailing the store, and the mail sender, until
    `stop` is set. Every process runs them: checkpoint row locks and claimed outbox rows
    keep their work exactly-once when several do."""
    threads = []
    for projection in services.catch_up_projections:
        thread = threading.Thread(
            target=run_until_stopped,
            args=(services.store, projection, stop),
            kwargs={
                "batch_size": services.settings.projection_batch_size,
                "poll_interval": services.settings.projection_poll_seconds,
            },
            name=f"projection-{projection.name}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    mail = threading.Thread(
        target=run_sender_until_stopped,
        args=(services.engine, services.mailer(), services.settings.mail_from, stop),
        kwargs={
            "policy": services.retry_policy,
            "poll_interval": services.settings.mail_poll_seconds,
        },
        name="mail-sender",
        daemon=True,
    )
    mail.start()
    threads.append(mail)
    return threads


def create_app(settings: Settings) -> FastAPI:
    """Build the application; the database is opened and checked when it starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        try:
            require_current(services.engine)
            for name in register_checkpoints(services.store, services.projections):
                log.warning("projection %s needs `catalogue projections rebuild %s`", name, name)
            stop = threading.Event()
            threads = start_runners(services, stop)
            app.state.services = services
            app.state.head_watcher = HeadWatcher(services.store, settings.live_poll_seconds)
            yield
            app.state.head_watcher.close()
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        finally:
            services.close()

    app = FastAPI(
        dependencies=[Depends(refuse_control_characters)],
        responses=PROBLEM_RESPONSES,
        title="Beamline data catalogue",
        version="0.1.0",
        summary="Find, search, restore, download and publish experimental data.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    for module in (instruments, investigations, samples, datasets, logbook, tracking, ingest):
        app.include_router(module.router)
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for multi-worker uvicorn: each worker reads the same settings itself."""
    return create_app(Settings())
