"""Nothing a youth asks for is lost: every button press gets an answer, and a request reaches whoever is
responsible now, routed like a message, even while the meeting's worker is off."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import actions
from models.people import Person
from scheduling import meetings
from tests.fakes import deliver
from tests.personas import PRIMARY_TG, SECONDARY_TG, YOUTH_TG, cast

OSLO = ZoneInfo("Europe/Oslo")
NO_ACTION = "Denne knappen gjelder ikke lenger, eller ikke for deg."


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def press(service, person_id: int, data: str) -> str:
    with service.tx() as session:
        return actions.perform(service, session, session.get(Person, person_id), data)


async def test_it_routes_a_move_request_to_the_stand_in_while_the_meetings_worker_is_off(service, clock):
    c = cast(service)
    with service.tx() as session:
        meeting_id = meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary,
                                          at=oslo("2026-11-25T14:00"), place="Kafé Sentrum", remind="2h").id
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    sent = await deliver(service)
    with service.tx() as session:
        session.get(Person, c.primary).off = True  # Kari is off when Ola presses "Kan vi flytte?"
    answer = press(service, c.youth, f"meet:{meeting_id}:move")
    assert answer == "Kari er ikke på jobb nå, så Per får beskjed med en gang og tar kontakt for å finne en ny tid."
    sent = await deliver(service, sent)
    (per,) = sent.to(SECONDARY_TG)
    assert per.text.startswith("Møtet er med Kari, som ikke er på jobb nå.\nOla Berg vil flytte møtet i dag kl. 14:00")
    assert len(sent.to(PRIMARY_TG)) == 1  # Kari sees it too when she is back
    assert [o.text for o in sent.to(YOUTH_TG)][-1] == answer  # the answer stays in Ola's chat, not only a toast
    assert press(service, c.youth, f"meet:{meeting_id}:move") == answer
    assert (await deliver(service, sent)).sent == sent.sent  # a second press tells nobody again


def test_it_answers_every_button_press_even_one_it_cannot_act_on(service):
    c = cast(service)
    for data in ("take:999999", "meet:999:move", "nonsense", "", "wake:abc", f"setlang:{c.youth}:xx"):
        assert press(service, c.youth, data) == NO_ACTION, data
