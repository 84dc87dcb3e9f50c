"""Workers' own settings from the chat: /timer (weekly hours) and /borte (absences)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import Session

from bot import roster
from bot.errors import InputError
from bot.events import Incoming
from bot.relay import lang, reply
from bot.service import Service
from bot.timespec import day_span, parse_date_words
from models.people import Person, absences_of


def hours_command(service: Service, session: Session, worker: Person, inc: Incoming, args: str) -> None:
    """/timer [spec]: show or set the worker's own weekly hours."""
    L = lang(service, worker)
    args = args.strip()
    if not args:
        current = worker.hours or L._("alltid (ingen timer satt)")
        reply(service, session, inc, L._(
            "Timene dine: {hours}\n\nEndre med for eksempel:\n/timer man-fre 15:00-23:00; lør,søn 10:00-22:00\n"
            "/timer alltid – tilgjengelig hele tiden", hours=current))
        return
    spec = "" if args.lower() in ("alltid", "always") else args
    try:
        roster.set_hours(session, worker_id=worker.id, spec=spec)
    except InputError:
        # The parser's own message is English for operators; a worker gets the example instead.
        reply(service, session, inc, L._("Det forstod jeg ikke. Skriv dager og klokkeslett, for eksempel "
                                         "/timer man-fre 15:00-23:00"))
        return
    reply(service, session, inc, L._("Timene dine er nå: {hours}", hours=worker.hours or L._("alltid")))


def absence_command(service: Service, session: Session, worker: Person, inc: Incoming, args: str) -> None:
    """/borte FROM [UNTIL] | /borte slett: register or clear an absence (sick, holiday)."""
    L = lang(service, worker)
    tz = service.settings.tz
    now = service.now()
    words = args.split()
    if not words:
        upcoming = [a for a in absences_of(session, worker_id=worker.id) if a.end > now]
        lines = [L._("{start} til {end}", start=L.datetime(a.start, "short"), end=L.datetime(a.end, "short"))
                 for a in upcoming]
        reply(service, session, inc, L._(
            "Fravær: {list}\n\nRegistrer med for eksempel:\n/borte i dag – resten av dagen\n"
            "/borte 01.12 05.12 – fra og med 1. til og med 5. desember\n/borte slett – fjern kommende fravær",
            list="\n".join(lines) or L._("ingen")))
        return
    if words[0].lower() in ("slett", "delete"):
        for absence in absences_of(session, worker_id=worker.id):
            if absence.end > now:
                session.delete(absence)
        reply(service, session, inc, L._("Kommende fravær er fjernet."))
        return
    try:
        start, end = parse_absence(words, now, tz)
        roster.add_absence(session, worker_id=worker.id, start=start, end=end)
    except (InputError, ValueError):
        reply(service, session, inc, L._("Det forstod jeg ikke. Skriv for eksempel /borte 01.12 05.12 eller /borte i dag."))
        return
    reply(service, session, inc, L._("Fravær registrert fra {start} til {end}. Meldingene går til den andre "
                                     "kontaktpersonen så lenge.", start=L.datetime(start, "short"),
                                     end=L.datetime(end, "short")))


def parse_absence(words: list[str], now: datetime, tz) -> tuple[datetime, datetime]:
    """"i dag" (now until midnight), or a first and last day as bot.timespec.parse_date reads them (whole
    days): 01.12 05.12, 01.12.2026, 2026-12-01, i morgen."""
    local = now.astimezone(tz)
    if " ".join(words).lower() in ("i dag", "idag", "today"):
        return now, datetime.combine(local.date() + timedelta(days=1), time(), tz)
    found = parse_date_words(words, local.date())
    if found is None:
        raise ValueError("no day")  # "/borte 5": the caller answers with an example
    first, used = found
    rest = parse_date_words(words[used:], local.date()) if words[used:] else None
    if words[used:] and rest is None:
        raise ValueError("no last day")
    start, end = day_span(first, rest[0] if rest else first, tz)
    return max(now, start), end
