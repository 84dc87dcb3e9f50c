"""The dashboard's programme parts: units on the overview, and a youth's status, period and consent."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import Session, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import consent, people_admin, report, report_pdf, status_codes, units
from bot.charts import Series, stacked_bars
from bot.errors import InputError
from bot.i18n import Lang
from bot.service import Service
from handlers.dashboard_base import (
    SECURITY_HEADERS,
    BadQuery,
    Viewer,
    build_url,
    error_page,
    forbidden,
    lang,
    not_found,
    page,
    parse_date,
    render,
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


def _report_request(svc: Service, request: Request, viewer: Viewer):
    """The report's period and unit from the query, or an error page: only coordinators (their own unit)
    and admins see it."""
    L, params = lang(svc), request.query_params
    if not viewer.coordinator:
        return None, forbidden(svc, viewer)
    today = svc.now().astimezone(svc.settings.tz).date()
    try:
        first = parse_date(L, params.get("from"), L._("Fra")) or date(today.year, 1, 1)
        last = parse_date(L, params.get("until"), L._("Til")) or today
        if last < first:
            raise BadQuery(L._("«Til» kan ikke være før «Fra»."))
        unit_id = int(params["unit"]) if params.get("unit", "").isdigit() else None
    except BadQuery as exc:
        return None, error_page(svc, 400, str(exc), viewer)
    with svc.tx() as session:
        try:
            unit = chosen_unit(session, viewer, unit_id)
        except LookupError:
            return None, not_found(svc, viewer)
        data = report.figures(session, first=first, last=last, tz=svc.settings.tz,
                              unit_id=unit.id if unit else None)
        choices = [(u.id, u.name) for u in units.all_units(session)] \
            if units.sees_every_unit(session, viewer.person) else []
    return (data, unit.name if unit else None, choices), None


@page()
def report_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """The funder's report: the same figures as `tettpa report`, a chart, and the PDF and CSV."""
    found, problem = _report_request(svc, request, viewer)
    if problem is not None:
        return problem
    data, unit_name, choices = found
    L = lang(svc)
    groups = data["status_groups"]
    chart = stacked_bars(
        L._("Hvor ungdommene står ved periodens slutt"), list(groups),
        [Series(L._("ungdommer"), list(groups.values()), "#2f5d50")],
        description="; ".join(f"{name}: {n}" for name, n in groups.items()),
        empty_text=L._("Ingen statuskoder i perioden"), ticks=[str(i + 1) for i in range(len(groups))])
    query = {"from": data["from"], "until": data["until"], "unit": data["unit"]}
    return render(svc, "report.html", viewer=viewer, title=L._("Rapport til tilskuddsgiver"), data=data,
                  words=report.labels(L), channels=report_pdf.channel_words(L), unit_name=unit_name,
                  choices=choices, chart=chart, groups=list(groups), label=status_codes.label,
                  pdf_url=build_url("/dashboard/report.pdf", **query),
                  csv_url=build_url("/dashboard/report.csv", **query),
                  median=L.duration_seconds(data["median_first_answer_seconds"])
                  if data["median_first_answer_seconds"] is not None else "–")


@page()
def report_download(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    found, problem = _report_request(svc, request, viewer)
    if problem is not None:
        return problem
    data, unit_name, _choices = found
    name = f"rapport-{data['from']}-{data['until']}"
    if request.url.path.endswith(".csv"):
        body, media, name = report.as_csv(data).encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"
    else:
        try:
            body = report_pdf.render(svc.settings.pdf_font, lang(svc), data, unit_name=unit_name)
        except report_pdf.FontMissing:
            return error_page(svc, 503, lang(svc)._(
                "PDF-eksporten mangler skrifttypen på serveren (TETTPA_PDF_FONT). CSV-eksporten virker."), viewer)
        media, name = "application/pdf", f"{name}.pdf"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)


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


# --- people: the lists, edits and deactivation for coordinators ---

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
    with svc.tx() as session:
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
