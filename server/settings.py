"""One Settings object, read from CSDESK_* variables at the edge and passed down."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store import validation
from store.database.engine import sqlite_url
from store.errors import InvalidInput


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSDESK_", env_nested_delimiter="__", extra="ignore")

    db_path: Path = Field(Path("csdesk.db"), description="SQLite file used when no database_url is set.")
    database_url: str | None = Field(None, description="Any SQLAlchemy async URL; overrides db_path.")
    user: str | None = Field(None, description="Email of the user that stdio sessions act as.")
    today: date | None = Field(None, description="Pin the clock to this date (demos and reproducible runs).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.")
    llm_model: str | None = Field(None, description="Model name; with no model the rules engine works alone.")
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("CSDESK_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key for the endpoint (CSDESK_LLM_API_KEY, else OPENAI_API_KEY).")
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    assessment_concurrency: int = Field(8, ge=1, le=256, description="Model calls in flight at once.")
    run_lease_seconds: float = Field(
        120.0, ge=1, le=86_400, description="How long an agent run may go without a heartbeat before other "
                                            "workers take it for dead and take over its accounts.")
    health_model: Path | None = Field(None, description="A health model file (TOML) laid over the shipped model: "
                                                        "weights, scales and thresholds, per segment "
                                                        "(`csdesk health model show`).")
    segment_instructions: dict[str, str] = Field(
        default_factory=dict,
        description='Plain-text guidance per segment, e.g. {"smb": "90-day onboarding is normal"}.')

    sender_domains: list[str] = Field(default_factory=list, description='The sender\'s own domains, e.g. '
                                      '\'["example.com"]\': addresses and links at them may appear in drafts.')
    smtp_host: str | None = Field(None, description="SMTP server; without one, `csdesk send` writes .eml files.")
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    outbox_dir: Path = Field(Path("outbox"), description="Where `csdesk send` writes .eml files without SMTP.")
    session_secret: SecretStr | None = Field(
        None, description="Key signing review-page sessions; random per process when unset (sign in again after a "
                          "restart). Set it when several server processes share one address.")
    secure_cookies: bool = Field(False, description="Mark review-page cookies Secure (behind HTTPS).")
    public_url: str | None = Field(None, description="The address users reach the HTTP server at.")
    allowed_hosts: list[str] = Field(default_factory=list, description='More Host values to accept, e.g. '
                                     '["csdesk.internal:8765"]; loopback and the public URL\'s host always are.')
    allowed_origins: list[str] = Field(default_factory=list, description="More browser origins to accept.")
    one_hop_units: bool = Field(True, description="On a SQLite file, run the retention view, the account 360, "
                                                  "the renewals list and a renewal's move as one unit each on a "
                                                  "database thread (see store.database.one_hop); false runs them "
                                                  "in a session.")
    stateless_http: bool = Field(False, description="Serve MCP over HTTP without per-process sessions, for several "
                                                    "processes behind one load balancer.")
    events_feature_property: str | None = Field(
        None, description="The track-event property that names the feature used (default: the event's name).")
    events_keep_days: int = Field(90, ge=1, le=3650, description="How long raw product events are kept, so usage "
                                                                  "can be rebuilt from them (`csdesk events rebuild`).")
    watch_poll_seconds: float = Field(1.0, gt=0, le=3600, description="How often `csdesk worker --watch` looks for "
                                                                      "accounts whose signals changed.")
    oauth_issuer: str | None = Field(
        None, description="OAuth 2.1 authorization server whose JWT access tokens are accepted over HTTP (its exact "
                          "`iss`), and which OAuth clients are sent to.")
    oauth_audience: str | None = Field(None, description="The `aud` those tokens must carry; default <public-url>/mcp.")
    oauth_jwks_url: str | None = Field(None, description="The issuer's key set; default: from the issuer's metadata.")
    oauth_email_claim: str = Field("email", description="The claim holding the csdesk user's email.")

    # Retired: read only to refuse it, so that a threshold set the old way is not silently dropped.
    thresholds: dict[str, Any] | None = Field(None, exclude=True)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_moved(cls, value: dict[str, Any] | None) -> None:
        if value:
            names = ", ".join(f"CSDESK_THRESHOLDS__{key.upper()}" for key in sorted(value))
            raise ValueError(f"{names}: thresholds now live in the health model file: put them under [thresholds] "
                             "in a TOML file (e.g. `outbound_warn_days = 21`) and name it with CSDESK_HEALTH_MODEL")
        return None

    @field_validator("sender_domains")
    @classmethod
    def _sender_domains_are_host_names(cls, domains: list[str]) -> list[str]:
        try:
            return [validation.domain(domain) for domain in domains]
        except InvalidInput as exc:
            raise ValueError(f"CSDESK_SENDER_DOMAINS: {exc}") from exc

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_model)

    def acting_email(self, as_user: str | None) -> str:
        """Who a terminal command acts as: `--as`, else CSDESK_USER.

        Raises:
            InvalidInput: neither is given.
        """
        email = as_user or self.user
        if not email:
            raise InvalidInput("no user given: pass --as EMAIL or set CSDESK_USER to the email of a csdesk user "
                               "(`csdesk users list` shows them)")
        return email

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
