"""One settings class for the whole service, read from TETTPA_* variables and `.env`."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.timespec import WeeklyHours, parse_duration

# Values that people copy from examples; a deployment that still has them must not start.
PLACEHOLDERS = {"", "changeme", "change-me", "changethis", "secret", "replace-me"}

Duration = Annotated[timedelta, BeforeValidator(lambda v: v if isinstance(v, timedelta) else parse_duration(v))]


def _file_secret(name: str) -> str | None:
    """Read `TETTPA_X_FILE` when set, so secrets can come from mounted files (Docker/K8s secrets)."""
    path = os.environ.get(f"TETTPA_{name}_FILE")
    return Path(path).read_text().strip() if path else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TETTPA_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./tettpa.db"
    timezone: str = "Europe/Oslo"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8000"
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_updates: Literal["polling", "webhook"] = "polling"
    telegram_bot_username: str = "TettPaBot"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_number: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    escalation_after: Duration = timedelta(minutes=15)
    wakeup_ack_window: Duration = timedelta(minutes=10)
    office_hours: str = "mon-fri 08:00-16:00"
    secret_key: str | None = None
    data_key: str | None = None
    crisis_words: str = ""
    retention: Duration = timedelta(days=180)
    log_level: str = "INFO"
    # Dashboard login: a TOTP second factor for everyone, and how failed attempts lock an account.
    require_2fa: bool = False
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout: Duration = timedelta(minutes=15)
    session_timeout: Duration = timedelta(hours=1)
    # A TrueType font with Latin, Cyrillic and Arabic letters for the PDF export (Debian: fonts-dejavu-core).
    pdf_font: str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    # How long the service waits, and how long what it has taken stays its own. Today's values are the
    # production defaults; the tests shorten them so a fault or a dead process costs seconds, not minutes.
    telegram_send_timeout: Duration = timedelta(seconds=15)  # PTB's read timeout for a send
    twilio_timeout: Duration = timedelta(seconds=15)  # each request to Twilio's REST API
    outbox_lease: Duration = timedelta(seconds=60)  # a claimed send is this process's for so long
    intake_lease: Duration = timedelta(seconds=60)  # an inbound item being handled, likewise
    scheduler_lease: Duration = timedelta(seconds=30)  # the scheduler lease's TTL (one scheduler per database)
    scheduler_lease_renew: Duration = timedelta(seconds=10)  # how often its holder renews it
    intake_backoff: Duration = timedelta(seconds=2)  # a failed inbound item waits 1x, 2x, 4x, 8x this

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TETTPA_TIMEZONE: {v!r} is not a time zone (e.g. Europe/Oslo)") from exc
        return v

    @field_validator("office_hours")
    @classmethod
    def _valid_hours(cls, v: str) -> str:
        WeeklyHours.parse(v)
        return v

    @field_validator("public_url", "telegram_api_url", "twilio_api_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("telegram_token", "twilio_account_sid", "twilio_auth_token", "twilio_number",
                     "secret_key", "data_key", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        for name in ("secret_key", "data_key", "telegram_token", "twilio_auth_token"):
            from_file = _file_secret(name.upper())
            if from_file:
                setattr(self, name, from_file)
        if not self.sandbox:
            for name in ("secret_key", "data_key"):
                value = getattr(self, name)
                if value is None or value.strip().lower() in PLACEHOLDERS:
                    raise ValueError(
                        f"TETTPA_{name.upper()} must be set to a real secret when Telegram or Twilio is configured"
                    )
        return self

    @property
    def sandbox(self) -> bool:
        """No credentials at all: run against the built-in stand-ins."""
        return not self.telegram_token and not self.twilio_enabled

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def office(self) -> WeeklyHours:
        return WeeklyHours.parse(self.office_hours)


@lru_cache
def get_settings() -> Settings:
    return Settings()
