"""What happens when a send cannot get through: another channel where there is one, and the worker
is told that a youth or parent could not be reached."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlmodel import Session, select

from bot.contactlog import record
from bot.out.outbox import address_of, queue, send_text
from bot.relay import lang, who, youth_of
from bot.service import Service
from models.conversations import Conversation
from models.outbox import Outbox
from models.people import Person, get_person

log = logging.getLogger(__name__)

# Twilio delivery errors that may clear up (phone off, network trouble): worth one more try later.
PASSING_DELIVERY_ERRORS = {"30001", "30003", "30008", "30009", "30010"}
REDELIVER_AFTER = timedelta(minutes=5)
MAX_REDELIVERIES = 2


def delivery_status(service: Service, session: Session, *, sid: str, status: str, error_code: str | None,
                    to: str | None = None) -> None:
    """A Twilio status callback for a message we sent; with `to`, only if it went to that number."""
    row = session.exec(select(Outbox).where(Outbox.external_id == sid, Outbox.channel != "telegram")).first()
    if row is None:
        return
    if to is not None and row.address != to:
        # The id alone is not proof: a report about another number must not mark this send undelivered.
        log.warning("outbox %s: a delivery report for another number; ignored", row.id)
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
        if not switched:
            _copy_failed(service, session, person, row)
        service.kick_outbox()
        return
    _tell_worker(service, session, person, row, switched)
    service.kick_outbox()


def _copy_failed(service: Service, session: Session, worker: Person, row: Outbox) -> None:
    """A relay to a worker failed for good: the youth's other worker gets it, and the log says so."""
    conv = session.get(Conversation, row.conversation_id) if row.conversation_id else None
    if conv is None or row.key.startswith("copyfailed:"):
        return  # not a relay, or the report itself failed: no report about the report
    youth = get_person(session, person_id=conv.youth_id)
    now = service.now()
    L = lang(service, None)
    record(session, service.settings, at=now, youth_id=youth.id, party="system", worker_id=worker.id,
           channel=row.channel, direction="out", kind="undelivered",
           text=L._("En melding kom ikke fram til {worker}.", worker=worker.name))
    log.warning("outbox %s: a relay to worker %s failed for good; reported", row.id, worker.id)
    other_id = next((w for w in (youth.primary_id, youth.secondary_id) if w not in (None, worker.id)), None)
    other = get_person(session, person_id=other_id) if other_id else None
    if other is None:
        return  # nobody else to tell: the log entry and /healthz (outbox_failed) show it
    W = lang(service, other)
    text = W._("En melding til {worker} kom ikke fram. Her er den:", worker=worker.name)
    original = json.loads(row.payload).get("text")
    send_text(session, key=f"copyfailed:{row.id}", person=other,
              text=f"{text}\n\n{original}" if original else text, now=now,
              conversation_id=row.conversation_id, message_id=row.message_id)


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
