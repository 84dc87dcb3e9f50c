"""What happens when a send cannot get through: another channel where there is one, and the worker
is told that a youth or parent could not be reached."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from bot.outbox import address_of, queue, send_text
from bot.relay import lang, who, youth_of
from bot.service import Service
from models.outbox import Outbox
from models.people import Person, get_person

# Twilio delivery errors that may clear up (phone off, network trouble): worth one more try later.
PASSING_DELIVERY_ERRORS = {"30001", "30003", "30008", "30009", "30010"}
REDELIVER_AFTER = timedelta(minutes=5)
MAX_REDELIVERIES = 2


def delivery_status(service: Service, session: Session, *, sid: str, status: str, error_code: str | None) -> None:
    """A Twilio status callback for a message we sent."""
    row = session.exec(select(Outbox).where(Outbox.external_id == sid)).first()
    if row is None:
        return
    row.delivery = status
    if status not in ("failed", "undelivered"):
        return
    row.error = f"twilio delivery {status} ({error_code or '?'})"
    redeliveries = row.key.count(":redo")
    if (error_code or "") in PASSING_DELIVERY_ERRORS and redeliveries < MAX_REDELIVERIES:
        data = json.loads(row.payload)
        redo = queue(session, key=f"{row.key}:redo{redeliveries + 1}", channel=row.channel, address=row.address,
                     text=data.get("text"), now=service.now(), person_id=row.person_id,
                     conversation_id=row.conversation_id, message_id=row.message_id)
        if redo is not None:
            redo.due_at = service.now() + REDELIVER_AFTER
        return
    undeliverable(service, session, row)


def undeliverable(service: Service, session: Session, row: Outbox) -> None:
    """A send failed for good: try the person's other channel, and tell the worker about a youth or parent."""
    person = get_person(session, person_id=row.person_id) if row.person_id else None
    if person is None or row.key.endswith(":alt"):
        return
    data = json.loads(row.payload)
    other = next((c for c in ("telegram", "sms") if c != row.channel), None)
    target = address_of(person, other)
    switched = False
    if target is not None and target[0] != row.channel and data.get("text"):
        send_text(session, key=f"{row.key}:alt", person=person, text=data["text"], now=service.now(),
                  channel=target[0], conversation_id=row.conversation_id, message_id=row.message_id)
        switched = True
    if person.is_staff:
        return
    _tell_worker(service, session, person, row, switched)
    service.kick_outbox()


def _tell_worker(service: Service, session: Session, person: Person, row: Outbox, switched: bool) -> None:
    youth = youth_of(session, person)
    worker = get_person(session, person_id=youth.primary_id)
    if worker is None:
        return
    W = lang(service, worker)
    channel = {"sms": "SMS", "telegram": "Telegram", "call": W._("telefon")}.get(row.channel, row.channel)
    if switched:
        text = W._("En melding til {who} kom ikke fram på {channel}. Den er sendt på den andre kanalen.",
                   who=who(W, session, person), channel=channel)
    else:
        text = W._("En melding til {who} kom ikke fram på {channel}, og det finnes ingen annen kanal. "
                   "Ta kontakt på annen måte.", who=who(W, session, person), channel=channel)
    send_text(session, key=f"undeliverable:{row.id}", person=worker, text=text, now=service.now(),
              channel="telegram")
