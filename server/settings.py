"""One Settings object, read from CSDESK_* variables at the edge and passed down."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import sqlite_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSDESK_", extra="ignore")

    db_path: Path = Field(Path("csdesk.db"), description="SQLite file used when no database_url is set.")
    database_url: str | None = Field(None, description="Any SQLAlchemy async URL; overrides db_path.")
    user: str | None = Field(None, description="Email of the user that stdio sessions act as.")
    today: date | None = Field(None, description="Pin the clock to this date (demos and reproducible runs).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or sqlite_url(str(self.db_path))

    def describe_database(self) -> str:
        """Where the data lives, without credentials."""
        if self.database_url is None:
            return f"SQLite file {self.db_path}"
        url = self.database_url
        if "@" in url:
            scheme, rest = url.split("://", 1)
            url = f"{scheme}://***@{rest.split('@', 1)[1]}"
        return url
