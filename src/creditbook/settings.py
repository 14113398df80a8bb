"""Configuration from `CREDITBOOK_*` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///creditbook.db"


class Settings(BaseSettings):
    """Attributes:
    database_url: SQLAlchemy URL; a SQLite file in the working directory by default,
        `postgresql://…` in production.
    """

    model_config = SettingsConfigDict(env_prefix="CREDITBOOK_")

    database_url: str = DEFAULT_DATABASE_URL
