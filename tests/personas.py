"""The people of the tests: a youth, a primary and a secondary worker, a parent, and an outsider."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from sqlmodel import select

from bot import roster
from bot.events import Incoming
from bot.relay import receive
from bot.service import Service
from models.outbox import Outbox
from models.people import Person

PRIMARY_TG, SECONDARY_TG, YOUTH_TG, PARENT_TG, OUTSIDER_TG = 5001, 5002, 5101, 5201, 5999
_updates = itertools.count(1)


@dataclass
class Cast:
    primary: int
    secondary: int
    youth: int
    parent: int


def cast(service: Service, *, link: bool = True, youth_language: str = "nb") -> Cast:
    """Kari (primary), Per (secondary), Ola (youth) and Lise (Ola's mother), linked to Telegram."""
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", email="kari@ot.example", **kw).person
        per = roster.add_worker(session, name="Per Hansen", phone="+4791111111", **kw).person
        ola = roster.add_youth(session, name="Ola Berg", primary=kari.id, secondary=per.id,
                               language=youth_language, **kw).person
        lise = roster.add_parent(session, youth=ola.id, name="Lise Berg", phone="+4792222222", **kw).person
        if link:
            for person, tg in ((kari, PRIMARY_TG), (per, SECONDARY_TG), (ola, YOUTH_TG), (lise, PARENT_TG)):
                person.telegram_user_id = person.telegram_chat_id = tg
                person.last_channel = "telegram"
        return Cast(kari.id, per.id, ola.id, lise.id)


def tg(user_id: int, text: str | None = None, *, reply_to: str | None = None, media: dict | None = None,
       language_code: str | None = "nb") -> Incoming:
    update_id = next(_updates)
    return Incoming(source_key=f"tg:{update_id}", channel="telegram", address=str(user_id), user_id=user_id,
                    text=text, reply_to=reply_to, media=media, language_code=language_code)


def writes(service: Service, inc: Incoming) -> Incoming:
    with service.tx() as session:
        receive(service, session, inc)
    return inc


def queued(service: Service, address: int | str | None = None) -> list[dict]:
    """What the outbox holds, oldest first, decoded: {"address", "text", "buttons", "row"}."""
    with service.tx() as session:
        query = select(Outbox).order_by(Outbox.id)
        if address is not None:
            query = query.where(Outbox.address == str(address))
        rows = session.exec(query).all()
        return [{"address": r.address, "channel": r.channel, **json.loads(r.payload), "row": r} for r in rows]


def texts_to(service: Service, address: int | str) -> list[str]:
    return [q["text"] for q in queued(service, address) if q["text"]]


def person(service: Service, person_id: int) -> Person:
    with service.tx() as session:
        return session.get(Person, person_id)
