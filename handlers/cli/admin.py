"""`tettpa keys`, `tettpa person` and `tettpa data`: the privacy duties from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from handlers.cli.common import fail, service

keys_app = typer.Typer(help="Data keys (TETTPA_DATA_KEY).", no_args_is_help=True)
person_app = typer.Typer(help="A person's data: export and erase (GDPR).", no_args_is_help=True)
data_app = typer.Typer(help="Stored data.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _service():
    return service()


def _fail(message: str) -> None:
    fail(message)


@keys_app.command("generate")
def keys_generate(as_json: JsonOpt = False) -> None:
    """Print a new Fernet key for TETTPA_DATA_KEY."""
    from models import crypto

    key = crypto.new_key()
    typer.echo(json.dumps({"key": key}) if as_json else key)


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Re-encrypt everything with the first key of TETTPA_DATA_KEY ("new,old"); then drop the old one."""
    from bot import privacy

    svc = _service()
    with svc.tx() as session:
        count = privacy.rotate_keys(session)
    typer.echo(json.dumps({"rotated": count}) if as_json else f"{count} values re-encrypted with the first key")


@person_app.command("export")
def person_export(person_id: int, as_json: JsonOpt = True) -> None:
    """Print everything stored about a person as JSON (right of access)."""
    from bot import privacy

    svc = _service()
    with svc.tx() as session:
        data = privacy.export_person(session, svc.settings, person_id)
    if data is None:
        _fail(f"id: there is no person with id {person_id}")
    typer.echo(privacy.dumps(data))


@person_app.command("erase")
def person_erase(
    person_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a person's name, numbers and words (right to erasure); the contact-log facts stay."""
    from bot import privacy

    if not yes and not typer.confirm(f"Erase person {person_id}? This cannot be undone.", default=False):
        _fail("erase: not confirmed (use --yes)")
    svc = _service()
    with svc.tx() as session:
        result = privacy.erase_person(svc, session, person_id)
    if result is None:
        _fail(f"id: there is no person with id {person_id}")
    typer.echo(json.dumps(result) if as_json else f"Person {person_id} erased")


@data_app.command("purge")
def data_purge(as_json: JsonOpt = False) -> None:
    """Delete message texts older than TETTPA_RETENTION now (the service also does it every night)."""
    from bot import privacy

    counts = privacy.purge_expired(_service())
    typer.echo(json.dumps(counts) if as_json else ", ".join(f"{k}: {v}" for k, v in counts.items()))
