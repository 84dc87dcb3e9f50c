"""The sandbox: with no credentials, the service runs against the built-in Telegram stand-in, with a
demo roster, so a newcomer sees messages route, escalate and remind without any accounts."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot import roster
from bot.service import Service
from bot.standins.telegram import TelegramStandIn
from models import kv
from models.people import Person, Role
from scheduling.meetings import add_meeting
from scheduling.wakeups import add_plan

TOKEN = "100000001:SANDBOX-TOKEN"
# The demo people and the Telegram user ids they play in the stand-in.
DEMO = [
    ("worker", "Kari Nordmann", 7001),
    ("worker", "Per Hansen", 7002),
    ("youth", "Ola Berg", 7101),
    ("parent", "Lise Berg", 7201),
]


DEMO_USERS = {user_id for _, _, user_id in DEMO}


def refusal(service: Service) -> int | None:
    """How many people who are not its demo roster keep TETTPA_SANDBOX=auto from running the sandbox over
    this database, or None when it may run (bot/cli.py says why to the operator).

    The sandbox seeds demo people, shortens escalation and shows its people on a page nobody logs in to:
    over real people that would be a leak and a changed service. So "auto" runs it only over an empty
    database or one that holds the demo roster and nothing else (judged without decrypting anything)."""
    settings = service.settings
    if not settings.sandbox or settings.sandbox_mode == "1":
        return None
    with service.tx() as session:
        people = session.exec(select(Person.telegram_user_id)).all()
        seeded = kv.get(session, "sandbox_seeded") is not None
    if not people:
        return None
    others = [user_id for user_id in people if user_id not in DEMO_USERS]
    if seeded and not others and len(people) <= len(DEMO):
        return None
    return len(others) or len(people)


class Sandbox:
    def __init__(self, service: Service):
        self.service = service
        self.token = TOKEN
        self.telegram = TelegramStandIn(token=TOKEN, strict=True, bot_username="TettPaSandboxBot")

    def seed(self) -> None:
        """Create the demo roster once, and give every demo person a user in the stand-in."""
        svc = self.service
        if refusal(svc) is not None:
            raise RuntimeError("TETTPA_SANDBOX=auto: refused over a database with real people")
        with svc.tx() as session:
            if kv.get(session, "sandbox_seeded") is None:
                kw = {"now": svc.now(), "secret_key": svc.settings.secret_key}
                kari = roster.add_worker(session, name=DEMO[0][1], email="kari@example.org", **kw).person
                per = roster.add_worker(session, name=DEMO[1][1], email="per@example.org", **kw).person
                ola = roster.add_youth(session, name=DEMO[2][1], primary=kari.id, secondary=per.id, **kw).person
                lise = roster.add_parent(session, youth=ola.id, name=DEMO[3][1], **kw).person
                for person, (_, _, user_id) in zip((kari, per, ola, lise), DEMO, strict=True):
                    person.telegram_user_id = person.telegram_chat_id = user_id
                    person.invite_used_at = svc.now()
                    person.last_channel = "telegram"
                # Something to be reminded of: a meeting whose first reminder comes a few minutes after
                # start, and Ola's school-day wake-up.
                add_meeting(session, svc, youth_id=ola.id, worker_id=kari.id,
                            at=svc.now() + timedelta(days=1, minutes=3), place="Kafé Sentrum", remind="24h,2h")
                add_plan(session, svc, youth_id=ola.id, at="07:00", days="mon-fri")
                kv.put(session, "sandbox_seeded", "1")
            for person in self._demo_people(session):
                self.telegram.add_user(person.telegram_user_id, person.name.split()[0],
                                       last_name=" ".join(person.name.split()[1:]) or None,
                                       language_code="nb")

    @staticmethod
    def _demo_people(session) -> list[Person]:
        """The demo roster only: whoever else is in the database is never played or shown (TETTPA_SANDBOX=1)."""
        return list(session.exec(select(Person).where(Person.telegram_user_id.in_(DEMO_USERS)).order_by(Person.id)))

    def people(self) -> list[dict]:
        with self.service.reading() as session:
            rows = self._demo_people(session)
            return [
                {"id": p.id, "name": p.name, "role": p.role, "user_id": p.telegram_user_id,
                 "staff": p.role in (Role.worker, Role.coordinator)}
                for p in rows
            ]
