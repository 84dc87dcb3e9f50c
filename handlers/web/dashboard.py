"""The dashboard: the overview per worker, a youth's page (timeline, charts, notes), the entries behind
the overview's figures, and the access log. Exports are in dashboard_export.py, login in auth.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlmodel import Session, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot import notes, people_admin, timespec, units
from bot.errors import InputError
from bot.i18n import Lang
from bot.service import Service
from handlers.limits import db_int, sane_moment
from handlers.web import dashboard_activities, dashboard_people, dashboard_programme, dashboard_report
from handlers.web.charts import Series, stacked_bars
from handlers.web.dashboard_base import (
    BadQuery,
    Period,
    Viewer,
    build_url,
    error_page,
    forbidden,
    lang,
    local_midnight,
    not_found,
    page,
    parse_date,
    period_of,
    render,
    visible_youth,
)
from models import audit
from models import dashboard as data
from models.contact_log import ContactLog
from models.people import Person, Role, get_person, parents_of, staff

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 100
CHANNELS = ("telegram", "sms", "call", "meeting", "manual")
# The contract's kinds; meetings are entries on the `meeting` channel (notes and reminders).
KINDS = ("message", "auto_reply", "escalation", "wakeup", "reminder", "call", "note", "opt_out", "consent", "status",
         "period")
CSS = (Path(__file__).parent / "templates" / "dashboard" / "dashboard.css").read_bytes()


def kind_labels(L: Lang) -> dict[str, str]:
    return {
        "message": L._("Melding"), "auto_reply": L._("Automatisk svar"), "escalation": L._("Eskalering"),
        "wakeup": L._("Vekking"), "reminder": L._("Påminnelse"), "call": L._("Telefonsamtale"),
        "note": L._("Notat"), "opt_out": L._("SMS stoppet"), "consent": L._("Samtykke"), "status": L._("Statuskode"),
        "period": L._("Oppfølgingsperiode"),
    }


def channel_labels(L: Lang) -> dict[str, str]:
    return {"telegram": "Telegram", "sms": L._("SMS"), "call": L._("Telefon"), "meeting": L._("Møte"),
            "manual": L._("Manuell")}


def party_labels(L: Lang) -> dict[str, str]:
    return {"youth": L._("Ungdom"), "parent": L._("Forelder"), "worker": L._("Kontaktperson"),
            "system": L._("Tett på")}


def direction_labels(L: Lang) -> dict[str, str]:
    return {"in": L._("inn"), "out": L._("ut"), "none": ""}


def _choices(L: Lang, params, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(v for v in params.getlist(name) if v)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BadQuery(L._("Ukjent verdi for {field}: «{value}».", field=name, value=unknown[0]))
    return values


def _int(L: Lang, params, name: str) -> int | None:
    value = params.get(name)
    if not value:
        return None
    number = db_int(value)  # more digits than the database holds would be a 500, not "no such row"
    if number is None:
        raise BadQuery(L._("Ukjent verdi for {field}: «{value}».", field=name, value=value))
    return number


def week_of(day: date, tz: ZoneInfo) -> tuple[datetime, datetime, date]:
    monday = day - timedelta(days=day.weekday())
    return local_midnight(monday, tz), local_midnight(monday + timedelta(days=7), tz), monday


def visible_youth_ids(session: Session, viewer: Viewer) -> tuple[int, ...] | None:
    """None for an admin (every youth); a coordinator sees their unit's."""
    if viewer.coordinator:
        return units.visible_youth_ids(session, viewer.person)
    return tuple(y.id for y in data.youths(session, worker_id=viewer.person.id))


def staff_names(session: Session) -> dict[int, str]:
    return {p.id: p.name for p in staff(session)}


def describe(session: Session, L: Lang, entries: list[ContactLog], youth_names: dict[int, str]) -> list[dict]:
    """What a timeline row shows; texts are decrypted only for these rows."""
    workers = staff_names(session)
    kinds, channels, parties, directions = kind_labels(L), channel_labels(L), party_labels(L), direction_labels(L)
    senders = data.senders(session, message_ids=[e.message_id for e in entries if e.party == "parent" and e.message_id])
    parent_names = {}
    if senders:
        rows = session.exec(select(Person).where(Person.id.in_(set(senders.values())))).all()
        parent_names = {p.id: p.name for p in rows}
    acute = data.acute_taken(session, message_ids=[e.message_id for e in entries
                                                   if e.kind == "message" and e.direction == "in" and e.message_id])
    rows = []
    for e in entries:
        taken = acute.get(e.message_id) if e.kind == "message" and e.direction == "in" else None
        if e.party == "worker" and e.worker_id:
            who = workers.get(e.worker_id, "")
        elif e.party == "youth":
            who = youth_names.get(e.youth_id, "")
        elif e.party == "parent":
            who = parent_names.get(senders.get(e.message_id), "")
        else:
            who = ""
        rows.append({
            "id": e.id, "at": e.at, "when": L.day_and_time(e.at, "EEE d. MMM y", ", ", "HH:mm"), "youth_id": e.youth_id,
            "youth": youth_names.get(e.youth_id, ""), "party": e.party, "party_label": parties.get(e.party, e.party),
            "who": who, "worker": workers.get(e.worker_id, "") if e.worker_id and e.party != "worker" else "",
            "channel": channels.get(e.channel, e.channel), "direction": directions.get(e.direction, e.direction),
            "kind": e.kind, "kind_label": kinds.get(e.kind, e.kind), "after_hours": e.after_hours, "text": e.text,
            "acute": taken is not None,
            # Who took an acute message and when: the first thing a coordinator asks about it.
            "taken": L._("tatt av {name} {when}", name=workers.get(taken[0], ""),
                         when=L.datetime(taken[1], "EEE d. MMM y, HH:mm")) if taken and taken[0] else None,
        })
    return rows


def _page_of(session: Session, filters: data.Filters, cursor_id: int | None) -> tuple[list[ContactLog], int | None]:
    cursor = None
    if cursor_id is not None:
        position = data.entry_position(session, cursor_id)
        allowed = filters.youth_ids
        if position is not None and (allowed is None or position[2] in allowed):
            cursor = (position[0], position[1])
    entries = data.timeline(session, filters, limit=PAGE_SIZE + 1, cursor=cursor)
    more = entries[PAGE_SIZE].id if len(entries) > PAGE_SIZE else None
    return entries[:PAGE_SIZE], more


# --- overview ---

YOUTHS_PER_PAGE = 500  # a county's youths, a page at a time

@page()
def overview(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L, tz, now = lang(svc), svc.settings.tz, svc.now()
    try:
        day = parse_date(L, request.query_params.get("week"), L._("Uke")) or now.astimezone(tz).date()
        unit_id = _int(L, request.query_params, "unit")
        page_number = max(1, _int(L, request.query_params, "page") or 1)
    except BadQuery as exc:
        return error_page(svc, 400, str(exc), viewer)
    start, end, monday = week_of(day, tz)
    with svc.reading() as session:  # a read: the overview never holds up a relay waiting for the write lock
        names = staff_names(session)
        try:
            shown = dashboard_programme.chosen_unit(session, viewer, unit_id)
        except LookupError:
            return not_found(svc, viewer)
        unit_rows = dashboard_programme.unit_rows(session, viewer)
        gone = people_admin.deactivated_ids(session)  # deactivated people are no longer on the overview
        if viewer.coordinator:
            scope = dashboard_programme.youth_scope(session, viewer, shown)
            within = set(scope) if scope is not None else None  # a county's ids: a set, not a tuple to scan
            youths = [y for y in data.youths(session) if (within is None or y.id in within) and y.id not in gone]
            primaries = {y.primary_id for y in youths}
            workers = [p for p in staff(session) if p.id not in gone and (p.id in primaries
                       or (p.role == Role.worker and dashboard_programme.in_unit(session, p, shown)))]
        else:
            youths = [y for y in data.youths(session, worker_id=viewer.person.id) if y.id not in gone]
            workers = [viewer.person]
        youth_ids = tuple(y.id for y in youths) if not viewer.coordinator or scope is not None else None
        figures = data.worker_weeks(session, worker_ids=[w.id for w in workers], start=start, end=end)
        backups = dashboard_programme.backup_work(session, [w.id for w in workers], start, end)
        missed = data.missed_wakeups(session, youth_ids=youth_ids, start=start, end=end)
        open_counts = data.open_by_youth(session, youth_ids=youth_ids)
        acute_open, acute_week = data.acute_counts(session, youth_ids=youth_ids, start=start, end=end)
        # A county's youths are listed a page at a time: their names are decrypted and drawn only for the page
        # (and for those with missed wake-ups), not 5,000 at once.
        pages = max(1, -(-len(youths) // YOUTHS_PER_PAGE))
        page_number = min(page_number, pages)
        listed = youths[(page_number - 1) * YOUTHS_PER_PAGE:page_number * YOUTHS_PER_PAGE]
        youth_names = data.names(session, [y.id for y in listed] + [y.id for y in youths if missed.get(y.id)])
        programme = dashboard_programme.youth_facts(session, L, [y.id for y in listed], now.astimezone(tz).date())
    period = {"from": monday.isoformat(), "until": (monday + timedelta(days=6)).isoformat()}
    cards = []
    for worker in workers:
        f = figures[worker.id]
        base = {"worker": worker.id, **period}
        median = f.median_wait
        cards.append({
            "name": worker.name, "role": worker.role, "f": f, "backup": backups.get(worker.id, 0),
            "open_url": build_url("/dashboard/entries", worker=worker.id, unanswered=1),
            "oldest_wait": L.duration(now - f.oldest_unanswered_at) if f.oldest_unanswered_at else None,
            "oldest_url": build_url(f"/dashboard/entries/{f.oldest_unanswered_entry}")
            if f.oldest_unanswered_entry else None,
            "contacts_url": build_url("/dashboard/entries", kind=list(data.CONTACT_KINDS), **base),
            "after_hours_share": round(100 * f.after_hours / f.contacts) if f.contacts else None,
            "after_hours_url": build_url("/dashboard/entries", kind=list(data.CONTACT_KINDS), after_hours=1, **base),
            "escalations_url": build_url("/dashboard/entries", kind="escalation", **base),
            "median": L.duration(timedelta(seconds=median)) if median is not None else None,
            "median_url": build_url("/dashboard/entries", kind="message", direction="in", **base),
        })
    # Objects, not dicts: Jinja's `y.name` tries an attribute first, and on a dict that is an exception per
    # lookup, which a county's 5,000 rows turn into a tenth of a second.
    youth_rows = [SimpleNamespace(
        id=y.id, name=youth_names.get(y.id, ""), primary=names.get(y.primary_id, ""),
        secondary=names.get(y.secondary_id, ""), open=open_counts.get(y.id, 0),
        **{"status": None, "status_label": "", "period_end": "", **programme.get(y.id, {})},
    ) for y in listed]
    missed_rows = [SimpleNamespace(name=youth_names.get(y.id, ""), missed=missed[y.id],
                                   url=build_url("/dashboard/entries", youth=y.id, missed=1, **period))
                   for y in youths if missed.get(y.id)]
    here = {"week": request.query_params.get("week"), "unit": unit_id}
    pager = {
        "first": (page_number - 1) * YOUTHS_PER_PAGE + 1, "last": (page_number - 1) * YOUTHS_PER_PAGE + len(listed),
        "total": len(youths),
        "previous": build_url("/dashboard", page=page_number - 1, **here) if page_number > 1 else None,
        "next": build_url("/dashboard", page=page_number + 1, **here) if page_number < pages else None,
    } if pages > 1 else None
    week_label = L._("Uke {week}, {first}–{last}", week=monday.isocalendar().week,
                     first=L.date(start, "d. MMM"), last=L.date(end - timedelta(hours=12), "d. MMM y"))
    return render(
        svc, "overview.html", viewer=viewer, title=L._("Oversikt"), cards=cards, youths=youth_rows,
        missed=missed_rows, pager=pager, week_label=week_label, units=unit_rows,
        unit=shown,
        acute_open=acute_open, acute_week=acute_week,
        acute_open_url=build_url("/dashboard/entries", acute=1, unanswered=1),
        acute_week_url=build_url("/dashboard/entries", acute=1, **period),
        previous_week=build_url("/dashboard", week=(monday - timedelta(days=7)).isoformat()),
        next_week=build_url("/dashboard", week=(monday + timedelta(days=7)).isoformat())
        if monday + timedelta(days=7) <= now.astimezone(tz).date() else None,
    )


# --- a youth's page ---

def _chart_weeks(period: Period, now: datetime, tz: ZoneInfo) -> list[date]:
    """Mondays of the weeks to chart: the filtered period (at most its last 26 weeks), else the last 12."""
    today = now.astimezone(tz).date()
    last = period.last or today
    first = period.first or (last - timedelta(weeks=11))
    last_monday = last - timedelta(days=last.weekday())
    first_monday = max(first - timedelta(days=first.weekday()), last_monday - timedelta(weeks=25))
    return [first_monday + timedelta(weeks=i) for i in range((last_monday - first_monday).days // 7 + 1)]


def charts(session: Session, L: Lang, youth_id: int, mondays: list[date], tz: ZoneInfo) -> dict:
    bounds = [local_midnight(m, tz) for m in mondays] + [local_midnight(mondays[-1] + timedelta(days=7), tz)]
    weeks = data.weekly(session, youth_id=youth_id, bounds=bounds)
    numbers = [str(m.isocalendar().week) for m in mondays]
    labels = [L._("uke {week}", week=n) for n in numbers]
    confirmed, missed = [w.confirmed for w in weeks], [w.missed for w in weeks]
    rates = [f"{round(100 * c / (c + m))} %" if c + m else "" for c, m in zip(confirmed, missed, strict=True)]
    within = [w.contacts - w.after_hours for w in weeks]
    after = [w.after_hours for w in weeks]
    return {
        "wakeups": stacked_bars(
            L._("Vekkinger per uke"), labels,
            [Series(L._("bekreftet"), confirmed, "#2f7d4f"), Series(L._("ikke bekreftet"), missed, "#c0392b")],
            annotations=rates, empty_text=L._("Ingen vekkinger i perioden"), ticks=numbers, axis_label=L._("uke"),
            description="; ".join(L._("{week}: {confirmed} bekreftet, {missed} ikke bekreftet", week=label,
                                      confirmed=c, missed=m) for label, c, m in zip(labels, confirmed, missed, strict=True)),
        ),
        "after_hours": stacked_bars(
            L._("Kontakter per uke"), labels,
            [Series(L._("i arbeidstid"), within, "#7aa6c2"), Series(L._("etter arbeidstid"), after, "#2f5d50")],
            empty_text=L._("Ingen kontakter i perioden"), ticks=numbers, axis_label=L._("uke"),
            description="; ".join(L._("{week}: {within} i arbeidstid, {after} etter arbeidstid", week=label,
                                      within=w, after=a) for label, w, a in zip(labels, within, after, strict=True)),
        ),
    }


def _youth_response(
    svc: Service, request: Request, viewer: Viewer, youth_id: int, *, status: int = 200,
    note_error: str | None = None, note_text: str = "",
) -> Response:
    L, tz, params = lang(svc), svc.settings.tz, request.query_params
    try:
        period = period_of(L, params, tz)
        channels = _choices(L, params, "channel", CHANNELS)
        kinds = _choices(L, params, "kind", KINDS)
        cursor_id = _int(L, params, "at")
    except BadQuery as exc:
        return error_page(svc, 400, str(exc), viewer)
    with svc.reading() as session:  # the reading in a read transaction; the access-log entry after it
        youth = visible_youth(session, viewer, youth_id)
        if youth is None:
            return not_found(svc, viewer)
        filters = data.Filters(youth_ids=(youth.id,), start=period.start, end=period.end, channels=channels,
                               kinds=kinds)
        entries, more = _page_of(session, filters, cursor_id)
        rows = describe(session, L, entries, {youth.id: youth.name})
        names = staff_names(session)
        parents = [p.name for p in parents_of(session, youth_id=youth.id)]
        drawn = charts(session, L, youth.id, _chart_weeks(period, svc.now(), tz), tz)
        programme = dashboard_programme.youth_programme(session, L, youth)
    with svc.tx() as session:  # recorded before anything is shown
        audit.record(session, at=svc.now(), actor_id=viewer.person.id, action=audit.VIEW_YOUTH, youth_id=youth.id,
                     detail=urlencode([(k, v) for k, v in params.multi_items() if k != "saved"]))
    query = {"from": params.get("from"), "until": params.get("until"), "channel": list(channels), "kind": list(kinds)}
    base = f"/dashboard/youth/{youth.id}"
    return render(
        svc, "youth.html", status=status, viewer=viewer, title=youth.name, youth=youth, rows=rows,
        primary=names.get(youth.primary_id, ""), secondary=names.get(youth.secondary_id, ""), parents=parents,
        charts=drawn, programme=programme, filters=query, channels=channel_labels(L), kinds=kind_labels(L),
        older=build_url(base, at=more, **query) if more else None,
        newest=build_url(base, **query) if cursor_id else None,
        csv_url=build_url(f"{base}/export.csv", **{"from": params.get("from"), "until": params.get("until")}),
        pdf_url=build_url(f"{base}/export.pdf", **{"from": params.get("from"), "until": params.get("until")}),
        saved=params.get("saved") == "1", note_error=note_error, note_text=note_text,
        note_at_max=svc.now().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
    )


@page()
def youth_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    return _youth_response(svc, request, viewer, request.path_params["youth_id"])


@page()
def add_note(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L, tz = lang(svc), svc.settings.tz
    youth_id = request.path_params["youth_id"]
    text = str(form.get("text") or "")
    channel = str(form.get("channel") or "manual")
    at_value = str(form.get("at") or "").strip()
    with svc.tx() as session:
        youth = visible_youth(session, viewer, youth_id)
        if youth is None:
            return not_found(svc, viewer)
        try:
            at = timespec.parse_instant(at_value, tz) if at_value else None
            if at is not None and not sane_moment(at):
                raise timespec.SpecError("out of range")  # year 1 or 9999 overflows on the way to the database
        except timespec.SpecError:
            at, error = None, L._("Tidspunktet er ikke gyldig.")
        else:
            error = None
        if error is None:
            try:
                notes.add_note(svc, session, viewer.person, youth, text, channel=channel, at=at)
            except InputError as exc:
                error = {
                    "text": L._("Skriv hva kontakten gjaldt (høyst {n} tegn).", n=notes.MAX_LENGTH),
                    "at": L._("Et notat kan ikke dateres fram i tid."),
                    "channel": L._("Velg manuell kontakt eller møte."),
                }.get(exc.field, L._("Notatet ble ikke lagret."))
    if error is not None:
        return _youth_response(svc, request, viewer, youth_id, status=400, note_error=error, note_text=text)
    return RedirectResponse(f"/dashboard/youth/{youth_id}?saved=1#notat", status_code=303)


# --- the entries behind the overview's figures ---

def entries_scope(session: Session, L: Lang, viewer: Viewer, params) -> tuple[tuple[int, ...] | None, list[str]]:
    """The youths the entries list may show, and words for what it is limited to. Raises LookupError
    (404) or PermissionError (403) for what the viewer may not see."""
    scope = visible_youth_ids(session, viewer)
    labels = []
    youth_id, worker_id = _int(L, params, "youth"), _int(L, params, "worker")
    if youth_id is not None:
        youth = visible_youth(session, viewer, youth_id)
        if youth is None:
            raise LookupError(youth_id)
        scope = (youth.id,)
        labels.append(L._("Ungdom: {name}", name=youth.name))
    if worker_id is not None:
        worker = get_person(session, person_id=worker_id)
        if worker is None or not worker.is_staff:
            raise LookupError(worker_id)
        if not viewer.coordinator and worker_id != viewer.person.id:
            raise PermissionError(worker_id)
        primary = data.primary_youth_ids(session, worker_id=worker_id)
        scope = tuple(y for y in primary if scope is None or y in scope)
        labels.append(L._("Fast kontaktperson: {name}", name=worker.name))
    return scope, labels


@page()
def entries_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L, tz, params = lang(svc), svc.settings.tz, request.query_params
    try:
        period = period_of(L, params, tz)
        channels = _choices(L, params, "channel", CHANNELS)
        kinds = _choices(L, params, "kind", KINDS)
        direction = params.get("direction") or None
        if direction not in (None, "in", "out", "none"):
            raise BadQuery(L._("Ukjent verdi for {field}: «{value}».", field="direction", value=direction))
        after_hours = {"1": True, "0": False}.get(params.get("after_hours") or "")
        cursor_id = _int(L, params, "at")
    except BadQuery as exc:
        return error_page(svc, 400, str(exc), viewer)
    with svc.reading() as session:  # the reading in a read transaction; the access-log entry after it
        try:
            scope, labels = entries_scope(session, L, viewer, params)
        except BadQuery as exc:
            return error_page(svc, 400, str(exc), viewer)
        except LookupError:
            return not_found(svc, viewer)
        except PermissionError:
            return forbidden(svc, viewer)
        filters = data.Filters(
            youth_ids=scope, start=period.start, end=period.end, channels=channels, kinds=kinds,
            after_hours=after_hours, direction=direction, unanswered=params.get("unanswered") == "1",
            missed_wakeups=params.get("missed") == "1", acute=params.get("acute") == "1",
        )
        entries, more = _page_of(session, filters, cursor_id)
        youth_names = data.names(session, {e.youth_id for e in entries if e.youth_id})
        rows = describe(session, L, entries, youth_names)
    with svc.tx() as session:  # recorded before anything is shown
        audit.record(session, at=svc.now(), actor_id=viewer.person.id, action=audit.VIEW_ENTRIES,
                     youth_id=scope[0] if scope and len(scope) == 1 else None,
                     detail=urlencode(list(params.multi_items())))
    if period.first or period.last:
        labels.append(L._("Periode: {first}–{last}", first=period.first.isoformat() if period.first else "",
                          last=period.last.isoformat() if period.last else ""))
    if kinds:
        labels.append(L._("Type: {kinds}", kinds=", ".join(kind_labels(L)[k] for k in kinds)))
    if channels:
        labels.append(L._("Kanal: {channels}", channels=", ".join(channel_labels(L)[c] for c in channels)))
    if direction:
        labels.append({"in": L._("Inn til tjenesten"), "out": L._("Ut fra tjenesten"), "none": L._("Uten retning")}[direction])
    if after_hours is not None:
        labels.append(L._("Etter arbeidstid") if after_hours else L._("I arbeidstid"))
    if filters.unanswered:
        labels.append(L._("Ubesvart"))
    if filters.missed_wakeups:
        labels.append(L._("Vekking ikke bekreftet"))
    if filters.acute:
        labels.append(L._("Akutte meldinger"))
    query = [(k, v) for k, v in params.multi_items() if k != "at"]
    return render(
        svc, "entries.html", viewer=viewer, title=L._("Kontakter"), rows=rows, labels=labels,
        older=f"/dashboard/entries?{urlencode([*query, ('at', more)])}" if more else None,
        newest=f"/dashboard/entries?{urlencode(query)}" if cursor_id else None,
    )


@page()
def entry_link(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    """One entry in its youth's timeline: the page starts at that entry."""
    entry_id = request.path_params["entry_id"]
    with svc.reading() as session:
        position = data.entry_position(session, entry_id)
        youth = visible_youth(session, viewer, position[2]) if position and position[2] else None
    if youth is None:
        return not_found(svc, viewer)
    return RedirectResponse(f"/dashboard/youth/{youth.id}?at={entry_id}#e{entry_id}", status_code=303)


# --- the access log ---

@page()
def audit_page(svc: Service, request: Request, viewer: Viewer, form: FormData | None) -> Response:
    L, params = lang(svc), request.query_params
    if not viewer.coordinator:
        return forbidden(svc, viewer)
    try:
        before, youth_id, actor_id = _int(L, params, "before"), _int(L, params, "youth"), _int(L, params, "actor")
    except BadQuery as exc:
        return error_page(svc, 400, str(exc), viewer)
    labels = {
        audit.VIEW_YOUTH: L._("Så ungdommens side"), audit.VIEW_ENTRIES: L._("Så kontaktliste"),
        audit.EXPORT_CSV: L._("Eksporterte CSV"), audit.EXPORT_PDF: L._("Eksporterte PDF"),
    }
    with svc.reading() as session:
        events = audit.events(session, limit=AUDIT_PAGE_SIZE + 1, before_id=before, youth_id=youth_id,
                              actor_id=actor_id)
        people = {p.id: p.name for p in session.exec(select(Person).where(
            Person.id.in_({e.actor_id for e in events} | {e.youth_id for e in events if e.youth_id})))}
    more = events[AUDIT_PAGE_SIZE].id + 1 if len(events) > AUDIT_PAGE_SIZE else None
    rows = [{
        "when": L.datetime(e.at, "EEE d. MMM y, HH:mm:ss"), "actor": people.get(e.actor_id, ""), "actor_id": e.actor_id,
        "action": labels.get(e.action, e.action), "youth": people.get(e.youth_id, "") if e.youth_id else "",
        "youth_id": e.youth_id, "detail": e.detail,
    } for e in events[:AUDIT_PAGE_SIZE]]
    return render(
        svc, "audit.html", viewer=viewer, title=L._("Tilgangslogg"), rows=rows,
        older=build_url("/dashboard/audit", before=more, youth=youth_id, actor=actor_id) if more else None,
        filtered=youth_id is not None or actor_id is not None,
    )


async def stylesheet(request: Request) -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600",
                                                          "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/dashboard", overview),
    Route("/dashboard/static/dashboard.css", stylesheet),
    Route("/dashboard/youth/{youth_id:int}", youth_page),
    Route("/dashboard/youth/{youth_id:int}/notes", add_note, methods=["POST"]),
    Route("/dashboard/youth/{youth_id:int}/consent", dashboard_programme.consent_form, methods=["POST"]),
    Route("/dashboard/entries", entries_page),
    Route("/dashboard/entries/{entry_id:int}", entry_link),
    Route("/dashboard/audit", audit_page),
    Route("/dashboard/report", dashboard_report.report_page),
    Route("/dashboard/people", dashboard_people.people_page),
    Route("/dashboard/activities", dashboard_activities.activities_page, methods=["GET", "POST"]),
    Route("/dashboard/people/{person_id:int}", dashboard_people.person_edit, methods=["GET", "POST"]),
    Route("/dashboard/report.pdf", dashboard_report.report_download),
    Route("/dashboard/report.csv", dashboard_report.report_download),
]
