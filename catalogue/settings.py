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
