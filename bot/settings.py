"""One settings class for the whole service, read from TETTPA_* variables and `.env`."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BeforeValidator, Field, field_validator, model_validator
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
    # An acute message nobody took or answered by then: the workers with a phone are rung, then coordinators told.
    acute_repeat_after: Duration = timedelta(minutes=5)
    wakeup_ack_window: Duration = timedelta(minutes=10)
    office_hours: str = "mon-fri 08:00-16:00"
    secret_key: str | None = None
    data_key: str | None = None
    crisis_words: str = ""
    retention: Duration = timedelta(days=180)
    # Failed lookups at Twilio before a send whose earlier request may have got through is made anyway.
    lookup_attempts: int = Field(default=3, ge=1)
    # After a youth's follow-up period: how long messages still reach the former workers before the hand-over answer.
    handover_grace: Duration = timedelta(days=30)
    log_level: str = "INFO"
    # Dashboard login: a TOTP second factor for everyone, and how failed attempts lock an account.
    require_2fa: bool = False
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout: Duration = timedelta(minutes=15)
    session_timeout: Duration = timedelta(hours=1)
    # Failures from one client (any addresses) within TETTPA_LOGIN_LOCKOUT that lock that client.
    login_max_failures_per_client: int = Field(default=10, ge=1)
    # Proxies in front of the service (IPs or networks, comma-separated) whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    # An invite code not used within this long links nobody; `tettpa invite renew` makes a new one.
    invite_valid: Duration = timedelta(days=14)
    # Single sign-on for the dashboard (OpenID Connect: Entra ID, Feide, ID-porten); staff are matched by
    # verified e-mail, roles stay in Tett på. password_login=False leaves sign-on as the only way in.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_label: str = "Logg inn med organisasjonskonto"
    password_login: bool = True
    # A TrueType font with Latin, Cyrillic and Arabic letters for the PDF export (Debian: fonts-dejavu-core).
    pdf_font: str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    # SQLite: how long a write waits for another process's write lock (a backup, a CLI import) before it fails
    # and is tried again. It waits in a worker thread; the event loop, /healthz and reads go on meanwhile.
    db_busy_timeout: Duration = timedelta(seconds=30)
    # TETTPA_SANDBOX: "1" always the sandbox (credentials are ignored: nothing leaves the machine), "0" never,
    # "auto" only without credentials and over a database holding nothing but the demo roster (bot/run/sandbox.py).
    sandbox_mode: Literal["auto", "0", "1"] = Field(
        default="auto", validation_alias=AliasChoices("TETTPA_SANDBOX", "sandbox_mode"))
    # How long the service waits, and how long what it has taken stays its own. Today's values are the
    # production defaults; the tests shorten them so a fault or a dead process costs seconds, not minutes.
    telegram_send_timeout: Duration = timedelta(seconds=15)  # PTB's read timeout for a send
    twilio_timeout: Duration = timedelta(seconds=15)  # each request to Twilio's REST API
    outbox_lease: Duration = timedelta(seconds=60)  # a claimed send is this process's for so long
    intake_lease: Duration = timedelta(seconds=60)  # an inbound item being handled, likewise
    scheduler_lease: Duration = timedelta(seconds=30)  # the scheduler lease's TTL (one scheduler per database)
    scheduler_lease_renew: Duration = timedelta(seconds=10)  # how often its holder renews it
    intake_backoff: Duration = timedelta(seconds=2)  # a failed inbound item waits 1x, 2x, 4x, 8x this
    outbox_backoff: Annotated[Duration, Field(gt=timedelta(0))] = timedelta(seconds=2)  # a failed send waits 1x, 2x, 4x ... this (10 min at most)
    poll_backoff: Annotated[Duration, Field(gt=timedelta(0))] = timedelta(seconds=1)  # a failed getUpdates waits 1x, 2x, 4x ... this (30 s at most)
    telegram_chat_gap: Duration = timedelta(seconds=1)  # between two sends to one Telegram chat (its limit)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TETTPA_TIMEZONE: {v!r} is not a time zone (e.g. Europe/Oslo)") from exc
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in v.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"TETTPA_TRUSTED_PROXIES: {part!r} is not an IP address or network") from exc
        return v

    @field_validator("office_hours")
    @classmethod
    def _valid_hours(cls, v: str) -> str:
        WeeklyHours.parse(v)
        return v

    @field_validator("public_url", "telegram_api_url", "twilio_api_url", "oidc_issuer")
    @classmethod
    def _no_trailing_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("telegram_token", "twilio_account_sid", "twilio_auth_token", "twilio_number",
                     "secret_key", "data_key", "oidc_issuer", "oidc_client_id", "oidc_client_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        for name in ("secret_key", "data_key", "telegram_token", "twilio_auth_token", "oidc_client_secret"):
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
        """Run against the built-in stand-ins: TETTPA_SANDBOX=1, or auto with no credentials at all (whether the
        database allows it is checked when the service opens: bot.run.sandbox.refusal)."""
        if self.sandbox_mode != "auto":
            return self.sandbox_mode == "1"
        return not self.telegram_token and not self._twilio_credentials

    @property
    def _twilio_credentials(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def twilio_enabled(self) -> bool:
        # The sandbox sends nothing anywhere, whatever credentials are set.
        return self._twilio_credentials and self.sandbox_mode != "1"

    @property
    def trusted_networks(self) -> list:
        return [ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def office(self) -> WeeklyHours:
        return WeeklyHours.parse(self.office_hours)


@lru_cache
def get_settings() -> Settings:
    return Settings()
