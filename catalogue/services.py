"""The composition root's parts: engine, event registry, store and projections, built once."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import Engine

from catalogue.attachments import AttachmentStore
from catalogue.database import create_engine
from catalogue.domain.datasets import DATASET_EVENTS
from catalogue.domain.identity import GROUP_EVENTS, USER_EVENTS
from catalogue.domain.ingests import INGEST_EVENTS
from catalogue.domain.instruments import INSTRUMENT_EVENTS
from catalogue.domain.investigations import INVESTIGATION_EVENTS
from catalogue.domain.logbook import ENTRY_EVENTS, TAG_EVENTS
from catalogue.domain.samples import SAMPLE_EVENTS
from catalogue.domain.tracking import PARCEL_EVENTS, SHIPMENT_EVENTS
from catalogue.errors import ConfigurationError
from catalogue.events import EventRegistry
from catalogue.mail import MaildirMailer, Mailer, SmtpMailer, parse_smtp_url
from catalogue.outbox import RetryPolicy
from catalogue.portal.logbook import Limits
from catalogue.projections import Mode, Projection
from catalogue.readmodels.ingest_projection import IngestProjection
from catalogue.readmodels.logbook_projection import LogbookProjection
from catalogue.readmodels.projection import CatalogueProjection, IdentityProjection
from catalogue.readmodels.tracking_notifications import (
    NotificationSettings,
    TrackingNotifications,
)
from catalogue.readmodels.tracking_projection import TrackingProjection
from catalogue.revisions import require_current
from catalogue.runner import register_checkpoints
from catalogue.settings import Settings
from catalogue.store import EventStore
from catalogue.streams import StreamSummaries


@dataclass(frozen=True)
class Services:
    """Everything a command or request handler may be handed."""

    settings: Settings
    engine: Engine
    registry: EventRegistry
    store: EventStore
    projections: tuple[Projection, ...]
    attachments: AttachmentStore

    @property
    def logbook_limits(self) -> Limits:
        """The configured bounds on logbook content and attachments."""
        return Limits(
            max_content=self.settings.logbook_max_content_chars,
            max_attachment_bytes=self.settings.logbook_max_attachment_bytes,
            max_image_pixels=self.settings.logbook_max_image_pixels,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """How failed mail is retried."""
        return RetryPolicy(
            max_attempts=self.settings.mail_max_attempts,
            first_delay=self.settings.mail_first_retry_seconds,
        )

    def mailer(self) -> Mailer:
        """The SMTP server if one is configured, else the mail directory."""
        if self.settings.smtp_url:
            return SmtpMailer(parse_smtp_url(self.settings.smtp_url))
        return MaildirMailer(self.settings.mail_dir)

    @property
    def catch_up_projections(self) -> tuple[Projection, ...]:
        """Projections that a runner tails the store for."""
        return tuple(p for p in self.projections if p.mode is Mode.CATCH_UP)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def event_registry() -> EventRegistry:
    """Every event type the catalogue stores, with the upcasters of old payloads."""
    return EventRegistry(
        (
            *USER_EVENTS,
            *GROUP_EVENTS,
            *INSTRUMENT_EVENTS,
            *INVESTIGATION_EVENTS,
            *SAMPLE_EVENTS,
            *DATASET_EVENTS,
            *ENTRY_EVENTS,
            *TAG_EVENTS,
            *SHIPMENT_EVENTS,
            *PARCEL_EVENTS,
            *INGEST_EVENTS,
        )
    )


def notification_settings(settings: Settings) -> NotificationSettings:
    """What notification projections need of the settings."""
    return NotificationSettings(
        public_url=settings.base_url,
        industry_email=settings.industry_office_email,
        mail_domain=settings.mail_from.rsplit("@", 1)[1],
        max_age=timedelta(days=settings.notification_max_age_days),
    )


def all_projections(settings: Settings) -> tuple[Projection, ...]:
    """Every projection of the catalogue, inline ones first."""
    return (
        StreamSummaries(),
        IdentityProjection(),
        CatalogueProjection(),
        LogbookProjection(),
        TrackingProjection(),
        IngestProjection(),
        TrackingNotifications(notification_settings(settings)),
    )


def build_services(settings: Settings) -> Services:
    """Create the engine and wire the store to its projections."""
    engine = create_engine(settings.database_url)
    registry = event_registry()
    if settings.smtp_url:
        parse_smtp_url(settings.smtp_url)  # a malformed URL stops the start, not the first mail
    projections = all_projections(settings)
    store = EventStore(engine, registry, [p for p in projections if p.mode is Mode.INLINE])
    attachments = AttachmentStore(settings.attachments_dir)
    return Services(settings, engine, registry, store, projections, attachments)


def load_settings() -> Settings:
    """Settings from the environment and catalogue.toml, with a one-line error if invalid."""
    try:
        return Settings()
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"catalogue.toml is not valid TOML: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"setting {field}: {first['msg']}") from None


def open_services() -> Services:
    """Services for a command that needs the database at the current schema."""
    services = build_services(load_settings())
    require_current(services.engine)
    # Before the first append: a projection registered later would have to be rebuilt.
    register_checkpoints(services.store, services.projections)
    return services
