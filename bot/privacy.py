"""Privacy duties: texts deleted after the retention period, a person's data exported or erased on
request (GDPR arts. 15 and 17), and data keys rotated. The contact-log facts stay: they are the case
record the service keeps by law; only the words people wrote go."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, SQLModel, or_, select

from bot.contactlog import record
from bot.i18n import Lang
from bot.people_admin import programme_facts
from bot.service import Service
from models import auth, crypto
from models.contact_log import ContactLog
from models.conversations import Conversation, Message, RelayLink
from models.inbound import Inbound
from models.outbox import FAILED, SENT, Outbox
from models.people import Person, Role, normal_email

ERASED = "[slettet]"


ATTEMPTS_KEPT = timedelta(days=30)


def purge_expired(service: Service) -> dict[str, int]:
    """Delete message texts older than TETTPA_RETENTION; keep who, when, how and which kind."""
    cutoff = service.now() - service.settings.retention
    with service.tx() as session:
        counts = _purge(session, cutoff, Lang("nb", service.settings.tz)._("[tekst slettet etter lagringstiden]"))
        # Attempts only matter for the lock-outs (an hour at most); the addresses in them are staff's data.
        counts["login_attempts"] = auth.drop_attempts(session, before=service.now() - ATTEMPTS_KEPT)
    return counts


def _purge(session: Session, cutoff: datetime, placeholder: str) -> dict[str, int]:
    messages = session.exec(
        select(Message).where(Message.created_at < cutoff, or_(Message.text.is_not(None), Message.media.is_not(None)))
    ).all()
    for msg in messages:
        msg.text = msg.media = None
    # The text is ciphertext (a new one each time it is written): comparing it with the placeholder in SQL is
    # always "different", so purged rows carry a plain flag instead.
    entries = session.exec(
        # `activity`: a notice's entry carries its text, and invitations name the activity.
        select(ContactLog).where(ContactLog.at < cutoff, ContactLog.kind.in_(("message", "activity")),
                                 ContactLog.text_purged.is_(False))
    ).all()
    for entry in entries:
        entry.text, entry.text_purged = placeholder, True
    inbound = session.exec(select(Inbound).where(Inbound.received_at < cutoff, Inbound.processed_at.is_not(None))).all()
    for row in inbound:
        session.delete(row)
    sent = session.exec(select(Outbox).where(Outbox.created_at < cutoff, Outbox.status.in_([SENT, FAILED]))).all()
    for row in sent:
        session.delete(row)
    return {"messages": len(messages), "log_texts": len(entries), "inbound": len(inbound), "outbox": len(sent)}


def export_person(session: Session, settings, person_id: int) -> dict | None:
    """Everything stored about one person, readable (GDPR art. 15)."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    tz = settings.tz
    conv = session.exec(select(Conversation).where(Conversation.person_id == person_id)).first()
    messages = session.exec(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)).all() \
        if conv else []
    youth_id = person.id if person.role == Role.youth else person.youth_id
    log = session.exec(select(ContactLog).where(ContactLog.youth_id == youth_id).order_by(ContactLog.at)).all() \
        if youth_id else []
    return {
        "person": {
            "id": person.id, "role": person.role, "name": person.name, "phone": person.phone, "email": person.email,
            "language": person.language, "telegram_linked": person.telegram_user_id is not None,
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
            "youth_id": person.youth_id, "primary_id": person.primary_id, "secondary_id": person.secondary_id,
            "sms_opt_out": person.sms_opt_out, "created_at": person.created_at.astimezone(tz).isoformat(),
        },
        "messages": [
            {"at": m.created_at.astimezone(tz).isoformat(), "direction": m.direction, "channel": m.channel,
             "text": m.text, "worker_id": m.worker_id}
            for m in messages
        ],
        "contact_log": [
            {"at": e.at.astimezone(tz).isoformat(), "party": e.party, "worker_id": e.worker_id, "channel": e.channel,
             "direction": e.direction, "kind": e.kind, "text": e.text}
            for e in log
        ],
        "programme": programme_facts(session, person),
    }


def erase_person(service: Service, session: Session, person_id: int) -> dict | None:
    """Erase a person's identity and words (GDPR art. 17); the erasure itself is a log entry."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    now = service.now()
    conv = session.exec(select(Conversation).where(Conversation.person_id == person_id)).first()
    words = 0
    if conv is not None:
        for msg in session.exec(select(Message).where(Message.conversation_id == conv.id)).all():
            msg.text = msg.media = None
            words += 1
        for link in session.exec(select(RelayLink).where(RelayLink.conversation_id == conv.id)).all():
            session.delete(link)
    for row in session.exec(select(Outbox).where(Outbox.person_id == person_id)).all():
        session.delete(row)
    youth_id = person.id if person.role == Role.youth else person.youth_id
    if youth_id is not None:
        party = person.role if person.role in (Role.youth, Role.parent) else None
        query = select(ContactLog).where(ContactLog.youth_id == youth_id)
        if party == Role.parent:
            query = query.where(ContactLog.party == Role.parent)
        for entry in session.exec(query).all():
            entry.text = ERASED
    person.name, person.phone, person.email = ERASED, None, None
    person.telegram_user_id = person.telegram_chat_id = None
    person.invite_hash, person.password_hash, person.birth_date = None, None, None
    record(session, service.settings, at=now, youth_id=youth_id, party="system", channel="manual",
           direction="none", kind="note",
           text=Lang("nb")._("Personopplysninger slettet etter krav (person {id})", id=person_id))
    return {"id": person_id, "messages_erased": words}


def rotate_keys(session: Session) -> int:
    """Re-encrypt every encrypted column with the first TETTPA_DATA_KEY; older keys can then be dropped.

    Plain SQL on purpose: through the column type a value would be decrypted on the way out and
    encrypted again on the way in, which is the same work with more chances to get it wrong."""
    conn = session.connection()
    count = 0
    for table in SQLModel.metadata.sorted_tables:
        columns = [c.name for c in table.columns if isinstance(c.type, crypto.EncryptedText)]
        if not columns:
            continue
        (key,) = [c.name for c in table.primary_key.columns]
        selected = ", ".join(f'"{c}"' for c in columns)
        for row in conn.execute(text(f'SELECT "{key}", {selected} FROM "{table.name}"')).all():
            for name, token in zip(columns, row[1:], strict=True):
                if token is None:
                    continue
                conn.execute(text(f'UPDATE "{table.name}" SET "{name}" = :value WHERE "{key}" = :key'),
                             {"value": crypto.rotate(token), "key": row[0]})
                count += 1
    rehash_contacts(session)
    return count


def rehash_contacts(session: Session) -> None:
    """Key every phone and e-mail hash with the first data key, so the older keys can go."""
    for person in session.exec(select(Person).where(or_(Person.phone.is_not(None), Person.email.is_not(None)))):
        person.phone_hash = crypto.blind(person.phone) if person.phone else None
        person.email_hash = crypto.blind(normal_email(person.email)) if person.email else None
    session.flush()


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
