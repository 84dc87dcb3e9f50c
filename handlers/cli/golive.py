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

    from bot.run.bootstrap import data_keys
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
    from bot.out.transports.connect import ConnectError
    from bot.out.transports.connect import connect_telegram as connect

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
    from bot.out.transports.connect import ConnectError
    from bot.out.transports.connect import connect_twilio as connect

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
    from handlers.cli.doctor import run_checks

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



PeopleOpt = Annotated[str | None, typer.Option("--people", help="Person ids, comma-separated (default: "
                                                                 "every youth and parent not linked yet).")]


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        _fail(f"people: {value!r} is not a comma-separated list of person ids")
    if not ids:
        _fail("people: give at least one person id")
    return ids


def _service():
    from handlers.cli.common import service

    return service()


def _unknown(session, ids: list[int] | None, found) -> None:
    missing = sorted(set(ids or []) - {person.id for person in found})
    if missing:
        _fail(f"people: {', '.join(map(str, missing))} not a youth or parent who still needs an invite")


def invite_send(people: PeopleOpt = None, as_json: JsonOpt = False) -> None:
    """Send each youth and parent not linked yet a new invite by SMS, in their language."""
    from bot import invitations

    svc = _service()
    if not svc.settings.twilio_enabled:
        _fail("Twilio is not configured (TETTPA_TWILIO_*): invites cannot go by SMS; print cards instead")
    ids = _ids(people)
    with svc.tx() as session:
        _unknown(session, ids, invitations.invitable(session, ids=ids))
        results = invitations.send(svc, session, ids=ids)
    sent = sum(result["sent"] for result in results)
    if as_json:
        typer.echo(json.dumps({"sent": sent, "people": results}))
    else:
        typer.echo(f"{sent} invite(s) queued by SMS")
        for result in results:
            if not result["sent"]:
                typer.echo(f"  #{result['id']}: not sent ({result['reason']})")


def invite_cards(
    file: Annotated[str, typer.Argument(help="The PDF to write.")],
    people: PeopleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a PDF of invite cards with QR codes (new codes: the old ones stop working)."""
    from pathlib import Path

    from bot import invitations

    svc = _service()
    ids = _ids(people)
    with svc.tx() as session:
        found = invitations.invitable(session, ids=ids)
        _unknown(session, ids, found)
        if not found:
            _fail("people: nobody needs an invite (everyone has linked Telegram)")
        renewed = [invitations.renew(svc, session, person) for person in found]
        try:
            body = invitations.cards(svc, renewed, invitations.bot_username(session))
        except FileNotFoundError as exc:
            _fail(f"TETTPA_PDF_FONT: no font at {exc} (Debian: apt-get install fonts-dejavu-core)")
        path = Path(file)
        try:
            path.write_bytes(body)  # written before the new codes are committed: no card, no new code
        except OSError as exc:
            _fail(f"file: cannot write {path}: {exc.strerror}")
    result = {"file": str(path), "cards": len(renewed), "people": [inv.person.id for inv in renewed]}
    typer.echo(json.dumps(result) if as_json else f"{path}: {len(renewed)} card(s)")


import_app = typer.Typer(help="Import from the county's spreadsheets.", no_args_is_help=True)


@import_app.command("people")
def import_people(
    file: Annotated[str, typer.Argument(help="A CSV file (UTF-8, `,` or `;`), header row first.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row; create nobody.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Workers, coordinators, youths and parents from a CSV: all or nothing, each error with its row."""
    from pathlib import Path

    from bot import importer

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        _fail(f"file: cannot read {file}: {exc.strerror}")
    svc = _service()
    with svc.tx() as session:
        result = importer.import_people(svc, session, data, dry_run=dry_run)
    errors = [{"row": e.row, "field": e.field, "message": e.message} for e in result.errors]
    people = [{"ref": p.ref, "id": p.id, "name": p.name, "role": p.role, "invite_code": p.invite_code,
               "invite_link": p.invite_link} for p in result.created]
    if as_json:
        typer.echo(json.dumps({"created": 0 if dry_run else len(people), "would_create": len(people) if dry_run
                               else None, "existing": result.existing, "errors": errors, "people": people},
                              ensure_ascii=False))
    elif not errors:
        verb = "would create" if dry_run else "created"
        typer.echo(f"{verb} {len(people)}, already there {result.existing}")
        for p in people:
            typer.echo(f"  {p['ref']}: #{p['id']} {p['name']} ({p['role']})"
                       + (f" {p['invite_code']} {p['invite_link']}" if p["invite_code"] else ""))
    for error in errors:
        typer.echo(f"error: row {error['row']}, {error['field']}: {error['message']}", err=True)
    if errors:
        raise typer.Exit(1)
