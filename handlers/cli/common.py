"""What every `tettpa` command shares: opening the service and failing with a message a person reads.
Both handlers/cli/main.py and handlers/cli/admin.py import it, so neither imports the other."""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError

from bot.errors import InputError


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def service(migrate: bool = False):
    """Open the service. Only `serve` and `db upgrade` migrate (under the migration lock); every other
    command needs the schema to be current already and says so, exiting non-zero, when it is not."""
    from bot.run.bootstrap import open_service
    from bot.settings import Settings
    from models.migrate import SchemaNotCurrent

    try:
        return open_service(Settings(), migrate=migrate)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        fail(f"bad configuration: {problems}")
    except SchemaNotCurrent as exc:
        fail(f"database: {exc}")


def out(as_json: bool, data: dict, human: str) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False) if as_json else human)


def run(fn):
    """Run a command body: bad input is an error naming the field, never a traceback."""
    try:
        return fn()
    except InputError as exc:
        fail(f"{exc.field}: {exc.message}")
    except OverflowError:
        # An id with more digits than the database's integers: no row can have it.
        fail("id: no such id (the number is larger than any id the database holds)")
