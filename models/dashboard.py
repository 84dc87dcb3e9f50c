"""What the dashboard reads: the timeline of the contact log, weekly counts, and the per-worker figures.

Texts are encrypted, so every filter here is on plain columns (youth, time, channel, kind, ...), and a
timeline page decrypts only the rows it shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Index, and_, case, func, or_
from sqlmodel import Session, select

from models.contact_log import ContactLog
from models.conversations import Conversation, Message, awaiting_answer
from models.people import Person, Role

# The timeline of one youth is `youth_id = ? ORDER BY at DESC, id DESC LIMIT n`: with this index it reads
# the n rows it shows, however long the youth's log is. The columns after `id` do not change the order;
# they let the weekly chart counts come from the index alone. Declared here, on the contact log's table,
# so the metadata and the migration agree.
Index("ix_contact_log_youth_at_id", ContactLog.youth_id, ContactLog.at, ContactLog.id, ContactLog.kind,
      ContactLog.direction, ContactLog.party, ContactLog.after_hours)
# Filtered by kind or channel, the same: without these, a kind the youth has few or none of means passing
# over the whole log to fill a page.
Index("ix_contact_log_youth_kind_at_id", ContactLog.youth_id, ContactLog.kind, ContactLog.at, ContactLog.id)
Index("ix_contact_log_youth_channel_at_id", ContactLog.youth_id, ContactLog.channel, ContactLog.at, ContactLog.id)

# What counts as a contact in the weekly figures: people talking, not the service's automatic sends.
CONTACT_KINDS = ("message", "call", "note")


def wakeup_outcome(entry_direction: str, entry_party: str) -> str | None:
    """A wake-up entry's outcome: the youth confirming is an entry coming in; a wake-up nobody confirmed
    is logged by the system with no direction; the sends and follow-ups themselves go out."""
    if entry_direction == "in":
        return "confirmed"
    if entry_direction == "none" and entry_party == "system":
        return "missed"
    return None


def _missed_wakeup():
    return and_(ContactLog.kind == "wakeup", ContactLog.direction == "none", ContactLog.party == "system")


@dataclass(frozen=True)
class Filters:
    """Which entries: all of them match when nothing is set."""

    youth_ids: tuple[int, ...] | None = None  # None: every youth; () matches nothing
    start: datetime | None = None
    end: datetime | None = None
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    after_hours: bool | None = None
    direction: str | None = None
    unanswered: bool = False
    missed_wakeups: bool = False
    acute: bool = False  # only acute messages (the incoming ones themselves)


def _where(query, f: Filters):
    if f.youth_ids is not None:
        if len(f.youth_ids) == 1:
            query = query.where(ContactLog.youth_id == f.youth_ids[0])
        else:
            query = query.where(ContactLog.youth_id.in_(f.youth_ids))
    if f.start is not None:
        query = query.where(ContactLog.at >= f.start)
    if f.end is not None:
        query = query.where(ContactLog.at < f.end)
    if f.channels:
        query = query.where(ContactLog.channel.in_(f.channels))
    if f.kinds:
        query = query.where(ContactLog.kind.in_(f.kinds))
    if f.after_hours is not None:
        query = query.where(ContactLog.after_hours.is_(f.after_hours))
    if f.direction is not None:
        query = query.where(ContactLog.direction == f.direction)
    if f.missed_wakeups:
        query = query.where(_missed_wakeup())
    if f.unanswered or f.acute:
        # The incoming message itself, not the escalations and auto-replies that point at it too.
        query = query.join(Message, Message.id == ContactLog.message_id).where(
            ContactLog.kind == "message", ContactLog.direction == "in")
    if f.unanswered:
        query = query.where(awaiting_answer())
    if f.acute:
        query = query.where(Message.acute.is_(True))
    return query


def timeline(
    session: Session, filters: Filters, *, limit: int, cursor: tuple[datetime, int] | None = None
) -> list[ContactLog]:
    """Newest first, at most `limit`; `cursor` (at, id) starts the page at that entry, inclusive."""
    query = _where(select(ContactLog), filters)
    if cursor is not None:
        at, entry_id = cursor
        query = query.where(ContactLog.at <= at, or_(ContactLog.at < at, ContactLog.id <= entry_id))
    return list(session.exec(query.order_by(ContactLog.at.desc(), ContactLog.id.desc()).limit(limit)))


def entry_position(session: Session, entry_id: int) -> tuple[datetime, int, int | None] | None:
    """(at, id, youth_id) of one entry, without decrypting its text."""
    row = session.exec(
        select(ContactLog.at, ContactLog.id, ContactLog.youth_id).where(ContactLog.id == entry_id)
    ).first()
    return tuple(row) if row else None


@dataclass
class Week:
    contacts: int = 0
    after_hours: int = 0
    confirmed: int = 0
    missed: int = 0


def weekly(session: Session, *, youth_id: int, bounds: list[datetime]) -> list[Week]:
    """Per week between consecutive `bounds`: contacts (and how many after hours) and wake-up outcomes."""
    weeks = [Week() for _ in bounds[:-1]]
    if not weeks:
        return weeks
    bucket = case(*[(ContactLog.at < b, i) for i, b in enumerate(bounds[1:])], else_=len(weeks))
    query = (
        select(bucket, ContactLog.kind, ContactLog.direction, ContactLog.party, ContactLog.after_hours,
               func.count())
        # No filter on kind: it would steer the planner to the kind index, and a range of the (youth, at)
        # index is the cheapest way through these weeks; other kinds are passed over below.
        .where(ContactLog.youth_id == youth_id, ContactLog.at >= bounds[0], ContactLog.at < bounds[-1])
        .group_by(bucket, ContactLog.kind, ContactLog.direction, ContactLog.party, ContactLog.after_hours)
    )
    for index, kind, direction, party, after_hours, n in session.exec(query):
        week = weeks[index]
        if kind == "wakeup":
            outcome = wakeup_outcome(direction, party)
            if outcome == "confirmed":
                week.confirmed += n
            elif outcome == "missed":
                week.missed += n
        elif kind in CONTACT_KINDS:
            week.contacts += n
            week.after_hours += n if after_hours else 0
    return weeks


@dataclass
class WorkerWeek:
    """One worker's figures for a week, over the youths they are the primary worker for."""

    worker_id: int
    open_conversations: int = 0
    oldest_unanswered_at: datetime | None = None
    oldest_unanswered_entry: int | None = None
    contacts: int = 0
    after_hours: int = 0
    escalations: int = 0
    answer_waits: list[float] = field(default_factory=list)  # seconds, one per answered run of messages

    @property
    def median_wait(self) -> float | None:
        waits = sorted(self.answer_waits)
        if not waits:
            return None
        mid = len(waits) // 2
        return waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2


def youths(session: Session, *, worker_id: int | None = None) -> list:
    """Every youth, or those the worker is primary or secondary for: id, primary_id and secondary_id only
    (rows, not whole people: a county's 5,000 youths would otherwise each decrypt a name and a phone number
    and make an ORM object; `names` decrypts the names of those shown)."""
    query = select(Person.id, Person.primary_id, Person.secondary_id).where(Person.role == Role.youth)
    if worker_id is not None:
        query = query.where(or_(Person.primary_id == worker_id, Person.secondary_id == worker_id))
    return list(session.exec(query.order_by(Person.id)))


def names(session: Session, person_ids) -> dict[int, str]:
    """The names of these people (decrypted: ask only for those shown)."""
    ids = sorted(set(person_ids))
    found: dict[int, str] = {}
    for at in range(0, len(ids), 900):  # within every database's limit of bound parameters
        found.update(session.exec(select(Person.id, Person.name).where(Person.id.in_(ids[at:at + 900]))).all())
    return found


def primary_youth_ids(session: Session, *, worker_id: int) -> tuple[int, ...]:
    return tuple(session.exec(
        select(Person.id).where(Person.role == Role.youth, Person.primary_id == worker_id).order_by(Person.id)
    ))


def worker_weeks(session: Session, *, worker_ids: list[int], start: datetime, end: datetime) -> dict[int, WorkerWeek]:
    """The overview's figures per worker for [start, end); open conversations are those open now."""
    result = {w: WorkerWeek(w) for w in worker_ids}
    youth = Person
    counts = session.exec(
        select(youth.primary_id, ContactLog.kind, ContactLog.after_hours, func.count())
        .join(youth, youth.id == ContactLog.youth_id)
        .where(ContactLog.at >= start, ContactLog.at < end, youth.primary_id.in_(worker_ids),
               ContactLog.kind.in_((*CONTACT_KINDS, "escalation")))
        .group_by(youth.primary_id, ContactLog.kind, ContactLog.after_hours)
    )
    for worker_id, kind, after_hours, n in counts:
        row = result[worker_id]
        if kind == "escalation":
            row.escalations += n
        else:
            row.contacts += n
            row.after_hours += n if after_hours else 0

    open_rows = session.exec(
        select(youth.primary_id, Message.conversation_id, Message.created_at, ContactLog.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(youth, youth.id == Conversation.youth_id)
        .join(ContactLog, and_(ContactLog.message_id == Message.id, ContactLog.kind == "message"), isouter=True)
        .where(awaiting_answer(), youth.primary_id.in_(worker_ids))
    )
    conversations: dict[int, set[int]] = defaultdict(set)
    for worker_id, conversation_id, created_at, entry_id in open_rows:
        row = result[worker_id]
        conversations[worker_id].add(conversation_id)
        if row.oldest_unanswered_at is None or created_at < row.oldest_unanswered_at:
            row.oldest_unanswered_at, row.oldest_unanswered_entry = created_at, entry_id
    for worker_id, convs in conversations.items():
        result[worker_id].open_conversations = len(convs)

    # One wait per answer: the messages an answer (or a take) closed together waited from the first of them.
    answered = session.exec(
        select(youth.primary_id, Message.conversation_id, Message.answered_at, func.min(Message.created_at))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(youth, youth.id == Conversation.youth_id)
        .where(Message.direction == "in", Message.answered_at.is_not(None), Message.created_at >= start,
               Message.created_at < end, youth.primary_id.in_(worker_ids))
        .group_by(youth.primary_id, Message.conversation_id, Message.answered_at)
    )
    for worker_id, _conversation_id, answered_at, first in answered:
        result[worker_id].answer_waits.append(max(0.0, (answered_at - first).total_seconds()))
    return result


def missed_wakeups(session: Session, *, youth_ids: tuple[int, ...] | None, start: datetime, end: datetime) -> dict[int, int]:
    """Youths with wake-ups nobody confirmed in [start, end), and how many."""
    query = (
        select(ContactLog.youth_id, func.count())
        .where(_missed_wakeup(), ContactLog.at >= start, ContactLog.at < end)
        .group_by(ContactLog.youth_id)
    )
    if youth_ids is not None:
        query = query.where(ContactLog.youth_id.in_(youth_ids))
    return {youth_id: n for youth_id, n in session.exec(query) if youth_id is not None}


def open_by_youth(session: Session, *, youth_ids: tuple[int, ...] | None) -> dict[int, int]:
    """Conversations with an unanswered message, per youth."""
    query = (
        select(Conversation.youth_id, func.count(func.distinct(Message.conversation_id)))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(awaiting_answer())
        .group_by(Conversation.youth_id)
    )
    if youth_ids is not None:
        query = query.where(Conversation.youth_id.in_(youth_ids))
    return dict(session.exec(query).all())


def senders(session: Session, *, message_ids: list[int]) -> dict[int, int]:
    """The person (youth or parent) whose conversation each message belongs to."""
    if not message_ids:
        return {}
    query = (
        select(Message.id, Conversation.person_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id.in_(message_ids))
    )
    return dict(session.exec(query).all())


def acute_counts(session: Session, *, youth_ids: tuple[int, ...] | None, start: datetime,
                 end: datetime) -> tuple[int, int]:
    """Acute messages nobody has taken yet, and acute messages in the period."""
    query = (
        select(Message.answered_at, Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.direction == "in", Message.acute.is_(True))
    )
    if youth_ids is not None:
        query = query.where(Conversation.youth_id.in_(youth_ids))
    open_, in_period = 0, 0
    for answered_at, created_at in session.exec(query):
        open_ += answered_at is None
        in_period += start <= created_at < end
    return open_, in_period


def acute_taken(session: Session, *, message_ids: list[int]) -> dict[int, tuple[int | None, datetime | None]]:
    """For the acute ones among these messages: who took them (or answered) and when; None while nobody has."""
    if not message_ids:
        return {}
    query = select(Message.id, Message.answered_by, Message.answered_at).where(
        Message.id.in_(message_ids), Message.acute.is_(True))
    return {mid: (by, at) for mid, by, at in session.exec(query)}
