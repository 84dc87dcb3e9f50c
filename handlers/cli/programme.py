"""`tettpa unit`, `tettpa youth status|period` and `tettpa consent`: the programme's year from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

unit_app = typer.Typer(help="Units: projects or OT offices.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent and its withdrawal.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _cli():
    from handlers.cli import common as cli_common

    return cli_common


def day(value: str | None, field: str):
    """A YYYY-MM-DD date, or None."""
    from scheduling.school_holidays import parse_day

    return parse_day(value, field) if value is not None else None


@unit_app.command("add")
def unit_add(
    name: Annotated[str, typer.Option(help="E.g. Tett på Vestfold.")],
    ot_contact: Annotated[str | None, typer.Option("--ot-contact", help="Whom youths contact after hand-over.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a unit."""
    from bot import units

    cli = _cli()
    svc = cli.service()

    def body():
        with svc.tx() as session:
            unit = units.add_unit(session, name=name, ot_contact=ot_contact, now=svc.now())
        cli.out(as_json, {"id": unit.id}, f"Unit {unit.id} added")

    cli.run(body)


@unit_app.command("list")
def unit_list(as_json: JsonOpt = False) -> None:
    """List the units."""
    from bot import units

    cli = _cli()
    svc = cli.service()
    with svc.tx() as session:
        rows = [{"id": u.id, "name": u.name, "ot_contact": u.ot_contact} for u in units.all_units(session)]
    cli.out(as_json, {"units": rows}, "\n".join(f"{r['id']}: {r['name']}" for r in rows) or "No units")


def youth_status(
    youth_id: int,
    code: Annotated[str, typer.Argument(help="An OT status code, e.g. OTOV, OTAR, OTEV_IM.")],
    from_: Annotated[str | None, typer.Option("--from", help="From this day (YYYY-MM-DD); default today.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a youth an OT status code; the earlier ones stay in the history."""
    from bot import status_codes

    cli = _cli()
    svc = cli.service()

    def body():
        start = day(from_, "from")
        with svc.tx() as session:
            change = status_codes.set_status(session, svc.settings, youth_id=youth_id, code=code, now=svc.now(),
                                             start=start)
        cli.out(as_json, {"id": youth_id, "status": change.code}, f"Youth {youth_id}: {change.code}")

    cli.run(body)


def youth_period(
    youth_id: int,
    until: Annotated[str, typer.Option(help="The last day of the period (YYYY-MM-DD).")],
    from_: Annotated[str | None, typer.Option("--from", help="The first day (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set, change or extend a youth's follow-up period."""
    from bot import period

    cli = _cli()
    svc = cli.service()

    def body():
        start, end = day(from_, "from"), day(until, "until")
        with svc.tx() as session:
            row = period.change_period(svc, session, youth_id=youth_id, start=start, end=end)
        cli.out(as_json, {"id": youth_id, "from": row.start.isoformat() if row.start else None,
                          "until": row.end.isoformat()}, f"Youth {youth_id}: period until {row.end}")

    cli.run(body)


@consent_app.command("record")
def consent_record(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    by: Annotated[str, typer.Option(help="youth or guardian.")],
    scope: Annotated[str, typer.Option(help="Comma-separated: contact, wakeup, parents, sms.")],
    parent: Annotated[int | None, typer.Option(help="The guardian's id, when a guardian consented.")] = None,
    how: Annotated[str | None, typer.Option(help="signed, digital or verbal.")] = None,
    at: Annotated[str | None, typer.Option(help="The day it was given (YYYY-MM-DD); default today.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a consent, e.g. a form signed at the first meeting."""
    from bot import consent

    cli = _cli()
    svc = cli.service()

    def body():
        on = day(at, "at")
        with svc.tx() as session:
            rows = consent.record_consent(session, svc.settings, youth_id=youth, scope=scope, now=svc.now(),
                                          given_by=by, parent_id=parent, how=how, on=on)
        cli.out(as_json, {"id": rows[-1].id, "ids": [r.id for r in rows]},
                f"Consent recorded for youth {youth}: {', '.join(r.scope for r in rows)}")

    cli.run(body)


@consent_app.command("withdraw")
def consent_withdraw(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    scope: Annotated[str, typer.Option(help="Comma-separated: contact, wakeup, parents, sms.")],
    as_json: JsonOpt = False,
) -> None:
    """Record that a consent was withdrawn."""
    from bot import consent

    cli = _cli()
    svc = cli.service()

    def body():
        with svc.tx() as session:
            rows = consent.withdraw(session, svc.settings, youth_id=youth, scope=scope, now=svc.now())
        cli.out(as_json, {"id": rows[-1].id, "ids": [r.id for r in rows]},
                f"Consent withdrawn for youth {youth}: {', '.join(r.scope for r in rows)}")

    cli.run(body)




def report_command(
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    until: Annotated[str, typer.Option(help="Last day, included.")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or pdf.")] = "json",
    unit: Annotated[int | None, typer.Option(help="Only this unit.")] = None,
    output: Annotated[str | None, typer.Option(help="Write to this file instead of standard output.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The period's figures for the funder's report: aggregates only, no names."""
    from pathlib import Path

    from bot import report, report_pdf, units
    from bot.errors import InputError
    from bot.i18n import Lang

    cli = _cli()
    svc = cli.service()

    def body():
        chosen = "json" if as_json else fmt
        if chosen not in ("json", "csv", "pdf"):
            raise InputError("format", f"{fmt!r} is not a format (json, csv or pdf)")
        first, last = day(from_, "from"), day(until, "until")
        with svc.tx() as session:
            data = report.figures(session, first=first, last=last, tz=svc.settings.tz, unit_id=unit)
            unit_name = units.get_unit(session, unit).name if unit is not None else None
        if chosen == "pdf":
            try:
                content = report_pdf.render(svc.settings.pdf_font, Lang("nb", svc.settings.tz), data,
                                            unit_name=unit_name)
            except report_pdf.FontMissing:
                raise InputError("font", f"no TrueType font at TETTPA_PDF_FONT={svc.settings.pdf_font}") from None
        else:
            content = (report.as_json(data) + "\n" if chosen == "json" else report.as_csv(data)).encode("utf-8")
        if output:
            Path(output).write_bytes(content)
        else:
            typer.echo(content, nl=False)

    cli.run(body)


def _edit(person_id: int, youth: bool, as_json: bool, **fields) -> None:
    from bot import people_admin

    cli = _cli()
    svc = cli.service()

    def body():
        with svc.tx() as session:
            person = people_admin.edit(session, person_id=person_id, youth=youth, **fields)
        cli.out(as_json, {"id": person.id}, f"{'Youth' if youth else 'Worker'} {person.id} changed")

    cli.run(body)


def _deactivate(person_id: int, youth: bool, as_json: bool) -> None:
    from bot import people_admin

    cli = _cli()
    svc = cli.service()

    def body():
        with svc.tx() as session:
            person = people_admin.deactivate(session, person_id=person_id, now=svc.now(), youth=youth)
        cli.out(as_json, {"id": person.id, "active": False}, f"{'Youth' if youth else 'Worker'} {person.id} deactivated")

    cli.run(body)


Name = Annotated[str | None, typer.Option(help="Full name.")]
Phone = Annotated[str | None, typer.Option(help="Phone number, E.164 (8 digits: Norwegian); \"\" removes it.")]
Language = Annotated[str | None, typer.Option(help="nb, nn, en, uk, ar, so, pl.")]
UnitOpt = Annotated[int | None, typer.Option(help="The unit's id.")]
All = Annotated[bool, typer.Option("--all", help="Deactivated people too.")]


def worker_list(unit: UnitOpt = None, include_inactive: All = False, as_json: JsonOpt = False) -> None:
    """List workers, coordinators and admins, with how many youths each is primary and secondary for."""
    from bot import people_admin

    cli = _cli()
    svc = cli.service()
    with svc.tx() as session:
        rows = people_admin.list_workers(session, unit_id=unit, include_inactive=include_inactive)
    cli.out(as_json, {"workers": rows}, "\n".join(
        f"{r['id']}: {r['name']} ({r['role']}, unit {r['unit']}) primary for {r['primary_for']}, "
        f"secondary for {r['secondary_for']}{'' if r['active'] else ', deactivated'}" for r in rows) or "No workers")


def worker_edit(
    worker_id: int, name: Name = None, phone: Phone = None,
    email: Annotated[str | None, typer.Option(help="E-mail; \"\" removes it.")] = None, language: Language = None,
    role: Annotated[str | None, typer.Option(help="worker, coordinator or admin.")] = None, unit: UnitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a worker's name, phone, e-mail, language, role or unit."""
    _edit(worker_id, False, as_json, name=name, phone=phone, email=email, language=language, role=role, unit=unit)


def worker_deactivate(worker_id: int, as_json: JsonOpt = False) -> None:
    """Deactivate a worker: no more relays or dashboard login; their youths go to the other worker."""
    _deactivate(worker_id, False, as_json)


def youth_list(
    unit: UnitOpt = None,
    worker: Annotated[int | None, typer.Option(help="Youths this worker is primary or secondary for.")] = None,
    status: Annotated[str | None, typer.Option(help="Youths with this OT status code today.")] = None,
    period: Annotated[str | None, typer.Option(help="running, ended or none.")] = None,
    include_inactive: All = False, as_json: JsonOpt = False,
) -> None:
    """List youths with their unit, workers, status code and period."""
    from bot import people_admin

    cli = _cli()
    svc = cli.service()

    def body():
        with svc.tx() as session:
            rows = people_admin.list_youths(session, today=svc.now().astimezone(svc.settings.tz).date(),
                                            unit_id=unit, worker_id=worker, status=status, period_state=period,
                                            include_inactive=include_inactive)
        cli.out(as_json, {"youths": rows}, "\n".join(
            f"{r['id']}: {r['name']} (unit {r['unit']}, primary {r['primary']}) {r['status'] or '-'} "
            f"period {r['period']}" for r in rows) or "No youths")

    cli.run(body)


def youth_edit(
    youth_id: int, name: Name = None, phone: Phone = None, language: Language = None,
    primary: Annotated[int | None, typer.Option(help="The fixed worker's id.")] = None,
    secondary: Annotated[int | None, typer.Option(help="The backup worker's id; 0 removes the backup.")] = None,
    unit: UnitOpt = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date", help="YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a youth's name, phone, language, workers, unit or birth date."""
    _edit(youth_id, True, as_json, name=name, phone=phone, language=language, primary=primary, secondary=secondary,
          unit=unit, birth_date=birth_date)


def youth_deactivate(youth_id: int, as_json: JsonOpt = False) -> None:
    """Deactivate a youth: wake-ups and reminders stop, and messages get the hand-over answer."""
    _deactivate(youth_id, True, as_json)


def register(app: typer.Typer, youth_app: typer.Typer, worker_app: typer.Typer) -> None:
    """Hang the programme's commands on the main command line."""
    app.add_typer(unit_app, name="unit")
    app.add_typer(consent_app, name="consent")
    app.command("report")(report_command)
    for name, fn in (("status", youth_status), ("period", youth_period), ("list", youth_list), ("edit", youth_edit),
                     ("deactivate", youth_deactivate)):
        youth_app.command(name)(fn)
    for name, fn in (("list", worker_list), ("edit", worker_edit), ("deactivate", worker_deactivate)):
        worker_app.command(name)(fn)
