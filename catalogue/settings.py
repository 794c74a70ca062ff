"""The service's settings: `CATALOGUE_*` environment variables over an optional catalogue.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Every setting has an embedded default that runs on one machine with nothing else."""

    model_config = SettingsConfigDict(
        env_prefix="CATALOGUE_", toml_file="catalogue.toml", extra="forbid"
    )

    data_dir: Path = Field(Path("var"), description="Where embedded data lives.")
    database_url: str = Field(
        "sqlite:///var/catalogue.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql://user@host/db.",
    )
    object_store_dir: Path = Field(
        Path("var/objects"), description="Directory of the embedded object store."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP API listens on.")
    workers: int = Field(1, ge=1, le=64, description="HTTP worker processes.")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    projection_batch_size: int = Field(1000, ge=1, le=100_000)
    projection_poll_seconds: float = Field(0.2, gt=0, le=60)
    embargo_days: int = Field(
        3 * 365,
        ge=0,
        le=100 * 365,
        description="Days from an investigation's end until its data is open by default.",
    )
    logbook_max_content_chars: int = Field(
        100_000, ge=1, le=1_000_000, description="Longest logbook entry (text plus rich text)."
    )
    logbook_max_attachment_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, le=1024**3, description="Largest logbook image attachment."
    )
    logbook_max_image_pixels: int = Field(
        50_000_000, ge=1, description="Largest image (width times height) a thumbnail is made of."
    )
    live_poll_seconds: float = Field(
        0.05,
        gt=0,
        le=10,
        description="How often live streams (Server-Sent Events) look for new events.",
    )

    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The service's address as users reach it (links in mail and on parcel "
        "labels); defaults to http://HOST:PORT.",
    )
    smtp_url: str | None = Field(
        None,
        description="Send mail through this server (smtp://[user:password@]host[:port]"
        "[?starttls=true] or smtps://...); unset: mail is written to DATA_DIR/mail.",
    )
    mail_from: str = Field(
        "catalogue@localhost",
        # The domain also names the Message-IDs (`<uuid@domain>`), which the outbox keeps
        # in 200 characters.
        pattern=r"^[^@\s]{1,64}@[^@\s]{1,150}$",
        description="The sender address of the catalogue's mail (a domain of at most 150 "
        "characters).",
    )
    industry_office_email: str | None = Field(
        None,
        pattern=r"^[^@\s]{1,64}@[^@\s]{1,253}$",
        description="Told about every parcel notice of industrial proposals (IN-, IM-).",
    )
    mail_max_attempts: int = Field(8, ge=1, le=100, description="Tries before a mail fails.")
    mail_first_retry_seconds: float = Field(
        30.0, gt=0, le=86400, description="Wait before the first retry; doubles each time."
    )
    mail_poll_seconds: float = Field(1.0, gt=0, le=600, description="How often due mail is sent.")
    notification_max_age_days: float = Field(
        7, gt=0, le=3650, description="Older events are recorded in the outbox but not mailed."
    )
    stores_address: tuple[str, ...] = Field(
        ("Sample stores", "ESRF", "71 avenue des Martyrs", "CS 40220", "38043 Grenoble", "FR"),
        min_length=1,
        max_length=8,
        description="The facility stores' address, printed on parcel labels.",
    )
    ingest_roots: tuple[Path, ...] = Field(
        (),
        description="Data trees `POST /api/v1/ingest` may read (default: DATA_DIR/data); it "
        "refuses paths outside them. The command line reads any path its user can.",
    )
    ingest_workers: int = Field(2, ge=1, le=64, description="Processes that read NeXus files.")
    ingest_checksum: str = Field(
        "sha256",
        pattern="^(none|md5|sha1|sha256|sha512|adler32|crc32)$",
        description="Checksum of every registered file ('none': sizes and times only).",
    )
    ingest_poll_seconds: float = Field(
        10.0, gt=0, le=86400, description="How often `catalogue ingest --watch` walks the trees."
    )
    ingest_settle_seconds: float = Field(
        60.0,
        ge=0,
        le=86400,
        description="A NeXus file that never records an end_time is ingested once its files "
        "have not changed for this long.",
    )
    ingest_stale_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 365,
        description="A dataset whose writer never finished is ingested as it is once its "
        "files have not changed for this long.",
    )

    @property
    def base_url(self) -> str:
        """Where users reach the service."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def ingest_trees(self) -> tuple[Path, ...]:
        """The data trees the API may ingest from."""
        return self.ingest_roots or (self.data_dir / "data",)

    @property
    def mail_dir(self) -> Path:
        """The Maildir that holds mail when no SMTP server is configured."""
        return self.data_dir / "mail"

    @property
    def attachments_dir(self) -> Path:
        """Where logbook attachments are stored."""
        return self.data_dir / "attachments"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then catalogue.toml."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
