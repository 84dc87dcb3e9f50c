"""Meetings: Ola (and Lise, when Kari chooses) is reminded with time and place and answers with a button or
an SMS; Kari hears the answer, and after the meeting says how it went."""

from __future__ import annotations

import json
import time as wallclock
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot import actions, consent
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from models.contact_log import ContactLog
from models.people import Person
from models.schedules import CANCELLED, MISSED, NO_SHOW, REMINDED, SKIPPED, Meeting, MeetingReminder
from scheduling import meetings
from tests.fakes import RecordingTransport, deliver
from tests.personas import PARENT_TG, PRIMARY_TG, YOUTH_TG, cast, writes

OSLO = ZoneInfo("Europe/Oslo")


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def meeting(service, c, at: str = "2026-11-25T14:00", **kw) -> int:
    with service.tx() as session:
        if kw.get("include_parent"):  # parents hear of meetings only with the `parents` consent
            consent.record_consent(session, service.settings, youth_id=c.youth, scope="parents", now=service.now())
        return meetings.add_meeting(session, service, youth_id=c.youth, worker_id=c.primary, at=oslo(at),
                                    place="Kafé Sentrum", **kw).id


def reminders(service) -> list[MeetingReminder]:
    with service.tx() as session:
        return list(session.exec(select(MeetingReminder).order_by(MeetingReminder.due_at)))


def get_meeting(service, meeting_id: int) -> Meeting:
    with service.tx() as session:
        return session.get(Meeting, meeting_id)


def log(service) -> list[ContactLog]:
    with service.tx() as session:
        return list(session.exec(select(ContactLog).order_by(ContactLog.id)))


def press(service, person_id: int, data: str) -> str | None:
    with service.tx() as session:
        return actions.perform(service, session, session.get(Person, person_id), data)


async def test_it_reminds_ola_a_day_and_two_hours_before_with_time_place_and_buttons(service, clock):
    c = cast(service)
    meeting(service, c)  # Wednesday 14:00; it is Monday 10:00
    clock.at = oslo("2026-11-24T13:59:59")
    assert meetings.run_due_reminders(service) == 0
    clock.advance(seconds=1)
    meetings.run_due_reminders(service)
    (first,) = (await deliver(service)).to(YOUTH_TG)
    assert first.text == "Hei Ola! Husk møtet med Kari i morgen kl. 14:00, Kafé Sentrum."
    assert [[b.label for b in row] for row in first.buttons] == [["Jeg kommer", "Må avlyse"], ["Kan vi flytte?"]]
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    (second,) = (await deliver(service)).to(YOUTH_TG)
    assert second.text == "Hei Ola! Husk møtet med Kari i dag kl. 14:00, Kafé Sentrum."
    assert [r.status for r in reminders(service)] == [REMINDED, REMINDED]
    entries = [e for e in log(service) if e.kind == "reminder"]
    assert len(entries) == 2 and entries[0].channel == "telegram" and entries[0].worker_id == c.primary
    assert entries[0].text == "Påminnelse om møte 25. november 2026 kl. 14:00, Kafé Sentrum, sendt til Ola Berg"


async def test_it_formats_the_day_further_ahead_with_babel(service, clock):
    c = cast(service)
    meeting(service, c, at="2026-11-27T09:30", remind="3d")
    clock.at = oslo("2026-11-24T09:30")
    meetings.run_due_reminders(service)
    (sent,) = (await deliver(service)).to(YOUTH_TG)
    far = Lang("nb", OSLO).when(oslo("2026-11-27T09:30"), clock.at)  # Babel: the weekday and the date
    assert far.endswith("kl. 09:30") and "27" in far and far in sent.text


async def test_it_reminds_lise_too_when_kari_chooses(service, clock):
    c = cast(service)
    meeting(service, c, remind="2h", include_parent=True)
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    sent = await deliver(service)
    assert sent.to(PARENT_TG)[0].text == "Hei Lise! Husk møtet mellom Ola og Kari i dag kl. 14:00, Kafé Sentrum."
    assert len(sent.to(YOUTH_TG)) == 1


async def test_it_tells_kari_when_ola_confirms_and_says_it_once(service, clock):
    c = cast(service)
    mid = meeting(service, c, remind="2h")
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    await deliver(service)
    assert press(service, c.youth, f"meet:{mid}:yes") == "Så bra! Vi sees i dag kl. 14:00."
    assert press(service, c.youth, f"meet:{mid}:yes") == "Så bra! Vi sees i dag kl. 14:00."
    told = (await deliver(service)).to(PRIMARY_TG)
    assert len(told) == 1 and told[0].text.startswith("Ola Berg kommer på møtet i dag kl. 14:00, Kafé Sentrum.")
    answer = [e for e in log(service) if e.kind == "reminder" and e.direction == "in"]
    assert len(answer) == 1 and answer[0].party == "youth" and answer[0].text.endswith(": kommer")
    assert press(service, c.parent, f"meet:{mid}:no") == "Denne knappen gjelder ikke lenger, eller ikke for deg."  # Lise was not asked


async def test_it_cancels_when_ola_cannot_come_and_sends_no_more_reminders(service, clock):
    c = cast(service)
    mid = meeting(service, c)
    clock.at = oslo("2026-11-24T14:00")
    meetings.run_due_reminders(service)
    await deliver(service)
    assert press(service, c.youth, f"meet:{mid}:no") == "Greit, møtet er avlyst. Kari får beskjed."
    told = (await deliver(service)).to(PRIMARY_TG)
    assert "må avlyse møtet" in told[0].text and "Møtet er avlyst." in told[0].text
    assert get_meeting(service, mid).status == CANCELLED
    assert [r.status for r in reminders(service)] == [REMINDED, SKIPPED]
    clock.at = oslo("2026-11-25T16:00")
    meetings.run_due_reminders(service)
    meetings.ask_outcomes(service)
    assert (await deliver(service)).sent == []  # no reminder, and no question: the outcome is known
    (outcome,) = [e for e in log(service) if e.channel == "meeting"]
    assert outcome.text == "Møte 25. november 2026 kl. 14:00, Kafé Sentrum: avlyst av Ola Berg"
    assert outcome.party == "youth" and outcome.kind == "note"


async def test_it_tells_kari_when_lise_asks_to_move_it_by_sms(service, clock):
    c = cast(service, link=False)
    mid = meeting(service, c, remind="2h", include_parent=True)
    with service.tx() as session:
        session.get(Person, c.primary).telegram_chat_id = PRIMARY_TG
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    (reminder,) = (await deliver(service)).to("+4792222222")
    assert reminder.channel == "sms" and "Svar JA" in reminder.text and "FLYTT" in reminder.text
    move = Incoming(source_key="sms:SM9", channel="sms", address="+4792222222", text="Flytt")
    writes(service, move)
    writes(service, move)
    sent = await deliver(service)
    assert [o.text for o in sent.to("+4792222222")] == ["Kari får beskjed og tar kontakt for å finne en ny tid."]
    (told,) = sent.to(PRIMARY_TG)
    assert told.text.startswith("Lise Berg, forelder til Ola Berg vil flytte møtet i dag kl. 14:00")
    assert get_meeting(service, mid).answer == "move"


async def test_it_relays_other_words_after_a_reminder(service, clock):
    c = cast(service)
    meeting(service, c, remind="2h")
    clock.at = oslo("2026-11-25T12:00")
    meetings.run_due_reminders(service)
    await deliver(service)
    from tests.personas import tg

    writes(service, tg(YOUTH_TG, "hvor er kafeen?"))
    assert "hvor er kafeen?" in (await deliver(service)).to(PRIMARY_TG)[0].text


async def test_it_asks_kari_after_the_meeting_and_logs_a_no_show(service, clock):
    c = cast(service)
    mid = meeting(service, c, remind="2h")
    clock.at = oslo("2026-11-25T14:59")
    meetings.run_due_reminders(service)
    assert meetings.ask_outcomes(service) == 0
    transport = RecordingTransport()
    await deliver(service, transport)
    clock.advance(minutes=1)
    assert meetings.ask_outcomes(service) == 1
    (question,) = (await deliver(service, transport)).to(PRIMARY_TG)
    assert question.text == "Ble møtet med Ola Berg i dag kl. 14:00, Kafé Sentrum, gjennomført?"
    labels = [b.label for row in question.buttons for b in row]
    assert labels == ["Ja, gjennomført", "Kom ikke", "Avlyst"]
    assert press(service, c.primary, f"mtg:{mid}:{NO_SHOW}") == "Registrert: ungdommen kom ikke."
    assert get_meeting(service, mid).status == NO_SHOW
    (entry,) = [e for e in log(service) if e.channel == "meeting" and e.kind == "note"]
    assert entry.party == "worker" and entry.worker_id == c.primary and entry.kind == "note"
    assert entry.text == "Møte 25. november 2026 kl. 14:00, Kafé Sentrum: ungdommen kom ikke"
    edit = (await deliver(service, transport)).to(PRIMARY_TG)[-1]
    assert edit.extra["edit"] and "Registrert: ungdommen kom ikke." in edit.text and edit.buttons == ()
    assert meetings.ask_outcomes(service) == 0


async def test_it_sends_a_reminder_missed_by_a_restart_late_but_only_before_the_meeting(service, clock):
    c = cast(service)
    meeting(service, c)
    clock.at = oslo("2026-11-24T20:00")  # down across the 24-hour reminder: still useful
    meetings.run_due_reminders(service)
    meetings.run_due_reminders(service)
    assert len((await deliver(service)).to(YOUTH_TG)) == 1
    clock.at = oslo("2026-11-25T14:05")  # down across the 2-hour reminder and the start: too late
    meetings.run_due_reminders(service)
    assert (await deliver(service)).to(YOUTH_TG) == []
    assert [r.status for r in reminders(service)] == [REMINDED, MISSED]
    missed = [e for e in log(service) if e.direction == "none" and e.kind == "reminder"]
    assert "ble ikke sendt i tide" in missed[0].text and "møtet hadde begynt" in missed[0].text


async def test_it_sends_only_the_latest_of_reminders_missed_together(service, clock):
    c = cast(service)
    meeting(service, c)
    clock.at = oslo("2026-11-25T13:00")  # down across both; the meeting is in an hour
    meetings.run_due_reminders(service)
    (sent,) = (await deliver(service)).to(YOUTH_TG)
    assert "i dag kl. 14:00" in sent.text
    assert [r.status for r in reminders(service)] == [MISSED, REMINDED]


async def test_it_reminds_at_once_for_a_meeting_made_at_short_notice(service, clock):
    c = cast(service)
    meeting(service, c, at="2026-11-23T11:00")
    assert [(r.offset_seconds, r.due_at) for r in reminders(service)] == [(7200, clock.at)]
    meetings.run_due_reminders(service)
    assert len((await deliver(service)).to(YOUTH_TG)) == 1


async def test_it_refuses_bad_meetings_naming_the_field(service, clock):
    c = cast(service)
    cases = [
        ({"youth_id": c.primary}, "youth"),
        ({"worker_id": c.youth}, "worker"),
        ({"at": oslo("2026-11-23T09:00")}, "at"),
        ({"place": "  "}, "place"),
        ({"remind": "24t"}, "remind"),
        ({"remind": "0s"}, "remind"),
        ({"remind": "60d"}, "remind"),
    ]
    for overrides, field in cases:
        values = {"youth_id": c.youth, "worker_id": c.primary, "at": oslo("2026-11-25T14:00"),
                  "place": "Kafé Sentrum", **overrides}
        with pytest.raises(InputError) as err, service.tx() as session:
            meetings.add_meeting(session, service, **values)
        assert err.value.field == field


async def test_it_lets_kari_cancel_and_tells_ola(service, clock):
    c = cast(service)
    mid = meeting(service, c)
    with service.tx() as session:
        meetings.cancel_meeting(session, service, meeting_id=mid, by=session.get(Person, c.primary))
    (told,) = (await deliver(service)).to(YOUTH_TG)
    when = Lang("nb", OSLO).when(oslo("2026-11-25T14:00"), clock.at)
    assert told.text == f"Møtet med Kari {when}, Kafé Sentrum, er avlyst."
    clock.at = oslo("2026-11-25T13:00")
    meetings.run_due_reminders(service)
    assert (await deliver(service)).sent == []


# -- from Telegram and end to end -----------------------------------------------------------------


async def test_it_takes_meetings_and_wakeups_from_karis_telegram_commands(service, clock):
    from handlers.telegram.schedules import handle_meeting, handle_wakeup

    c = cast(service)
    with service.tx() as session:
        kari = session.get(Person, c.primary)
        made = handle_meeting(service, session, kari, ["Ola", "25.11", "14:00", "Kafé", "Sentrum", "+forelder"])
        listed = handle_meeting(service, session, kari, [])
        wake = handle_wakeup(service, session, kari, ["ola", "06:45", "man-fre"])
        bad = handle_wakeup(service, session, kari, ["Ola", "25:99"])
        nobody = handle_wakeup(service, session, kari, ["Petter", "06:45"])
        paused = handle_wakeup(service, session, kari, ["pause", "Ola", "i", "morgen"])
        plans = handle_wakeup(service, session, kari, [])
        stopped = handle_wakeup(service, session, kari, ["stopp", "1"])
    when = Lang("nb", OSLO).when(oslo("2026-11-25T14:00"), clock.at)
    assert made.startswith(f"Møte 1 lagt inn: Ola Berg {when}, Kafé Sentrum.")
    assert "Påminnelse 24 timer, 2 timer før." in made
    assert "Foreldrene får påminnelsen også." in made
    assert f"#1 Ola Berg {when}, Kafé Sentrum" in listed
    assert wake == "Vekking 1 lagt inn: Ola Berg kl. 06:45 mon-fri på Telegram."
    assert bad == "Sjekk klokkeslettet, for eksempel 06:45."
    assert nobody == "Fant ingen av dine ungdommer som heter Petter."
    assert paused == "Ingen vekking for Ola Berg 24. november 2026."
    assert "#1 Ola Berg 06:45 mon-fri (Telegram)" in plans
    assert stopped == "Vekking 1 er stoppet."
    assert get_meeting(service, 1).include_parent


@pytest.fixture
def telegram():
    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn

    stand_in = TelegramStandIn(token="424242:E2E-TOKEN", strict=True, bot_username="TettPaTestBot")
    for user_id, name in ((501, "Kari"), (601, "Ola")):
        stand_in.add_user(user_id, name, language_code="nb")
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == []


def test_it_reminds_ola_end_to_end_and_tells_kari_his_answer(tmp_path, database_url, telegram):
    from tests.e2e import Deployment

    d = Deployment(tmp_path, database_url, telegram, telegram.url)
    kari = d.add("worker", "add", "--name", "Kari Nordmann")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]))
    try:
        d.start()
        for person, user_id in ((kari, 501), (ola, 601)):
            telegram.user_sends(user_id, f"/start {person['invite_code']}")
            telegram.wait_sent(user_id, 1, timeout=10)
        at = (datetime.now(OSLO) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
        bad = d.cli("meeting", "add", "--youth", str(ola["id"]), "--worker", str(kari["id"]), "--at", at,
                    "--place", "Kafé Sentrum", "--remind", "1y", check=False)
        assert bad.returncode != 0 and "remind" in bad.stderr
        made = d.add("meeting", "add", "--youth", str(ola["id"]), "--worker", str(kari["id"]), "--at", at,
                     "--place", "Kafé Sentrum", "--remind", "27s")
        assert set(made) == {"id"}
        reminder = telegram.wait_sent(601, 2, timeout=15)[1]
        assert reminder["text"].startswith("Hei Ola! Husk møtet med Kari i dag kl.")
        yes = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        telegram.user_presses(601, reminder["message_id"], yes)
        told = telegram.wait_sent(501, 2, timeout=10)[1]
        assert told["text"].startswith("Ola Berg kommer på møtet")
        deadline = wallclock.monotonic() + 10
        while wallclock.monotonic() < deadline:
            entries = json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]
            if len([e for e in entries if e["kind"] == "reminder"]) == 2:
                break
            wallclock.sleep(0.2)
        kinds = [(e["kind"], e["direction"], e["party"]) for e in entries if e["kind"] == "reminder"]
        assert kinds == [("reminder", "out", "system"), ("reminder", "in", "youth")]
    finally:
        d.stop()
