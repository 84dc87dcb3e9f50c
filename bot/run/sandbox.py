"""The sandbox: with no credentials, the service runs against the built-in Telegram and Twilio stand-ins,
with a demo roster and a clock the visitor moves, so a newcomer sees messages route, escalate and remind
without any accounts and without waiting."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from time import monotonic, sleep

from sqlmodel import func, select

from bot import auth, consent, period, relay, roster, staff, status_codes, units
from bot.service import Service
from models import kv
from models.auth import STAGE_FULL
from models.conversations import Message
from models.outbox import PENDING, SENDING, Outbox
from models.people import Person, Role
from models.schedules import MeetingReminder, Wakeup, WakeupPlan
from scheduling import jobs as schedules
from scheduling import wakeups
from scheduling.meetings import add_meeting
from standins.telegram import TelegramStandIn
from standins.twilio import TwilioStandIn

TOKEN = "100000001:SANDBOX-TOKEN"
SERVICE_NUMBER = "+4790000000"
# The demo people: (ref, role, name, Telegram user id or None for SMS only, phone, language).
DEMO = [
    ("kari", "worker", "Kari Nordmann", 7001, None, "nb"),
    ("per", "worker", "Per Hansen", 7002, None, "nb"),
    ("cora", "coordinator", "Cora Koordinator", 7003, None, "nb"),
    ("ola", "youth", "Ola Berg", 7101, None, "nb"),
    ("amir", "youth", "Amir Said", None, "+4791234567", "nb"),
    ("oksana", "youth", "Oksana Kovalenko", 7102, None, "uk"),
    ("lise", "parent", "Lise Berg", 7201, None, "nb"),
]
DEMO_USERS = {row[3] for row in DEMO if row[3] is not None}
# The coordinator's demo login, shown on the page (only over a database with nothing but the demo roster).
COORDINATOR_EMAIL = "koordinator@example.org"
COORDINATOR_PASSWORD = "sandkasse-demo"
PEOPLE_KEY = "sandbox_people"
SEEDED = "2"  # the roster's version: "1" (Kari, Per, Ola, Lise) is completed once, keeping what they wrote
CLOCK_KEY = "sandbox_clock_offset"  # seconds the clock was moved, kept over restarts
STEP = timedelta(minutes=1)  # the clock moves in steps, each followed by what fell due
MAX_STEPS = 720  # a longer jump takes longer steps: twelve hours in minutes, a day in two-minute steps
MAX_ADVANCE = timedelta(days=2)


class MovableClock:
    """The sandbox's clock: starts at real now, runs with real time, and jumps forward when told."""

    def __init__(self, real=None):
        self._real = real or (lambda: datetime.now(UTC))
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return self._real() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self.offset += delta
        return self()


def _demo_ids(session) -> set[int] | None:
    stored = kv.get(session, PEOPLE_KEY)
    return set(json.loads(stored)) if stored else None


def refusal(service: Service) -> int | None:
    """How many people who are not its demo roster keep TETTPA_SANDBOX=auto from running the sandbox over
    this database, or None when it may run (handlers/cli/main.py says why to the operator).

    The sandbox seeds demo people, logs the visitor in as its coordinator and shows its people on a page
    nobody logs in to: over real people that would be a leak. So "auto" runs it only over an empty database
    or one that holds the demo roster and nothing else (judged without decrypting anything)."""
    settings = service.settings
    if not settings.sandbox or settings.sandbox_mode == "1":
        return None
    with service.tx() as session:
        people = session.exec(select(Person.id, Person.telegram_user_id)).all()
        seeded = kv.get(session, "sandbox_seeded") is not None
        demo = _demo_ids(session)
    if not people:
        return None
    if demo is not None:
        others = [pid for pid, _ in people if pid not in demo]
    else:  # seeded by an older sandbox: its people were the ones with its Telegram users
        others = [pid for pid, user_id in people if user_id not in DEMO_USERS]
    if seeded and not others and len(people) <= len(DEMO):
        return None
    return len(others) or len(people)


class Sandbox:
    def __init__(self, service: Service):
        self.service = service
        self.token = TOKEN
        self.service_number = SERVICE_NUMBER
        self.coordinator_email, self.coordinator_password = COORDINATOR_EMAIL, COORDINATOR_PASSWORD
        self.clock = service.clock if isinstance(service.clock, MovableClock) else MovableClock()
        service.clock = self.clock
        self.telegram = TelegramStandIn(token=TOKEN, strict=True, bot_username="TettPaSandboxBot",
                                        clock=lambda: self.clock().timestamp())
        self.twilio = TwilioStandIn(numbers=(SERVICE_NUMBER,))
        self.sms_in: list[dict] = []  # what the SMS people typed (the stand-in holds what the service sent)
        self._sms_seen: dict[str, datetime] = {}  # a sent SMS's sid: the service's time it was first seen
        self._advancing = threading.Lock()
        self.pressed: set[tuple[int, int, str]] = set()  # (person, message, button data) used on the page
        self._sms_lock = threading.Lock()
        self.login_shown = False
        self.scheduler = None  # set by the runtime, so an advance can run the standing jobs at once
        self.sending = False  # the runtime's outbox sender runs: an advance waits for what fell due to go

    def seed(self) -> None:
        """Create the demo roster once, and give every Telegram demo person a user in the stand-in."""
        svc = self.service
        if refusal(svc) is not None:
            raise RuntimeError("TETTPA_SANDBOX=auto: refused over a database with real people")
        with svc.tx() as session:
            # Nobody but (an older sandbox's) demo people: only then a unit and the shown demo login.
            alone = all(user_id in DEMO_USERS for user_id in session.exec(select(Person.telegram_user_id)))
            if kv.get(session, "sandbox_seeded") != SEEDED:
                ids = self._create(session, alone=alone)
                kv.put(session, PEOPLE_KEY, json.dumps(ids))
                kv.put(session, "sandbox_seeded", SEEDED)
            moved = kv.get(session, CLOCK_KEY)
            if moved and self.clock.offset == timedelta(0):
                self.clock.offset = timedelta(seconds=float(moved))
            people = self._demo_people(session)
            self.login_shown = any(p.role == Role.coordinator and p.password_hash for p in people)
            for person in people:
                if person.telegram_user_id is None:
                    continue
                first, *rest = person.name.split()
                self.telegram.add_user(person.telegram_user_id, first, last_name=" ".join(rest) or None,
                                       language_code=person.language or "nb")

    def _create(self, session, *, alone: bool) -> list[int]:
        svc = self.service
        now, settings = svc.now(), svc.settings
        kw = {"now": now, "secret_key": settings.secret_key}
        unit = units.add_unit(session, name="OT Sandvika", now=now, ot_contact="OT Sandvika, 67 00 00 00").id \
            if alone else None
        made: dict[str, Person] = {}
        # An older sandbox's people (by their Telegram users) are kept, with their chats and log.
        earlier = {p.telegram_user_id: p for p in session.exec(
            select(Person).where(Person.telegram_user_id.in_(DEMO_USERS)))}
        for ref, role, name, user_id, phone, language in DEMO:
            if user_id in earlier:
                made[ref] = earlier[user_id]
                continue
            if role in ("worker", "coordinator"):
                email = COORDINATOR_EMAIL if role == "coordinator" else f"{ref}@example.org"
                person = roster.add_worker(session, name=name, email=email, role=role, unit=unit, **kw).person
            elif role == "youth":
                primary, secondary = (made["per"], made["kari"]) if ref == "oksana" else (made["kari"], made["per"])
                person = roster.add_youth(session, name=name, primary=primary.id, secondary=secondary.id,
                                          phone=phone, language=language, unit=unit,
                                          period_until=(now + timedelta(days=200)).date(), **kw).person
            else:
                person = roster.add_parent(session, youth=made["ola"].id, name=name, language=language, **kw).person
            person.invite_used_at = now
            if user_id is not None:
                person.telegram_user_id = person.telegram_chat_id = user_id
                person.last_channel = "telegram"
            else:
                person.last_channel = "sms"
            made[ref] = person
        session.flush()
        # Kari works days and is off now (/off); Per answers round the clock.
        roster.set_hours(session, worker_id=made["kari"].id, spec="mon-fri 08:00-16:00")
        roster.set_hours(session, worker_id=made["per"].id, spec="mon-sun 00:00-24:00")
        made["kari"].off = True
        if alone:  # a login nobody may use over real people
            roster.set_password(session, worker_id=made["cora"].id, password=COORDINATOR_PASSWORD)
        for ref, code in (("ola", "OTOV"), ("amir", "OTAP"), ("oksana", "OTOA")):
            status_codes.set_status(session, settings, youth_id=made[ref].id, code=code, now=now)
            consent.record_consent(session, settings, youth_id=made[ref].id, scope="contact,wakeup,sms", now=now,
                                   how="digital")
        # Ola's wake-up every morning at 06:30 and a meeting tomorrow at 14:00 (reminders the day before and
        # two hours before).
        tomorrow = (now.astimezone(settings.tz) + timedelta(days=1)).replace(hour=14, minute=0, second=0,
                                                                             microsecond=0)
        add_meeting(session, svc, youth_id=made["ola"].id, worker_id=made["kari"].id, at=tomorrow,
                    place="Kafé Sentrum", remind="24h,2h")
        for plan in session.exec(select(WakeupPlan).where(WakeupPlan.youth_id == made["ola"].id,
                                                          WakeupPlan.active.is_(True))):
            wakeups.stop_plan(session, svc, plan_id=plan.id)  # an older sandbox's 07:00 on school days
        wakeups.add_plan(session, svc, youth_id=made["ola"].id, at="06:30", days="mon-sun")
        return [p.id for p in made.values()]

    def _demo_people(self, session) -> list[Person]:
        """The demo roster only: whoever else is in the database is never played or shown (TETTPA_SANDBOX=1)."""
        ids = _demo_ids(session)
        where = Person.id.in_(ids) if ids is not None else Person.telegram_user_id.in_(DEMO_USERS)
        return list(session.exec(select(Person).where(where).order_by(Person.id)))

    def people(self) -> list[dict]:
        """The demo people as the page and its API show them (blocking: from async code, `people_in` through
        `service.read`)."""
        with self.service.reading() as session:
            return self.people_in(session)

    def people_in(self, session) -> list[dict]:
        return [
            {"id": p.id, "name": p.name, "role": Role(p.role).value,
             "channel": "telegram" if p.telegram_user_id is not None else "sms",
             "user_id": p.telegram_user_id, "phone": p.phone, "language": p.language,
             "staff": p.role in (Role.worker, Role.coordinator), "off": bool(p.off)}
            for p in self._demo_people(session)
        ]

    def coordinator_session(self) -> str | None:
        """A dashboard session for the demo coordinator (the page's link), or None if her login is not shown."""
        if not self.login_shown:
            return None
        with self.service.tx() as session:
            cora = next((p for p in self._demo_people(session) if p.role == Role.coordinator), None)
            if cora is None or not cora.password_hash:
                return None
            return auth.start_session(self.service, session, cora, STAGE_FULL)

    def sms_transport(self, base_url: str):
        """The real SMS transport (the twilio library), talking to the Twilio stand-in at /sandbox/twilio."""
        from bot.out.transports.twilio import SmsTransport, make_client

        settings = self.service.settings.model_copy(update={
            "twilio_account_sid": self.twilio.account_sid, "twilio_auth_token": self.twilio.auth_token,
            "twilio_number": SERVICE_NUMBER, "twilio_api_url": f"{base_url}/sandbox/twilio"})
        return SmsTransport(make_client(settings), settings)

    # --- SMS, typed by a demo person ---

    def sms_typed(self, phone: str, text: str, at: datetime) -> str:
        """Record an SMS a demo person typed; returns its MessageSid (the webhook's form is stored by the caller)."""
        with self._sms_lock:
            sid = f"SM{len(self.sms_in) + 1:032x}"
            self.sms_in.append({"sid": sid, "from": phone, "text": text, "at": at})
        return sid

    def sms_chat(self, phone: str) -> list[dict]:
        """One phone's SMS thread, oldest first, with the service's time of each."""
        now = self.service.now()
        with self._sms_lock:
            chat = [{"id": m["sid"], "from_service": False, "text": m["text"], "at": m["at"], "buttons": []}
                    for m in self.sms_in if m["from"] == phone]
            for m in self.twilio.messages:
                if m["to"] == phone:
                    at = self._sms_seen.setdefault(m["sid"], now)
                    chat.append({"id": m["sid"], "from_service": True, "text": m.get("body") or "", "at": at,
                                 "buttons": []})
        return sorted(chat, key=lambda m: m["at"])

    # --- the clock ---

    def advance(self, delta: timedelta) -> datetime:
        """Move the service's clock forward in steps; after each, do what fell due (blocking: run it in a
        worker thread). Steps of a minute (longer for a jump of more than MAX_STEPS minutes), each ending
        where something falls due: a wake-up at 06:30 is sent at 06:30 and followed up at 06:40, as it would
        be, however far the visitor jumps."""
        if delta <= timedelta(0) or delta > MAX_ADVANCE:
            raise ValueError("advance between 1 second and 2 days")
        with self._advancing:  # one advance at a time, whoever asks
            left, size = delta, max(STEP, delta / MAX_STEPS)
            while left > timedelta(0):
                # A longer step ends where something falls due, so it is done at its time and what follows
                # from it (a wake-up's follow-up, the worker told) is timed from then, not from the step's end.
                step = min(size, left, max(timedelta(seconds=1), self._next_due(size) - self.clock()))
                self.clock.advance(step)
                left -= step
                self.due_now()
                self._sent()
            # A restart goes on from here: the rows written "later" stay later than the clock.
            with self.service.tx() as session:
                kv.put(session, CLOCK_KEY, str(self.clock.offset.total_seconds()))
        return self.service.now()

    def _next_due(self, within: timedelta) -> datetime:
        """The first time within `within` from now that a wake-up, a reminder or a message falls due (or the end
        of `within`)."""
        now = self.clock()
        end = now + within
        with self.service.reading() as session:
            times = [session.exec(select(func.min(column)).where(column > now, column <= end)).one()
                     for column in (Wakeup.next_at, MeetingReminder.due_at, Message.escalate_at, Message.combine_at)]
        return min([t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in times if t is not None] or [end])

    def _sent(self, bound: float = 3.0) -> None:
        """Wait (bounded) until what fell due is sent, so each message carries the time it was sent at."""
        svc = self.service
        svc.kick_outbox()
        if not self.sending:
            return
        deadline = monotonic() + bound
        while monotonic() < deadline:
            with svc.reading() as session:
                due = session.exec(select(func.count()).select_from(Outbox).where(
                    Outbox.status.in_([PENDING, SENDING]), Outbox.due_at <= svc.now())).one()
            if not due:
                return
            sleep(0.02)

    def due_now(self) -> None:
        svc = self.service
        for work in (relay.relay_combined, staff.repeat_acute, staff.escalate_due, staff.sweep_availability,
                     period.sweep, wakeups.plan_ahead, schedules.due_round):
            work(svc)
