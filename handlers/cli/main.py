"""The `tettpa` command line. Every command that creates or reports something takes --json."""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import Annotated

import typer

from bot.errors import InputError
from handlers.cli.activities import register as register_activities
from handlers.cli.admin import data_app, keys_app, person_app
from handlers.cli.common import fail, out, run, service  # noqa: F401  (also used from here)
from handlers.cli.golive import backup, connect_app, doctor, import_app, invite_cards, invite_send
from handlers.cli.programme import register as register_programme

# Dates people mean (handlers/limits.py has the same bounds for the dashboard).

app = typer.Typer(help="Tett på: messages, availability and wake-ups for OT projects.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database.", no_args_is_help=True)
worker_app = typer.Typer(help="Project workers and coordinators.", no_args_is_help=True)
youth_app = typer.Typer(help="Youths.", no_args_is_help=True)
parent_app = typer.Typer(help="Parents and guardians.", no_args_is_help=True)
log_app = typer.Typer(help="The contact log.", no_args_is_help=True)
invite_app = typer.Typer(help="Invite codes.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(worker_app, name="worker")
app.add_typer(youth_app, name="youth")
app.add_typer(parent_app, name="parent")
app.add_typer(log_app, name="log")
app.add_typer(invite_app, name="invite")
app.add_typer(keys_app, name="keys")
app.add_typer(person_app, name="person")
app.add_typer(data_app, name="data")
register_programme(app, youth_app, worker_app)  # unit, consent, report, lists, edits (handlers/cli/programme.py)
app.add_typer(connect_app, name="connect")
app.command("doctor")(doctor)
app.command("backup")(backup)
app.add_typer(import_app, name="import")
register_activities(app)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _instant(value: str, field: str, tz, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time in local time (TETTPA_TIMEZONE) unless it carries an offset (bot.timespec)."""
    from bot.timespec import SpecError, parse_instant

    try:
        return parse_instant(value, tz, end_of_day=end_of_day)
    except SpecError as exc:
        raise InputError(field, str(exc)) from None


@app.command()
def serve() -> None:
    """Run bot, web server and scheduler in one process until SIGTERM/SIGINT."""
    from bot.run.app import serve as run_server
    from bot.run.sandbox import refusal

    svc = service(migrate=True)
    others = refusal(svc)
    if others is not None:
        fail(f"sandbox: no Telegram token or Twilio credentials are set, so the sandbox would run "
             f"(TETTPA_SANDBOX=auto), but the database holds {others} people who are not the sandbox's demo "
             f"roster. Set TETTPA_TELEGRAM_TOKEN or the Twilio credentials to run the real service, "
             f"TETTPA_SANDBOX=0 to run without channels, or point TETTPA_DATABASE_URL at a new database for "
             f"the sandbox.")
    run_server(svc)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply migrations."""
    service(migrate=True)
    out(as_json, {"status": "ok"}, "database is up to date")


def _invited(as_json: bool, invited, what: str) -> None:
    data = {"id": invited.person.id, "invite_code": invited.code, "invite_link": invited.link}
    out(as_json, data, f"{what} {invited.person.id} added. Invite code: {invited.code}  ({invited.link})")


@worker_app.command("add")
def worker_add(
    name: Annotated[str, typer.Option(help="Full name.")],
    phone: Annotated[str | None, typer.Option(help="Phone number, E.164 (8 digits: Norwegian).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail, for the dashboard login.")] = None,
    language: Annotated[str, typer.Option(help="nb, nn, en, uk.")] = "nb",
    role: Annotated[str, typer.Option(help="worker, coordinator or admin (every unit).")] = "worker",
    unit: Annotated[int | None, typer.Option(help="The unit's id (may be left out with one unit).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a project worker or coordinator and print their invite."""
    from bot import roster

    svc = service()

    def body():
        with svc.tx() as session:
            invited = roster.add_worker(session, name=name, phone=phone, email=email, language=language, role=role,
                                        now=svc.now(), secret_key=svc.settings.secret_key, unit=unit)
        _invited(as_json, invited, "Worker")

    run(body)


@worker_app.command("hours")
def worker_hours(worker_id: int, spec: str, as_json: JsonOpt = False) -> None:
    """Set weekly hours, e.g. "mon-fri 15:00-23:00; sat,sun 10:00-22:00" ("" = always)."""
    from bot import roster

    svc = service()

    def body():
        with svc.tx() as session:
            worker = roster.set_hours(session, worker_id=worker_id, spec=spec)
            out(as_json, {"id": worker.id, "hours": worker.hours}, f"Worker {worker.id}: {worker.hours or 'always'}")

    run(body)


@worker_app.command("absent")
def worker_absent(
    worker_id: int,
    from_: Annotated[str, typer.Option("--from", help="ISO date or date-time, local time.")],
    until: Annotated[str, typer.Option(help="ISO date (whole day included) or date-time.")],
    as_json: JsonOpt = False,
) -> None:
    """Record an absence (sick, holiday)."""
    from bot import roster

    svc = service()

    def body():
        tz = svc.settings.tz
        start, end = _instant(from_, "from", tz), _instant(until, "until", tz, end_of_day=True)
        with svc.tx() as session:
            absence = roster.add_absence(session, worker_id=worker_id, start=start, end=end)
        out(as_json, {"id": absence.id}, f"Absence {absence.id} recorded")

    run(body)


@worker_app.command("set-password")
def worker_set_password(worker_id: int, as_json: JsonOpt = False) -> None:
    """Set the dashboard password, read from standard input."""
    from bot import roster

    password = sys.stdin.readline().rstrip("\r\n")
    svc = service()

    def body():
        with svc.tx() as session:
            worker = roster.set_password(session, worker_id=worker_id, password=password)
        out(as_json, {"id": worker.id}, f"Password set for worker {worker.id}")

    run(body)


@worker_app.command("sessions-end")
def worker_sessions_end(worker_id: int, as_json: JsonOpt = False) -> None:
    """End every dashboard session of a worker now (they must log in again)."""
    from bot import roster

    svc = service()

    def body():
        with svc.tx() as session:
            ended = roster.end_sessions(session, worker_id=worker_id)
        out(as_json, {"id": worker_id, "ended": ended}, f"{ended} sessions of worker {worker_id} ended")

    run(body)


invite_app.command("send")(invite_send)
invite_app.command("cards")(invite_cards)


@invite_app.command("renew")
def invite_renew(person_id: int, as_json: JsonOpt = False) -> None:
    """A new invite code for a worker, youth or parent (valid TETTPA_INVITE_VALID; the old code stops)."""
    from bot import roster

    svc = service()

    def body():
        with svc.tx() as session:
            invited = roster.renew_invite(session, person_id=person_id, now=svc.now(),
                                          secret_key=svc.settings.secret_key)
        data = {"id": invited.person.id, "invite_code": invited.code, "invite_link": invited.link}
        out(as_json, data, f"New invite for {invited.person.id}: {invited.code}  ({invited.link})")

    run(body)


@youth_app.command("add")
def youth_add(
    name: Annotated[str, typer.Option(help="Full name.")],
    primary: Annotated[int, typer.Option(help="The fixed worker's id.")],
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    secondary: Annotated[int | None, typer.Option(help="The backup worker's id.")] = None,
    language: Annotated[str, typer.Option(help="nb, nn, en, uk.")] = "nb",
    birth_date: Annotated[str | None, typer.Option("--birth-date", help="YYYY-MM-DD.")] = None,
    unit: Annotated[int | None, typer.Option(help="The unit's id; default the primary worker's.")] = None,
    period_from: Annotated[str | None, typer.Option("--period-from", help="Follow-up from (YYYY-MM-DD).")] = None,
    period_until: Annotated[str | None, typer.Option("--period-until", help="Last day (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a youth with their primary (and secondary) worker and print the invite."""
    from bot import roster
    from handlers.cli.programme import day

    svc = service()

    def body():
        start, end = day(period_from, "period-from"), day(period_until, "period-until")
        with svc.tx() as session:
            invited = roster.add_youth(session, name=name, primary=primary, secondary=secondary, phone=phone,
                                       language=language, birth_date=birth_date, now=svc.now(),
                                       secret_key=svc.settings.secret_key, unit=unit, period_from=start,
                                       period_until=end)
        _invited(as_json, invited, "Youth")

    run(body)


@parent_app.command("add")
def parent_add(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    language: Annotated[str, typer.Option(help="nb, nn, en, uk.")] = "nb",
    as_json: JsonOpt = False,
) -> None:
    """Add a parent of a youth and print the invite."""
    from bot import roster

    svc = service()

    def body():
        with svc.tx() as session:
            invited = roster.add_parent(session, youth=youth, name=name, phone=phone, language=language,
                                        now=svc.now(), secret_key=svc.settings.secret_key)
        _invited(as_json, invited, "Parent")

    run(body)


@log_app.command("export")
def log_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")],
    youth: Annotated[int | None, typer.Option(help="Only this youth.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD), local time.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, included.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the contact log as CSV or JSON."""
    from bot.contactlog import export

    svc = service()

    def body():
        if fmt not in ("csv", "json"):
            raise InputError("format", f"{fmt!r} is not a format (csv or json)")
        tz = svc.settings.tz
        start = _instant(from_, "from", tz) if from_ else None
        end = _instant(until, "until", tz, end_of_day=True) if until else None
        if start and end and end <= start:
            raise InputError("until", "--until must not be before --from")
        with svc.reading() as session:  # a long read: never the write lock, so the service goes on writing
            if youth is not None and not _is_youth(session, youth):
                raise InputError("youth", f"there is no youth with id {youth}")
            text = export(session, svc.settings, fmt="json" if as_json else fmt, youth_id=youth, start=start, end=end)
        typer.echo(text, nl=fmt == "json" or as_json)

    run(body)


def _is_youth(session, person_id: int) -> bool:
    """A youth with that id exists (an id past the database's integers cannot)."""
    from models.people import Person, Role

    if not 0 < person_id < 2**63:
        return False
    person = session.get(Person, person_id)
    return person is not None and person.role == Role.youth


def main() -> None:
    app()


# -- wake-ups, meetings and school holidays (scheduling/) -----------------------------------------

wakeup_app = typer.Typer(help="Wake-ups: a youth is woken at a time on some days.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meetings with reminders.", no_args_is_help=True)
holiday_app = typer.Typer(help="School holidays: no wake-ups on those days.", no_args_is_help=True)
app.add_typer(wakeup_app, name="wakeup")
app.add_typer(meeting_app, name="meeting")
app.add_typer(holiday_app, name="holiday")


def _day(value: str | None, field: str) -> date | None:
    from scheduling.school_holidays import parse_day

    return parse_day(value, field) if value is not None else None


@wakeup_app.command("add")
def wakeup_add(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    time_: Annotated[str, typer.Option("--time", help="Local time, HH:MM or HH:MM:SS.")],
    days: Annotated[str, typer.Option(help="Weekdays, e.g. mon-fri, sat,sun, daily.")] = "mon-fri",
    channel: Annotated[str, typer.Option(help="telegram, sms or call.")] = "telegram",
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default today.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, included.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a wake-up plan for a youth."""
    from scheduling import wakeups

    svc = service()

    def body():
        start, end = _day(from_, "from"), _day(until, "until")
        with svc.tx() as session:
            plan = wakeups.add_plan(session, svc, youth_id=youth, at=time_, days=days, channel=channel.lower(),
                                    start=start, end=end)
        out(as_json, {"id": plan.id}, f"Wake-up {plan.id}: youth {plan.youth_id} at {plan.time_of_day} "
                                      f"{plan.days} by {plan.channel}")

    run(body)


@wakeup_app.command("list")
def wakeup_list(
    youth: Annotated[int | None, typer.Option(help="Only this youth.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the active wake-up plans."""
    from models.schedules import plans_of

    svc = service()
    with svc.tx() as session:
        plans = plans_of(session, youth_ids=[youth] if youth is not None else None)
    rows = [{"id": p.id, "youth_id": p.youth_id, "time": p.time_of_day, "days": p.days, "channel": p.channel,
             "from": p.start_date.isoformat() if p.start_date else None,
             "until": p.end_date.isoformat() if p.end_date else None} for p in plans]
    out(as_json, {"plans": rows}, "\n".join(
        f"{r['id']}: youth {r['youth_id']} {r['time']} {r['days']} {r['channel']}" for r in rows) or "No wake-ups")


@wakeup_app.command("stop")
def wakeup_stop(plan_id: int, as_json: JsonOpt = False) -> None:
    """Stop a wake-up plan."""
    from scheduling import wakeups

    svc = service()

    def body():
        with svc.tx() as session:
            plan = wakeups.stop_plan(session, svc, plan_id=plan_id)
        out(as_json, {"id": plan.id}, f"Wake-up {plan.id} stopped")

    run(body)


@wakeup_app.command("pause")
def wakeup_pause(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    day: Annotated[str, typer.Option("--date", help="The day without wake-ups (YYYY-MM-DD).")],
    as_json: JsonOpt = False,
) -> None:
    """No wake-ups for a youth on one day."""
    from scheduling import wakeups

    svc = service()

    def body():
        when = _day(day, "date")
        with svc.tx() as session:
            pause = wakeups.pause_day(session, svc, youth_id=youth, day=when)
        out(as_json, {"id": pause.id}, f"No wake-ups for youth {youth} on {when.isoformat()}")

    run(body)


@meeting_app.command("add")
def meeting_add(
    youth: Annotated[int, typer.Option(help="The youth's id.")],
    worker: Annotated[int, typer.Option(help="The worker's id.")],
    at: Annotated[str, typer.Option(help="ISO date-time, local time: 2026-11-25T14:00.")],
    place: Annotated[str, typer.Option(help="Where, e.g. Kafé Sentrum.")],
    remind: Annotated[str, typer.Option(help="Reminders before it, e.g. 24h,2h.")] = "24h,2h",
    parent: Annotated[bool, typer.Option("--parent", help="Remind the youth's parents too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a meeting; the youth gets reminders with buttons to confirm, cancel or ask to move it."""
    from scheduling import meetings

    svc = service()

    def body():
        if len(at.strip()) <= 10:
            raise InputError("at", f"{at!r} has no time of day (use e.g. 2026-11-25T14:00)")
        moment = _instant(at, "at", svc.settings.tz)
        with svc.tx() as session:
            meeting = meetings.add_meeting(session, svc, youth_id=youth, worker_id=worker, at=moment, place=place,
                                           remind=remind, include_parent=parent)
        out(as_json, {"id": meeting.id}, f"Meeting {meeting.id} at {moment.isoformat(timespec='minutes')}")

    run(body)


@meeting_app.command("cancel")
def meeting_cancel(meeting_id: int, as_json: JsonOpt = False) -> None:
    """Cancel a meeting: the youth is told and no more reminders go out."""
    from scheduling import meetings

    svc = service()

    def body():
        with svc.tx() as session:
            meeting = meetings.cancel_meeting(session, svc, meeting_id=meeting_id)
        out(as_json, {"id": meeting.id}, f"Meeting {meeting.id} cancelled")

    run(body)


@holiday_app.command("add")
def holiday_add(
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    until: Annotated[str, typer.Option(help="Last day, included.")],
    name: Annotated[str, typer.Option(help="E.g. Høstferie.")],
    as_json: JsonOpt = False,
) -> None:
    """Add a school holiday: no wake-ups on those days."""
    from scheduling.school_holidays import add_holiday

    svc = service()

    def body():
        start, end = _day(from_, "from"), _day(until, "until")
        with svc.tx() as session:
            holiday, _ = add_holiday(session, start=start, end=end, name=name, now=svc.now())
        out(as_json, {"id": holiday.id}, f"School holiday {holiday.id}: {holiday.name} {start} – {end}")

    run(body)


@holiday_app.command("import")
def holiday_import(
    path: Annotated[str, typer.Argument(help="An .ics calendar or a .csv file (name, from, until).")],
    as_json: JsonOpt = False,
) -> None:
    """Import school holidays from an ICS or CSV file; importing the same file again adds nothing."""
    from pathlib import Path

    from scheduling.school_holidays import import_file

    svc = service()

    def body():
        file = Path(path)
        if not file.is_file():
            raise InputError("file", f"{path} is not a readable file")
        with svc.tx() as session:
            result = import_file(session, data=file.read_bytes(), filename=file.name, now=svc.now(),
                                 tz=svc.settings.tz)
        out(as_json, {"ids": result.added + result.existing, "added": len(result.added),
                      "existing": len(result.existing)},
            f"{len(result.added)} school holidays added, {len(result.existing)} were there already")

    run(body)


@holiday_app.command("list")
def holiday_list(as_json: JsonOpt = False) -> None:
    """List the school holidays."""
    from sqlmodel import select

    from models.schedules import SchoolHoliday

    svc = service()
    with svc.tx() as session:
        rows = session.exec(select(SchoolHoliday).order_by(SchoolHoliday.start)).all()
    data = [{"id": h.id, "name": h.name, "from": h.start.isoformat(), "until": h.end.isoformat()} for h in rows]
    out(as_json, {"holidays": data},
        "\n".join(f"{h['id']}: {h['name']} {h['from']} – {h['until']}" for h in data) or "No school holidays")
