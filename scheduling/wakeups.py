"""Wake-ups: a friendly nudge at the youth's time, a follow-up on another channel, then the worker.

A plan (`WakeupPlan`) becomes one row per day (`Wakeup`) a day ahead; each row carries its state and
`next_at`, the moment its next step is due. `run_due_wakeups` does the due steps, so the scheduler only
decides when to look, and a restart, a second look or a crash in between sends nothing twice:

    planned --send--> sent --window--> followed --window--> unconfirmed (worker told)
       |                 \\________________\\____ confirmed (button, SMS reply, key on a call)
       +--> skipped (public or school holiday, paused day, plan stopped)
       +--> missed (the service was down more than LATE_LIMIT past the time) | unreachable
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, or_
from sqlmodel import Session, select

from bot import period, texts, units
from bot.actions import action, reply_hook
from bot.contactlog import record
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from bot.office_hours import public_holiday_name
from bot.out.outbox import queue, send_text
from bot.out.transports.base import Button
from bot.relay import lang
from bot.service import Service
from bot.timespec import SpecError, format_days, parse_days, parse_time
from models.conversations import conversation_for
from models.db import prepared
from models.outbox import PENDING as OUTBOX_PENDING
from models.outbox import SENT as OUTBOX_SENT
from models.outbox import Outbox
from models.people import Person, Role, get_person
from models.schedules import (
    CONFIRMED,
    FOLLOWED,
    MISSED,
    PLANNED,
    SENT,
    SKIPPED,
    UNCONFIRMED,
    UNREACHABLE,
    Wakeup,
    WakeupPause,
    WakeupPlan,
    holidays_between,
    paused_days,
)

# A wake-up missed while the service was down is still sent this late; later it is logged as missed.
LATE_LIMIT = timedelta(minutes=30)
# A confirmation still counts this long after the time (a late "I'm up" after the worker was told).
CONFIRM_WITHIN = timedelta(hours=12)
# Where to reach a youth, in the order a follow-up moves along.
CHANNELS = ("telegram", "sms", "call")
# Telegram allows about 30 messages a second in all, and a burst of wake-ups is spaced at that rate (5,000
# in 167 s). Answers to people writing in at 07:00 still never queue behind it: wake-up rows are bulk, and
# the outbox claims every due row that is not bulk before any that is.
TELEGRAM_BULK_RATE = 30
_GAP = timedelta(seconds=1 / TELEGRAM_BULK_RATE)
# Wake-ups are queued at most this far ahead of their turn; the rest wait as rows for the next round, so
# a burst is prepared a little at a time and the event loop stays free for everything else.
QUEUE_AHEAD = timedelta(seconds=2)
KEY_PREFIX = "wake:"


# -- plans ----------------------------------------------------------------------------------------


def local_due(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The moment of a local time on a day, in UTC (a time in the spring-forward gap moves on by an hour)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _youth(session: Session, youth_id: int) -> Person:
    youth = get_person(session, person_id=youth_id)
    if youth is None or youth.role != Role.youth:
        raise InputError("youth", f"there is no youth with id {youth_id}")
    return youth


def add_plan(
    session: Session, service: Service, *, youth_id: int, at: str, days: str = "mon-fri",
    channel: str = "telegram", start: date | None = None, end: date | None = None,
    created_by: int | None = None,
) -> WakeupPlan:
    """A new wake-up plan; bad values are refused naming the field."""
    now, tz = service.now(), service.settings.tz
    youth = _youth(session, youth_id)
    try:
        at_time = parse_time(at)
    except SpecError as exc:
        raise InputError("time", str(exc)) from None
    try:
        day_set = parse_days(days)
    except SpecError as exc:
        raise InputError("days", str(exc)) from None
    if channel not in CHANNELS:
        raise InputError("channel", f"{channel!r} is not a channel (telegram, sms or call)")
    if channel in ("sms", "call") and not youth.phone:
        raise InputError("channel", f"youth {youth.id} has no phone number for {channel}")
    if channel == "sms" and youth.sms_opt_out:
        raise InputError("channel", f"youth {youth.id} has stopped SMS (STOP)")
    today = now.astimezone(tz).date()
    if end is not None and end < (start or today):
        raise InputError("until", "--until must not be before --from (or today)")
    plan = WakeupPlan(
        youth_id=youth.id, time_of_day=at_time.isoformat(timespec="seconds"), days=format_days(day_set),
        channel=channel, start_date=start, end_date=end, created_by=created_by, created_at=now, updated_at=now,
    )
    session.add(plan)
    session.flush()
    plan_occurrences(session, plan, through=today + timedelta(days=1), tz=tz)
    return plan


def stop_plan(session: Session, service: Service, *, plan_id: int) -> WakeupPlan:
    """Stop a plan: no more wake-ups from it; what happened before stays."""
    plan = session.get(WakeupPlan, plan_id)
    if plan is None:
        raise InputError("id", f"there is no wake-up plan with id {plan_id}")
    plan.active = False
    plan.updated_at = service.now()
    for w in session.exec(select(Wakeup).where(Wakeup.plan_id == plan.id, Wakeup.status == PLANNED)):
        w.status, w.next_at, w.skip_reason = SKIPPED, None, "stopped"
    return plan


def pause_day(session: Session, service: Service, *, youth_id: int, day: date,
              created_by: int | None = None) -> WakeupPause:
    """No wake-ups for the youth on that day; pausing a day twice is the same pause."""
    youth = _youth(session, youth_id)
    if day < service.now().astimezone(service.settings.tz).date():
        raise InputError("date", f"{day.isoformat()} has passed")
    found = session.exec(select(WakeupPause).where(WakeupPause.youth_id == youth.id, WakeupPause.day == day)).first()
    if found is not None:
        return found
    pause = WakeupPause(youth_id=youth.id, day=day, created_by=created_by, created_at=service.now())
    session.add(pause)
    session.flush()
    return pause


def _days_to_plan(plan: WakeupPlan, *, through: date, tz: ZoneInfo) -> list[tuple[date, datetime]]:
    """(day, due) of each row the plan still needs up to `through`: its days within its dates, from when
    it was made, after what it already has."""
    made = plan.created_at.astimezone(tz).date()
    first = max(plan.start_date or made, made)
    if plan.planned_through is not None:
        first = max(first, plan.planned_through + timedelta(days=1))
    last = min(through, plan.end_date) if plan.end_date else through
    days, at = parse_days(plan.days), parse_time(plan.time_of_day)
    found = []
    day = first
    while day <= last:
        due = local_due(day, at, tz)
        if day.weekday() in days and due >= plan.created_at:
            found.append((day, due))
        day += timedelta(days=1)
    return found


def _planned(plan: WakeupPlan, through: date) -> None:
    if plan.planned_through is None or plan.planned_through < through:
        plan.planned_through = through


def plan_occurrences(session: Session, plan: WakeupPlan, *, through: date, tz: ZoneInfo) -> int:
    """Create the plan's rows up to `through`: its days within its dates, from when it was made."""
    found = _days_to_plan(plan, through=through, tz=tz)
    for day, due in found:
        session.add(Wakeup(plan_id=plan.id, youth_id=plan.youth_id, day=day, due_at=due, next_at=due))
    _planned(plan, through)
    return len(found)


# Plans planned per transaction at start: a county's 20,000 plans after a night down would otherwise be one
# transaction holding the write lock for seconds and 40,000 ORM objects in memory at once.
PLAN_CHUNK = 500


def plan_ahead(service: Service) -> int:
    """Make sure every active plan has its rows for today and tomorrow (after a restart: since it last had)."""
    tz = service.settings.tz
    through = service.now().astimezone(tz).date() + timedelta(days=1)
    created, after = 0, 0
    while True:
        with service.tx() as session:
            plans = session.exec(select(WakeupPlan).where(
                WakeupPlan.active.is_(True), WakeupPlan.id > after,
                or_(WakeupPlan.planned_through.is_(None), WakeupPlan.planned_through < through),
            ).order_by(WakeupPlan.id).limit(PLAN_CHUNK).with_for_update()).all()  # two processes plan a day once
            if not plans:
                return created
            rows = [{"plan_id": plan.id, "youth_id": plan.youth_id, "day": day, "due_at": due, "next_at": due,
                     "status": PLANNED}
                    for plan in plans for day, due in _days_to_plan(plan, through=through, tz=tz)]
            if rows:
                session.execute(insert(Wakeup), rows)  # one statement for the chunk, not an object per row
            for plan in plans:
                _planned(plan, through)
            created += len(rows)
            after = max(plan.id for plan in plans)  # FOR UPDATE may return rows out of ORDER BY's order


# -- the due steps --------------------------------------------------------------------------------


def reachable(person: Person) -> list[str]:
    found = []
    if person.telegram_chat_id is not None:
        found.append("telegram")
    if person.phone and not person.sms_opt_out:
        found.append("sms")
    if person.phone:
        found.append("call")
    return found


def channel_order(preferred: str, person: Person) -> list[str]:
    """The plan's channel first, then on along Telegram -> SMS -> call (and round), where the youth has one."""
    start = CHANNELS.index(preferred) if preferred in CHANNELS else 0
    order = CHANNELS[start:] + CHANNELS[:start]
    have = reachable(person)
    return [c for c in order if c in have]


class _Batch:
    """The due rows of one round, with what they share looked up once."""

    def __init__(self, service: Service, session: Session, now: datetime, rows: list[Wakeup]):
        self.service, self.session, self.now = service, session, now
        self.tz = service.settings.tz
        self.N = Lang("nb", self.tz)  # the contact log is written in Bokmål
        days = sorted({w.day for w in rows})
        self.school = {}
        for holiday in holidays_between(session, days[0], days[-1]):
            for day in days:
                if holiday.start <= day <= holiday.end:
                    self.school.setdefault(day, holiday.name)
        youth_ids = sorted({w.youth_id for w in rows})
        self.paused = paused_days(session, youth_ids=youth_ids, days=days)
        self.last_days = period.last_days(session, youth_ids)  # no wake-ups after the follow-up period
        # The plans, youths and their workers in three queries, not two per row (a burst is thousands of
        # rows); held here, since the session only keeps loaded objects while someone refers to them.
        self.plans = {p.id: p for p in session.exec(
            select(WakeupPlan).where(WakeupPlan.id.in_(sorted({w.plan_id for w in rows}))))}
        self.people = {p.id: p for p in session.exec(select(Person).where(Person.id.in_(youth_ids)))}
        workers = sorted({y.primary_id for y in self.people.values() if y.primary_id} - set(youth_ids))
        self.people.update({p.id: p for p in session.exec(select(Person).where(Person.id.in_(workers)))})
        self._next_slot: datetime | None = None

    @property
    def full(self) -> bool:
        """Enough Telegram wake-ups are queued for the next QUEUE_AHEAD: leave the rest for the next round."""
        return self._peek() > self.now + QUEUE_AHEAD

    def slot(self, channel: str) -> datetime:
        """When a send on this channel may go: Telegram wake-ups are spaced at TELEGRAM_BULK_RATE."""
        if channel != "telegram":
            return self.now
        slot = self._peek()
        self._next_slot = slot + _GAP
        return slot

    def _peek(self) -> datetime:
        if self._next_slot is None:
            last = self.session.exec(
                select(func.max(Outbox.due_at)).where(
                    Outbox.status == OUTBOX_PENDING, Outbox.attempts == 0, Outbox.channel == "telegram",
                    Outbox.key.like(f"{KEY_PREFIX}%"),
                )
            ).one()
            self._next_slot = max(self.now, last + _GAP) if last is not None else self.now
        return self._next_slot

    def closed(self, w: Wakeup) -> str | None:
        if (w.youth_id, w.day) in self.paused:
            return "paused"
        if w.youth_id in self.last_days and w.day > self.last_days[w.youth_id]:
            return "period_ended"
        return public_holiday_name(w.day) or self.school.get(w.day)

    def step(self, w: Wakeup) -> None:
        if w.status == PLANNED:
            self.first(w)
        elif w.status == SENT:
            self.after_first(w)
        elif w.status == FOLLOWED:
            self.unconfirmed(w)
        else:
            w.next_at = None

    def first(self, w: Wakeup) -> None:
        plan, youth = self.plans[w.plan_id], self.people[w.youth_id]
        reason = "stopped" if not plan.active else self.closed(w)
        if reason is not None:
            w.status, w.next_at, w.skip_reason = SKIPPED, None, reason
            return
        late = self.now - w.due_at
        if late > LATE_LIMIT:
            w.status, w.next_at = MISSED, None
            self.log(w, youth, plan.channel, "none", self.N._(
                "Vekking {time} ble ikke sendt: tjenesten var nede ({late} for sent)",
                time=self.N.time(w.due_at), late=self.N.duration(late)))
            if w.day == self.now.astimezone(self.tz).date():
                tell_worker(self.service, self.session, w, youth, "missed")
            return
        channels = channel_order(plan.channel, youth)
        if not channels:
            w.status, w.next_at = UNREACHABLE, None
            self.log(w, youth, plan.channel, "none", self.N._(
                "Vekking {time} kunne ikke sendes: ingen Telegram eller telefonnummer", time=self.N.time(w.due_at)))
            tell_worker(self.service, self.session, w, youth, "unreachable")
            return
        w.channel = channels[0]
        w.sent_at = self.send(w, youth, w.channel, "first")
        w.status, w.next_at = SENT, w.sent_at + self.service.settings.wakeup_ack_window
        text = self.N._("Vekking {time} sendt", time=self.N.time(w.due_at))
        if late > timedelta(minutes=1):
            text += " " + self.N._("({late} for sent, tjenesten var nede)", late=self.N.duration(late))
        self.log(w, youth, w.channel, "out", text)

    def after_first(self, w: Wakeup) -> None:
        youth = self.people[w.youth_id]
        rest = [c for c in channel_order(w.channel or "telegram", youth) if c != w.channel]
        if not rest:
            self.unconfirmed(w)
            return
        w.followup_channel = rest[0]
        w.followup_at = self.send(w, youth, w.followup_channel, "followup")
        w.status, w.next_at = FOLLOWED, w.followup_at + self.service.settings.wakeup_ack_window
        self.log(w, youth, w.followup_channel, "out", self.N._(
            "Vekking {time} ikke bekreftet, ny vekking sendt", time=self.N.time(w.due_at)))

    def unconfirmed(self, w: Wakeup) -> None:
        youth = self.people[w.youth_id]
        worker = self.people.get(youth.primary_id)
        w.status, w.next_at, w.worker_told_at = UNCONFIRMED, None, self.now
        self.log(w, youth, w.followup_channel or w.channel or "telegram", "none", self.N._(
            "Vekking {time} ikke bekreftet; {worker} er varslet", time=self.N.time(w.due_at),
            worker=worker.name if worker else "-"))
        tell_worker(self.service, self.session, w, youth, "unconfirmed")

    def send(self, w: Wakeup, youth: Person, channel: str, stage: str) -> datetime:
        slot = self.slot(channel)
        row = send_text(
            self.session, key=f"{KEY_PREFIX}{w.id}:{stage}", person=youth, channel=channel, now=self.now,
            text=wakeup_text(self.service, youth, channel, followup=stage != "first"),
            buttons=((Button(lang(self.service, youth)._("Jeg er oppe"), f"wake:{w.id}:telegram"),),)
            if channel == "telegram" else (),
            gather=f"wake:{w.id}:call" if channel == "call" else None,
        )
        if row is not None:
            row.due_at, row.bulk = slot, True
        return slot

    def log(self, w: Wakeup, youth: Person, channel: str, direction: str, text: str) -> None:
        record(self.session, self.service.settings, at=self.now, youth_id=youth.id, party="system",
               worker_id=youth.primary_id, channel=channel, direction=direction, kind="wakeup", text=text)


def anything_due(now: datetime):
    """The wake-ups with a step due: the sweep asks whether there are any, in a read, before it writes."""
    return select(Wakeup.id).where(Wakeup.next_at <= now)


def run_due_wakeups(service: Service, limit: int = 50) -> int:
    """Do the wake-up steps that are due (send, follow up, tell the worker), oldest first; how many.

    Stops early when QUEUE_AHEAD of Telegram wake-ups is queued: the rest are done in later rounds."""
    now = service.now()
    with service.tx() as session:
        rows = list(session.exec(
            select(Wakeup).where(Wakeup.next_at <= now).order_by(Wakeup.next_at, Wakeup.id).limit(limit)
            .with_for_update(skip_locked=True)
        ))
        if not rows:
            return 0
        batch = _Batch(service, session, now, rows)
        done = 0
        for w in rows:
            if batch.full:
                break
            batch.step(w)
            done += 1
    service.kick_outbox()
    return done


# -- texts ----------------------------------------------------------------------------------------


def wakeup_text(service: Service, youth: Person, channel: str, *, followup: bool = False) -> str:
    L = lang(service, youth)
    name = texts.first_name(youth.name)
    if channel == "call":
        if followup:
            return L._("Hei {name}, dette er Tett på. Er du oppe? Trykk 1 når du er våken.", name=name)
        return L._("God morgen, {name}! Dette er Tett på. Nå er det tid for å stå opp. Trykk 1 når du er oppe.",
                   name=name)
    if channel == "sms":
        if followup:
            return L._("Er du oppe, {name}? Svar på denne meldingen, så vet vi at du er våken.", name=name)
        return L._("God morgen, {name}! Nå er det tid for å stå opp. Svar på denne meldingen når du er oppe.",
                   name=name)
    if followup:
        return L._("Er du oppe, {name}? Trykk på knappen, så vet vi at du er våken.", name=name)
    return L._("God morgen, {name}! ☀️ Nå er det tid for å stå opp. Trykk på knappen når du er oppe.", name=name)


def channel_name(L: Lang, channel: str) -> str:
    return {"telegram": "Telegram", "sms": "SMS", "call": L._("telefon")}.get(channel, channel)


def tell_worker(service: Service, session: Session, w: Wakeup, youth: Person, what: str) -> None:
    """Tell the primary worker; answering the message writes to the youth, the button rings them."""
    worker = get_person(session, person_id=youth.primary_id) if youth.primary_id else None
    if worker is None:
        return
    W = lang(service, worker)
    first = texts.first_name(youth.name)
    at = W.time(w.due_at)
    lines = [{
        "unconfirmed": W._("{name} har ikke bekreftet vekking {time}.", name=youth.name, time=at),
        "missed": W._("Vekking {time} til {name} ble ikke sendt fordi tjenesten var nede.", name=youth.name, time=at),
        "unreachable": W._("Vekking {time} til {name} kunne ikke sendes: ingen Telegram eller telefonnummer.",
                           name=youth.name, time=at),
    }[what]]
    if what == "unconfirmed" and w.followup_channel:
        lines.append(W._("Vi prøvde også på {channel}.", channel=channel_name(W, w.followup_channel)))
    conv = conversation_for(session, person_id=youth.id, youth_id=youth.id)
    by_sms = worker.telegram_chat_id is None
    if by_sms:
        lines.append(W._("Svar med #{tag} foran teksten for å skrive til {name}.", tag=conv.id, name=first))
    else:
        lines.append(W._("Svar på denne meldingen for å skrive til {name}.", name=first))
    buttons = ((Button(W._("Ring {name} med vekking", name=first), f"wakecall:{w.id}"),),) if youth.phone else ()
    text = "\n".join(lines)
    send_text(session, key=f"wakeworker:{w.id}", person=worker, channel="telegram",
              text=f"#{conv.id} {text}" if by_sms else text, buttons=buttons, now=service.now(),
              conversation_id=conv.id)


# -- confirming -----------------------------------------------------------------------------------


def confirm(service: Service, session: Session, w: Wakeup, channel: str, source: str | None = None) -> str:
    """The youth is up: record when and how, take the button away, and tell a worker who was told."""
    now = service.now()
    youth = get_person(session, person_id=w.youth_id)
    L = lang(service, youth)
    if w.status == CONFIRMED:
        return L._("Du har allerede sagt fra at du er oppe.")
    if w.status not in (SENT, FOLLOWED, UNCONFIRMED) or now - w.due_at > CONFIRM_WITHIN:
        return L._("Denne vekkingen er over.")
    told = w.status == UNCONFIRMED
    w.status, w.next_at = CONFIRMED, None
    w.confirmed_at, w.confirmed_channel, w.confirmed_source = now, channel, source
    N = Lang("nb", service.settings.tz)
    record(session, service.settings, at=now, youth_id=youth.id, party="youth", worker_id=youth.primary_id,
           channel=channel, direction="in", kind="wakeup",
           text=N._("Vekking {time} bekreftet kl. {at} ({channel})", time=N.time(w.due_at), at=N.time(now),
                    channel=channel_name(N, channel)))
    _take_buttons_away(service, session, w, youth, L, now)
    worker = get_person(session, person_id=youth.primary_id) if youth.primary_id else None
    if told and worker is not None:
        W = lang(service, worker)
        send_text(session, key=f"wakeworker:{w.id}:late", person=worker, channel="telegram", now=now,
                  text=W._("{name} bekreftet vekking {time} likevel, kl. {at}.", name=youth.name,
                           time=W.time(w.due_at), at=W.time(now)))
    service.kick_outbox()
    return L._("Så bra, {name}! Ha en fin dag.", name=texts.first_name(youth.name))


def _take_buttons_away(service: Service, session: Session, w: Wakeup, youth: Person, L: Lang, now: datetime) -> None:
    """Edit the Telegram wake-ups shown so their button is gone and they say when the youth got up."""
    rows = session.exec(select(Outbox).where(
        Outbox.key.in_([f"{KEY_PREFIX}{w.id}:first", f"{KEY_PREFIX}{w.id}:followup"]),
        Outbox.channel == "telegram", Outbox.status == OUTBOX_SENT, Outbox.external_id.is_not(None),
    )).all()
    for row in rows:
        original = wakeup_text(service, youth, "telegram", followup=row.key.endswith(":followup"))
        up = L._("Oppe kl. {time}", time=L.time(now))
        queue(session, key=f"wakeedit:{row.id}", channel="telegram", address=row.address, now=now,
              person_id=youth.id, text=f"{original}\n\n✅ {up}", edit=row.external_id)


@action("wake")
def wake_action(service: Service, session: Session, person: Person, value: str) -> str | None:
    """"Jeg er oppe" on Telegram ("wake:12:telegram"), or a key pressed on the call ("wake:12:call")."""
    wakeup_id, _, channel = value.partition(":")
    w = session.get(Wakeup, int(wakeup_id)) if wakeup_id.isdigit() else None
    if w is None or w.youth_id != person.id:
        return None
    return confirm(service, session, w, channel if channel in CHANNELS else "telegram")


@action("wakecall")
def wakecall_action(service: Service, session: Session, person: Person, value: str) -> str | None:
    """The worker's "ring" under an unconfirmed wake-up: the service calls the youth, press 1 to confirm."""
    w = session.get(Wakeup, int(value)) if value.isdigit() else None
    if w is None or not person.is_staff:
        return None
    youth = get_person(session, person_id=w.youth_id)
    W = lang(service, person)
    if not units.may_see(session, person, youth):  # their own youths; a coordinator their unit's
        return W._("Du er ikke kontaktperson for denne ungdommen.")
    first = texts.first_name(youth.name)
    if w.status == CONFIRMED:
        return W._("{name} har allerede bekreftet.", name=first)
    if not youth.phone:
        return W._("{name} har ikke telefonnummer.", name=first)
    now = service.now()
    row = send_text(session, key=f"{KEY_PREFIX}{w.id}:workercall", person=youth, channel="call", now=now,
                    text=wakeup_text(service, youth, "call", followup=True), gather=f"wake:{w.id}:call")
    if row is not None:
        N = Lang("nb", service.settings.tz)
        record(session, service.settings, at=now, youth_id=youth.id, party="worker", worker_id=person.id,
               channel="call", direction="out", kind="wakeup",
               text=N._("Vekking {time}: oppringning bestilt av {worker}", time=N.time(w.due_at), worker=person.name))
        if w.status in (SENT, FOLLOWED, MISSED, UNREACHABLE):
            # The worker has it in hand now; a key pressed on this call confirms it.
            w.status, w.next_at = UNCONFIRMED, None
    service.kick_outbox()
    return W._("Tett på ringer {name} nå.", name=first)


# Short answers that only say "I'm up": consumed, not relayed. Anything longer still confirms and is relayed.
ACK_WORDS = {
    "ok", "okay", "okei", "oki", "okey", "k", "ja", "jo", "jepp", "japp", "jupp", "jess", "yes", "yep", "yup", "y",
    "1", "oppe", "er oppe", "jeg er oppe", "eg er oppe", "e oppe", "æ e oppe", "våken", "er våken",
    "jeg er våken", "eg er vaken", "vaken", "up", "i'm up", "im up", "i am up", "awake", "takk",
    "ok takk", "так", "я встав", "я встала", "tak", "wstałem", "wstałam", "haa", "waan soo kacay", "نعم",
    "👍", "✅", "👌", "☀️", "🙂",
}
_PUNCT = re.compile(r"^[\s.!?,;:]+|[\s.!?,;:]+$")


def is_ack(service: Service, person: Person, inc: Incoming) -> bool:
    if inc.media or not inc.text:
        return False
    said = _PUNCT.sub("", inc.text).lower()
    return said in ACK_WORDS or said == lang(service, person)._("Jeg er oppe").lower()


@prepared
def _confirmed_by():
    return select(Wakeup.id).where(Wakeup.confirmed_source == bindparam("source"))


@prepared
def _open_wakeup():
    """The youth's latest wake-up still waiting for a word from them (asked on every message they write)."""
    return select(Wakeup).where(
        Wakeup.youth_id == bindparam("youth_id"), Wakeup.status.in_([SENT, FOLLOWED, UNCONFIRMED]),
        Wakeup.due_at >= bindparam("since"), Wakeup.due_at <= bindparam("now"),
    ).order_by(Wakeup.due_at.desc())


@reply_hook
def wake_reply(service: Service, session: Session, person: Person, inc: Incoming) -> bool:
    """Any message from a youth with a wake-up open confirms it; a bare "ok" is consumed, the rest relayed."""
    if person.role != Role.youth:
        return False
    ack = is_ack(service, person, inc)
    if session.exec(_confirmed_by(), params={"source": inc.source_key}).first() is not None:
        return ack  # seen before (a crash between handling and marking it handled): nothing new
    now = service.now()
    w = session.exec(_open_wakeup(), params={"youth_id": person.id, "since": now - CONFIRM_WITHIN, "now": now}).first()
    if w is None:
        return False
    answer = confirm(service, session, w, inc.channel, source=inc.source_key)
    if ack:
        send_text(session, key=f"wakeok:{inc.source_key}", person=person, text=answer, now=now, channel=inc.channel)
    return ack
