"""The dashboard's people page: workers and youths listed, edited and deactivated by coordinators."""

from __future__ import annotations

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import people_admin, status_codes, units
from bot.errors import InputError
from bot.service import Service
from handlers.web.dashboard_base import Viewer, error_page, forbidden, lang, not_found, page, render
from handlers.web.dashboard_programme import chosen_unit
from models.people import Person, Role
from models.programme import Unit


def _people_scope(session: Session, viewer: Viewer, params) -> tuple[Unit | None, int | None]:
    """The unit the people page shows (a coordinator's own); LookupError for one the viewer may not see."""
    raw = params.get("unit") or ""
    unit = chosen_unit(session, viewer, int(raw) if raw.isdigit() else None)
    return unit, unit.id if unit else None


def _may_edit(session: Session, viewer: Viewer, person: Person | None) -> bool:
    if person is None or not viewer.coordinator or person.role == Role.parent:
        return False
    if units.sees_every_unit(session, viewer.person):
        return True
    return units.unit_id_of(session, person) == units.unit_id_of(session, viewer.person)


@page()
def people_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """Workers and youths, filtered by unit, status code and period; each with a link to change it."""
    L, params = lang(svc), request.query_params
    if not viewer.coordinator:
        return forbidden(svc, viewer)
    today = svc.now().astimezone(svc.settings.tz).date()
    with svc.reading() as session:
        try:
            unit, unit_id = _people_scope(session, viewer, params)
            youths = people_admin.list_youths(session, today=today, unit_id=unit_id,
                                              status=params.get("status") or None,
                                              period_state=params.get("period") or None)
        except LookupError:
            return not_found(svc, viewer)
        except InputError as exc:
            return error_page(svc, 400, L._("Ukjent verdi for {field}: «{value}».", field=exc.field,
                                            value=params.get(exc.field if exc.field == "period" else "status")), viewer)
        workers = people_admin.list_workers(session, unit_id=unit_id)
        names = {w["id"]: w["name"] for w in people_admin.list_workers(session, include_inactive=True)}
        unit_names = {u.id: u.name for u in units.all_units(session)}
        choices = [(u.id, u.name) for u in units.all_units(session)] \
            if units.sees_every_unit(session, viewer.person) else []
    return render(svc, "people.html", viewer=viewer, title=L._("Personer"), workers=workers, youths=youths,
                  names=names, unit_names=unit_names, unit=unit, choices=choices, codes=status_codes.CODES,
                  filters={"status": params.get("status") or "", "period": params.get("period") or ""},
                  saved=params.get("saved"))


def _edit_form(svc: Service, viewer: Viewer, person: Person, session: Session, *, status: int = 200,
               error: str | None = None) -> Response:
    L = lang(svc)
    workers = [w for w in people_admin.list_workers(session) if w["role"] != Role.admin]
    choices = [(u.id, u.name) for u in units.all_units(session)] \
        if units.sees_every_unit(session, viewer.person) else []
    return render(svc, "person_edit.html", status=status, viewer=viewer, title=L._("Endre {name}", name=person.name),
                  person=person, workers=workers, choices=choices, unit_id=units.unit_id_of(session, person),
                  error=error)


@page()
def person_edit(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """GET shows the form; POST saves it (every value checked as `tettpa … edit` checks it) or deactivates."""
    L = lang(svc)
    person_id = request.path_params["person_id"]
    with svc.tx() as session:
        person = session.get(Person, person_id)
        if not _may_edit(session, viewer, person):
            return not_found(svc, viewer)
        if form is None:
            return _edit_form(svc, viewer, person, session)
        youth = person.role == Role.youth
        try:
            with session.begin_nested():  # a refused value leaves nothing half-changed
                _save(svc, session, person, form, youth)
        except InputError as exc:
            return _edit_form(svc, viewer, session.get(Person, person_id), session, status=400,
                              error=L._("Sjekk feltet «{field}»: verdien ble ikke godtatt.", field=exc.field))
    return RedirectResponse("/dashboard/people?saved=1", status_code=303)


def _save(svc: Service, session: Session, person: Person, form: FormData, youth: bool) -> None:
    """Deactivate, or apply the form's values (the unit only where the viewer may choose one)."""
    if form.get("action") == "deactivate":
        people_admin.deactivate(session, person_id=person.id, now=svc.now(), youth=youth)
    else:
        fields = {k: str(form.get(k)) for k in ("name", "phone", "language") if form.get(k) is not None}
        if not youth and form.get("email") is not None:
            fields["email"] = str(form.get("email"))
        if youth:
            fields["primary"] = _number(form.get("primary"))
            fields["secondary"] = _number(form.get("secondary")) or 0
        if (unit_id := _number(form.get("unit"))) is not None:
            fields["unit"] = unit_id
        people_admin.edit(session, person_id=person.id, youth=youth, **fields)


def _number(value) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None
