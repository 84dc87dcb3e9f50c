"""`tettpa doctor`: is this deployment set up right? Each check says what it found and, when it fails,
what to do in words. It only reads: nothing is changed, so it is safe to run at any time."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

# How old the oldest unsent row may be before the outbox counts as stuck: sends are retried with back-off
# of at most 10 minutes, so a row older than a quarter of an hour is waiting on something that does not pass.
STUCK_AFTER = timedelta(minutes=15)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _settings_checks() -> tuple[object | None, list[Check]]:
    from bot.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        return None, [Check("settings", False, problems,
                            "set the variables named in .env or the environment (see .env.example)")]
    checks = [Check("settings", True, "the settings are complete" + (" (sandbox)" if settings.sandbox else ""))]
    if settings.sandbox:
        checks.append(Check("public_url", True, f"{settings.public_url} (the sandbox needs no public address)"))
    elif not settings.public_url.startswith("https://"):
        checks.append(Check("public_url", False, f"TETTPA_PUBLIC_URL is {settings.public_url}, not https",
                            "put the service behind HTTPS and set TETTPA_PUBLIC_URL to its https:// address"))
    else:
        checks.append(Check("public_url", True, settings.public_url))
    checks.append(Check("timezone", True, settings.timezone))
    return settings, checks


def _database_checks(settings) -> tuple[object | None, list[Check]]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from models.db import make_engine, ping
    from models.migrate import alembic_config

    engine = make_engine(settings.database_url)
    if not ping(engine):
        return None, [Check("database", False, "the database does not answer",
                            "check TETTPA_DATABASE_URL and that the database server runs")]
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        return engine, [Check("database", True, "the database answers"),
                        Check("migrations", False, f"the schema is at {sorted(current) or 'nothing'}, "
                              f"the code expects {sorted(heads)}", "run `tettpa db upgrade`")]
    return engine, [Check("database", True, "the database answers"),
                    Check("migrations", True, "the schema is current")]


async def _telegram_checks(settings) -> list[Check]:
    from telegram.error import TelegramError

    from bot.out.transports.connect import ConnectError, open_bot, telegram_bot

    if not settings.telegram_token:
        return [Check("telegram", True, "off (no TETTPA_TELEGRAM_TOKEN)")]
    bot = telegram_bot(settings)
    try:
        username = await open_bot(bot)
    except ConnectError as exc:
        return [Check("telegram", False, exc.message, f"fix {exc.setting}")]
    try:
        info = await bot.get_webhook_info()
    except TelegramError as exc:
        return [Check("telegram", True, f"the token is {username}'s"),
                Check("telegram_webhook", False, f"getWebhookInfo failed ({type(exc).__name__})",
                      "try again; check TETTPA_TELEGRAM_API_URL")]
    finally:
        await bot.shutdown()
    checks = [Check("telegram", True, f"the token is {username}'s")]
    expected = f"{settings.public_url}/telegram/webhook"
    pending = f"{info.pending_update_count} update(s) waiting at Telegram"
    if settings.telegram_updates == "webhook" and info.url != expected:
        checks.append(Check("telegram_webhook", False, f"the webhook is {info.url or 'not set'}, not {expected}",
                            "run `tettpa connect telegram`"))
    elif settings.telegram_updates == "polling" and info.url:
        checks.append(Check("telegram_webhook", False, f"a webhook is set ({info.url}) but the service polls",
                            "run `tettpa connect telegram`, or set TETTPA_TELEGRAM_UPDATES=webhook"))
    elif info.last_error_message and info.last_error_date and \
            datetime.now(UTC) - info.last_error_date < timedelta(hours=1):
        checks.append(Check("telegram_webhook", False, f"Telegram's last delivery failed: {info.last_error_message};"
                            f" {pending}", "check that TETTPA_PUBLIC_URL reaches `tettpa serve` over HTTPS"))
    else:
        mode = "webhook" if settings.telegram_updates == "webhook" else "polling, no webhook"
        checks.append(Check("telegram_webhook", True, f"{mode}; {pending}"))
    return checks


def _twilio_checks(settings) -> list[Check]:
    from bot.out.transports.connect import ConnectError, capability_problems, twilio_number, twilio_urls

    if not settings.twilio_enabled:
        return [Check("twilio", True, "off (no TETTPA_TWILIO_ACCOUNT_SID / TETTPA_TWILIO_AUTH_TOKEN)")]
    try:
        number = twilio_number(settings)
    except ConnectError as exc:
        return [Check("twilio", False, exc.message, f"fix {exc.setting}")]
    checks = [Check("twilio", True, f"the credentials work and {settings.twilio_number} is the account's")]
    problems = capability_problems(number)
    if problems:
        checks.append(Check("twilio_capabilities", False, f"the number {' and '.join(problems)}",
                            "choose a Twilio number with SMS and voice"))
    wrong = [name for name, url in twilio_urls(settings).items() if getattr(number, name) != url]
    if wrong:
        checks.append(Check("twilio_webhooks", False, f"{', '.join(wrong)} do not point at {settings.public_url}",
                            "run `tettpa connect twilio`"))
    else:
        checks.append(Check("twilio_webhooks", True, f"SMS, voice and status go to {settings.public_url}"))
    return checks


def _queue_checks(engine) -> list[Check]:
    from sqlmodel import Session

    from models import inbound, outbox
    from models.lease import Lease
    from scheduling.lease import NAME

    now = datetime.now(UTC)
    with Session(engine) as session:
        lease = session.get(Lease, NAME)
        gauges = outbox.outbox_gauges(session, now)
        stuck = inbound.stuck_count(session)
    checks = []
    if lease is None:
        checks.append(Check("scheduler", True, "no process holds the scheduler lease (is `tettpa serve` running?)"))
    else:
        expires = lease.expires_at.replace(tzinfo=lease.expires_at.tzinfo or UTC)
        state = "held" if expires >= now else "expired; the next `tettpa serve` takes it"
        checks.append(Check("scheduler", True, f"the scheduler lease is {state}"))
    age = timedelta(seconds=gauges["oldest_age"])
    if gauges["backlog"] and age > STUCK_AFTER:
        checks.append(Check("outbox", False, f"{gauges['backlog']} send(s) waiting, the oldest for "
                            f"{int(age.total_seconds() // 60)} min", "see /healthz and the log: is Telegram or "
                            "Twilio refusing or unreachable? is `tettpa serve` running?"))
    else:
        checks.append(Check("outbox", True, f"{gauges['backlog']} send(s) waiting"))
    if stuck:
        checks.append(Check("inbound", False, f"{stuck} stored message(s) failed to be handled several times",
                            "see the log for the error; they are tried again every 10 minutes"))
    else:
        checks.append(Check("inbound", True, "every stored message was handled"))
    return checks


def run_checks() -> dict:
    """All checks in order; later ones are skipped when what they need failed."""
    settings, checks = _settings_checks()
    if settings is not None:
        engine, found = _database_checks(settings)
        checks += found
        checks += asyncio.run(_telegram_checks(settings))
        checks += _twilio_checks(settings)
        if engine is not None:
            if all(check.ok for check in found):  # the queues can only be read from a current schema
                checks += _queue_checks(engine)
            engine.dispose()
    return {"ok": all(check.ok for check in checks), "checks": [asdict(check) for check in checks]}
