"""The dashboard's activities page: make an activity (title, time, place, who, answer by) and see the answers.

A worker invites and sees only their own youths; a coordinator their unit's (an admin every unit's). The
answers are listed by name only for the youths the viewer may see.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import activities, units
from bot.errors import InputError
from bot.service import Service
from bot.timespec import SpecError, parse_instant
from handlers.web.dashboard_base import Viewer, lang, page, render
from models.activities import MAYBE, NO, YES
from models.people import Person, Role, youths_of


def visible_youths(session: Session, viewer: Viewer) -> list[Person]:
    """The youths the viewer may invite and see answers of."""
    if not viewer.coordinator:
        return youths_of(session, worker_id=viewer.person.id)
    ids = units.visible_youth_ids(session, viewer.person)
    query = select(Person).where(Person.role == Role.youth).order_by(Person.id)
    if ids is not None:
        query = query.where(Person.id.in_(ids))
    return list(session.exec(query))


def _when(svc: Service, value: str | None, field: str, required: bool = True) -> datetime | None:
    value = (value or "").strip()
    if not value and not required:
        return None
    if len(value) <= 10:
        raise InputError(field, "give a date and a time")
    try:
        return parse_instant(value, svc.settings.tz)
    except SpecError as exc:
        raise InputError(field, str(exc)) from None


def _create(svc: Service, session: Session, viewer: Viewer, form: FormData, mine: list[Person]) -> int:
    allowed = {y.id for y in mine}
    who = form.get("who") or "mine"
    if who == "chosen":
        chosen = [int(v) for v in form.getlist("youth") if str(v).isdigit() and int(v) in allowed]
    elif who == "worker":
        raw = str(form.get("worker") or "")
        theirs = {y.id for y in youths_of(session, worker_id=int(raw))} if raw.isdigit() else set()
        chosen = sorted(theirs & allowed)
    else:
        chosen = sorted(allowed)
    if not chosen:
        raise InputError("youths", "choose at least one youth")
    activity, _ = activities.add_activity(
        session, svc, title=form.get("title") or "", at=_when(svc, form.get("at"), "at"),
        place=form.get("place") or "", youths=",".join(map(str, chosen)),
        respond_by=_when(svc, form.get("respond_by"), "respond-by", required=False), created_by=viewer.person.id)
    return activity.id


@page()
def activities_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """GET lists the activities with the answers; POST makes one and invites the chosen youths."""
    L = lang(svc)
    error = None
    with svc.tx() as session:
        mine = visible_youths(session, viewer)
        if form is not None:
            try:
                with session.begin_nested():
                    made = _create(svc, session, viewer, form, mine)
                return RedirectResponse(f"/dashboard/activities?saved={made}", status_code=303)
            except InputError as exc:
                error = L._("Sjekk feltet {field}: {problem}", field=exc.field, problem=exc.message)
        names = {y.id: y.name for y in mine}
        rows = []
        for activity in activities.upcoming(session, tuple(names)):
            if activity.status == "draft":
                continue
            answers = {YES: [], NO: [], MAYBE: [], None: []}
            for invite in activities.invites(session, activity.id):
                if invite.youth_id in names:
                    answers[invite.answer].append(names[invite.youth_id])
            rows.append({"activity": activity, "yes": answers[YES], "no": answers[NO], "maybe": answers[MAYBE],
                         "unanswered": answers[None]})
        youths = [(y.id, y.name) for y in mine]
        worker_ids = {i for y in mine for i in (y.primary_id, y.secondary_id) if i}
        workers = [(w.id, w.name) for w in (session.get(Person, i) for i in sorted(worker_ids)) if w is not None] \
            if viewer.coordinator else []
    return render(svc, "activities.html", status=400 if error else 200, viewer=viewer, title=L._("Aktiviteter"),
                  rows=rows, youths=youths, workers=workers, error=error, saved=request.query_params.get("saved"),
                  form=form or {})
