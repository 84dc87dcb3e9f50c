"""One definition of "waiting for a worker" (models.conversations.awaiting_answer): the dashboard's open
conversations, the escalation and the relay's unanswered messages agree on it."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from models.conversations import Conversation, Message, awaiting_answer, unanswered
from models.dashboard import open_by_youth
from models.db import transaction
from models.people import Role, create_person


def test_it_counts_as_waiting_exactly_what_came_in_and_nobody_answered_or_took(service):
    now = service.now()
    with transaction(service.engine) as session:
        kari = create_person(session, role=Role.worker, name="Kari", created_at=now)
        ola = create_person(session, role=Role.youth, name="Ola", created_at=now, primary_id=kari.id)
        conv = Conversation(person_id=ola.id, youth_id=ola.id)
        session.add(conv)
        session.flush()
        rows = {
            "waiting": Message(conversation_id=conv.id, direction="in", channel="telegram", created_at=now),
            "held": Message(conversation_id=conv.id, direction="in", channel="telegram", created_at=now,
                            waiting_for=kari.id),
            "answered": Message(conversation_id=conv.id, direction="in", channel="telegram", created_at=now,
                                answered_at=now + timedelta(minutes=1), answered_by=kari.id),
            "out": Message(conversation_id=conv.id, direction="out", channel="telegram", created_at=now),
        }
        session.add_all(rows.values())
        session.flush()
        ids = {name: m.id for name, m in rows.items()}
        waiting = set(session.exec(select(Message.id).where(awaiting_answer())))
        assert waiting == {ids["waiting"], ids["held"]}
        assert {m.id for m in unanswered(session, conversation_id=conv.id)} == waiting
        assert open_by_youth(session, youth_ids=(ola.id,)) == {ola.id: 1}
