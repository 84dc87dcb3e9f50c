"""`tettpa connect telegram|twilio` and `tettpa doctor`: setting up the real accounts and checking them."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

connect_app = typer.Typer(help="Point the real Telegram bot and Twilio number at this service.",
                          no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _settings():
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        _fail(f"bad configuration: {problems}")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _worker_chats(settings) -> list[tuple[int, str]]:
    """Linked workers' chats and languages, for their own menu; none when the database is not there yet."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from bot.bootstrap import data_keys
    from models import crypto
    from models.db import make_engine
    from models.people import staff

    crypto.use_keys(data_keys(settings))
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            return [(p.telegram_chat_id, p.language) for p in staff(session) if p.telegram_chat_id]
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


@connect_app.command("telegram")
def connect_telegram(as_json: JsonOpt = False) -> None:
    """Check the token; set the command menu and the bot's texts in every language, and the webhook."""
    from bot.transports.connect import ConnectError
    from bot.transports.connect import connect_telegram as connect

    settings = _settings()
    try:
        result = asyncio.run(connect(settings, _worker_chats(settings)))
    except ConnectError as exc:
        _fail(str(exc))
    changed = ", ".join(result["changed"]) or "nothing (already set up)"
    human = (f"{result['bot']}: {result['commands']} menu entries; webhook: {result['webhook'] or 'none (polling)'}"
             f"\nchanged: {changed}")
    typer.echo(json.dumps(result, ensure_ascii=False) if as_json else human)


@connect_app.command("twilio")
def connect_twilio(as_json: JsonOpt = False) -> None:
    """Point the service number's SMS, voice and status webhooks at TETTPA_PUBLIC_URL."""
    from bot.transports.connect import ConnectError
    from bot.transports.connect import connect_twilio as connect

    settings = _settings()
    try:
        result = connect(settings)
    except ConnectError as exc:
        _fail(str(exc))
    changed = ", ".join(result["changed"]) or "nothing (already set up)"
    human = (f"{result['number']}: SMS {result['sms_url']}, voice {result['voice_url']}, "
             f"status {result['status_callback']}\nchanged: {changed}")
    typer.echo(json.dumps(result, ensure_ascii=False) if as_json else human)


def doctor(as_json: JsonOpt = False) -> None:
    """Check settings, database, Telegram, Twilio, scheduler and queues; exit non-zero when one fails."""
    from bot.doctor import run_checks

    report = run_checks()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        for check in report["checks"]:
            typer.echo(f"{'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
            if not check["ok"] and check["fix"]:
                typer.echo(f"     fix: {check['fix']}")
    if not report["ok"]:
        raise typer.Exit(1)


def backup(
    file: Annotated[str, typer.Argument(help="Where to write the copy.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace FILE if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy the SQLite database to FILE while the service runs (PostgreSQL: use pg_dump)."""
    import sqlite3
    from pathlib import Path

    from models.backup import BackupError
    from models.backup import backup as make_backup

    settings = _settings()
    try:
        done = make_backup(settings.database_url, Path(file), overwrite=overwrite)
    except (BackupError, OSError, sqlite3.Error) as exc:
        _fail(f"backup: {exc}")
    result = {"file": done.file, "bytes": done.bytes, "integrity": done.integrity}
    typer.echo(json.dumps(result) if as_json else f"{done.file}: {done.bytes} bytes, integrity {done.integrity}")

