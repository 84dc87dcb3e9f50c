"""`tettpa activity add|show|cancel|move|list` and `tettpa notice send`: group activities and notices to many."""

from __future__ import annotations

from typing import Annotated

import typer

activity_app = typer.Typer(help="Group activities with answers (lunch, bowling, a trip).", no_args_is_help=True)
notice_app = typer.Typer(help="One-way notices to many youths.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _instant(svc, value: str, field: str):
    from bot.errors import InputError
    from bot.timespec import SpecError, parse_instant

    if len(value.strip()) <= 10:
        raise InputError(field, f"{value!r} has no time of day (use e.g. 2026-12-10T17:00)")
    try:
        return parse_instant(value, svc.settings.tz)
    except SpecError as exc:
        raise InputError(field, str(exc)) from None


@activity_app.command("add")
def activity_add(
    title: Annotated[str, typer.Option(help="What, e.g. Bowling.")],
    at: Annotated[str, typer.Option(help="ISO date-time, local time: 2026-12-10T17:00.")],
    place: Annotated[str, typer.Option(help="Where, e.g. Bowlinghallen.")],
    unit: Annotated[int | None, typer.Option(help="Invite the youths of this unit.")] = None,
    worker: Annotated[int | None, typer.Option(help="Invite this worker's youths.")] = None,
    youths: Annotated[str | None, typer.Option(help="all, or youth ids: 3,4,7.")] = None,
    respond_by: Annotated[str | None, typer.Option("--respond-by", help="Answer by (ISO date-time).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an activity and invite the youths: each gets it on their channel, in their language."""
    from bot import activities
    from handlers.cli.common import out, run, service

    svc = service()

    def body():
        moment = _instant(svc, at, "at")
        deadline = _instant(svc, respond_by, "respond-by") if respond_by is not None else None
        with svc.tx() as session:
            activity, invited = activities.add_activity(
                session, svc, title=title, at=moment, place=place, unit_id=unit, worker_id=worker, youths=youths,
                respond_by=deadline)
        out(as_json, {"id": activity.id, "invited": invited}, f"Activity {activity.id}: {invited} invited")

    run(body)


@activity_app.command("show")
def activity_show(activity_id: int, as_json: JsonOpt = False) -> None:
    """Who said yes, no or maybe, and who has not answered."""
    from bot import activities
    from handlers.cli.common import out, run, service

    svc = service()

    def body():
        with svc.tx() as session:
            data = activities.show(session, svc, activity_id)
        human = "\n".join([f"{data['id']}: {data['title']} {data['at']} ({data['status']})"] + [
            f"{key}: {', '.join(map(str, data[key])) or '-'}" for key in ("yes", "no", "maybe", "unanswered")])
        out(as_json, data, human)

    run(body)


@activity_app.command("cancel")
def activity_cancel(activity_id: int, as_json: JsonOpt = False) -> None:
    """Cancel an activity: everyone invited is told."""
    from bot import activities
    from handlers.cli.common import out, run, service

    svc = service()

    def body():
        with svc.tx() as session:
            activity = activities.cancel_activity(session, svc, activity_id=activity_id)
        out(as_json, {"id": activity.id, "status": activity.status}, f"Activity {activity.id} cancelled")

    run(body)


@activity_app.command("move")
def activity_move(
    activity_id: int,
    at: Annotated[str, typer.Option(help="The new time, ISO date-time.")],
    as_json: JsonOpt = False,
) -> None:
    """Move an activity to a new time: everyone invited is told."""
    from bot import activities
    from handlers.cli.common import out, run, service

    svc = service()

    def body():
        moment = _instant(svc, at, "at")
        with svc.tx() as session:
            activity = activities.move_activity(session, svc, activity_id=activity_id, at=moment)
        when = activity.at.astimezone(svc.settings.tz).isoformat(timespec="minutes")
        out(as_json, {"id": activity.id, "at": when}, f"Activity {activity.id} moved to {when}")

    run(body)


@notice_app.command("send")
def notice_send(
    text: Annotated[str, typer.Option(help="The notice.")],
    unit: Annotated[int | None, typer.Option(help="To the youths of this unit.")] = None,
    worker: Annotated[int | None, typer.Option(help="To this worker's youths.")] = None,
    youths: Annotated[str | None, typer.Option(help="all, or youth ids: 3,4,7.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a one-way notice to many; replies come back to each youth's worker as ordinary messages."""
    from bot import notices
    from handlers.cli.common import out, run, service

    svc = service()

    def body():
        with svc.tx() as session:
            notice = notices.send_notice(session, svc, text=text, unit_id=unit, worker_id=worker, youths=youths)
        out(as_json, {"id": notice.id, "sent": notice.sent_to}, f"Notice {notice.id}: sent to {notice.sent_to}")

    run(body)


def register(app: typer.Typer) -> None:
    app.add_typer(activity_app, name="activity")
    app.add_typer(notice_app, name="notice")
