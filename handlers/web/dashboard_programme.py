"""The dashboard's programme parts: units on the overview, and a youth's status, period and consent."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import Session, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import consent, report, status_codes, units
from bot.errors import InputError
from bot.i18n import Lang
from bot.service import Service
from handlers.web.dashboard_base import (
    Viewer,
    build_url,
    error_page,
    lang,
    not_found,
    page,
    visible_youth,
)
from models.contact_log import ContactLog
from models.people import Person, Role
from models.programme import FollowUp, Unit


def chosen_unit(session: Session, viewer: Viewer, unit_id: int | None) -> Unit | None:
    """The unit the overview shows: a coordinator's own; for those who see every unit, the one asked for
    (None: all). LookupError for a unit that does not exist or is not the viewer's."""
    if not viewer.coordinator:
        return None
    own = units.unit_of(session, viewer.person)
    if not units.sees_every_unit(session, viewer.person):
        if unit_id is not None and (own is None or unit_id != own.id):
            raise LookupError(unit_id)
        return own
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise LookupError(unit_id)
    return unit


def unit_rows(session: Session, viewer: Viewer) -> list[dict]:
    """The overview per unit, for those who see every unit."""
    if not viewer.coordinator or not units.sees_every_unit(session, viewer.person):
        return []
    roles = {pid: role for pid, role in session.exec(select(Person.id, Person.role)).all()}
    rows = []
    for unit in units.all_units(session):
        members = units.member_ids(session, unit.id)
        rows.append({"id": unit.id, "name": unit.name, "url": build_url("/dashboard", unit=unit.id),
                     "youths": sum(1 for m in members if roles.get(m) == Role.youth),
                     "workers": sum(1 for m in members if roles.get(m) in (Role.worker, Role.coordinator))})
    return rows


def youth_scope(session: Session, viewer: Viewer, shown: Unit | None) -> tuple[int, ...] | None:
    if shown is None:
        return units.visible_youth_ids(session, viewer.person)
    members = units.member_ids(session, shown.id)
    return tuple(y for y in session.exec(select(Person.id).where(Person.role == Role.youth).order_by(Person.id))
                 if y in members)


def in_unit(session: Session, person: Person, shown: Unit | None) -> bool:
    return shown is None or units.unit_id_of(session, person) == shown.id


def _day(L: Lang, day) -> str:
    return L.date(datetime.combine(day, time(12), tzinfo=L.tz), "d. MMM y") if day else ""


def youth_facts(session: Session, L: Lang, youth_ids: list[int], today: date) -> dict[int, dict]:
    """What the overview shows of each youth's programme: status code and the period's last day."""
    codes = status_codes.status_on(session, youth_ids, today)
    ends = {r.youth_id: r.end for r in session.exec(select(FollowUp).where(FollowUp.youth_id.in_(youth_ids)))} \
        if youth_ids else {}
    return {y: {"status": codes.get(y), "status_label": status_codes.label(codes.get(y)),
                "period_end": _day(L, ends.get(y))} for y in youth_ids}


def youth_programme(session: Session, L: Lang, youth: Person) -> dict:
    """A youth's page: unit, period, status history (newest first) and what is consented."""
    unit = units.unit_of(session, youth)
    row = session.get(FollowUp, youth.id)
    given = consent.current(session, youth.id)
    return {
        "unit": unit.name if unit else "",
        "period_start": _day(L, row.start) if row else "", "period_end": _day(L, row.end) if row else "",
        "statuses": [{"code": s.code, "label": status_codes.label(s.code), "from": _day(L, s.start)}
                     for s in reversed(status_codes.history(session, youth.id))],
        "consents": [{"scope": scope_labels(L)[scope], "on": _day(L, c.on)} for scope, c in sorted(given.items())],
        "scope_choices": scope_labels(L),
    }


def scope_labels(L: Lang) -> dict[str, str]:
    return {"contact": L._("kontakt"), "wakeup": L._("vekking"), "parents": L._("foresatte får vite"),
            "sms": "SMS"}


@page()
def consent_form(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """The youth's page records or withdraws consent; every change is a log entry."""
    youth_id = request.path_params["youth_id"]
    scopes = ",".join(str(v) for v in form.getlist("scope") if v)
    with svc.tx() as session:
        youth = visible_youth(session, viewer, youth_id)
        if youth is None:
            return not_found(svc, viewer)
        try:
            if form.get("action") == "withdraw":
                consent.withdraw(session, svc.settings, youth_id=youth.id, scope=scopes, now=svc.now(),
                                 by=viewer.person)
            else:
                consent.record_consent(session, svc.settings, youth_id=youth.id, scope=scopes, now=svc.now(),
                                       given_by=str(form.get("by") or "youth"), how=str(form.get("how") or "signed"),
                                       by=viewer.person)
        except InputError:
            return error_page(svc, 400, lang(svc)._("Velg hva samtykket gjelder, og hvem som ga det."), viewer)
    return RedirectResponse(f"/dashboard/youth/{youth_id}#programme", status_code=303)


def backup_work(session: Session, worker_ids: list[int], start: datetime, end: datetime) -> dict[int, int]:
    """Contacts a worker had for youths where someone else is primary: the backup work the cards count too."""
    if not worker_ids:
        return {}
    rows = session.exec(select(ContactLog.worker_id, Person.primary_id).join(Person, Person.id == ContactLog.youth_id)
                        .where(ContactLog.worker_id.in_(worker_ids), ContactLog.party == "worker",
                               ContactLog.kind.in_(report.CONTACT_KINDS), ContactLog.at >= start, ContactLog.at < end))
    counts: dict[int, int] = {}
    for worker_id, primary_id in rows:
        if primary_id != worker_id:
            counts[worker_id] = counts.get(worker_id, 0) + 1
    return counts
