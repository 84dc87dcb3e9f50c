"""Activities: Ola (Telegram) and Siri (SMS) are invited to bowling, answer with a button or a word, are
reminded or nudged, and hear of a move or a cancellation; Kari hears the answers together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot import activities, consent, period, roster
from bot.errors import InputError
from models.activities import Activity
from models.outbox import Outbox
from models.people import Person
from scheduling import activities as sweep
from tests import activities_kit
from tests.activities_kit import (
    SIRI_PHONE,
    activity_log,
    add_sms_youth,
    press,
    send_all,
    sms_in,
)
from tests.personas import PARENT_TG, PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes
from tests.programme import tettpa, tettpa_json

OSLO = ZoneInfo("Europe/Oslo")
world = activities_kit.world  # the fixture: the Telegram and Twilio stand-ins


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def bowling(service, **kw) -> int:
    """Bowling on Friday 17:00, answer by Thursday 12:00 (it is Monday 10:00)."""
    kw.setdefault("youths", "all")
    with service.tx() as session:
        activity, _ = activities.add_activity(session, service, title="Bowling", at=oslo("2026-11-27T17:00"),
                                              place="Bowlinghallen", respond_by=oslo("2026-11-26T12:00"), **kw)
        return activity.id


def shown(service, activity_id: int) -> dict:
    with service.tx() as session:
        return activities.show(session, service, activity_id)


def texts(world, chat_id: int) -> list[str]:
    return [m["text"] for m in world.telegram.sent_to(chat_id)]


async def test_it_invites_each_youth_on_their_channel_with_buttons_or_words(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    await send_all(service, world, clock)
    (invitation,) = world.telegram.sent_to(YOUTH_TG)
    assert invitation["text"] == ("Hei Ola! Du er invitert til Bowling fre. 27. nov. kl. 17:00, Bowlinghallen. "
                                  "Svar innen tor. 26. nov. kl. 12:00.")
    buttons = [[(b["text"], b["callback_data"]) for b in row] for row in invitation["reply_markup"]["inline_keyboard"]]
    assert buttons == [[("Ja", f"act:{act}:yes"), ("Nei", f"act:{act}:no"), ("Kanskje", f"act:{act}:maybe")]]
    (sms,) = world.twilio.sms_to(SIRI_PHONE)
    assert sms.startswith("Hei Siri! Du er invitert til Bowling") and sms.endswith("Svar JA, NEI eller KANSKJE.")
    entries = activity_log(service)
    assert [(e.channel, e.direction) for e in entries] == [("telegram", "out"), ("sms", "out")]


async def test_it_never_shows_a_youth_who_else_is_invited(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    with service.tx() as session:
        activities.move_activity(session, service, activity_id=act, at=oslo("2026-11-28T17:00"))
    await send_all(service, world, clock)
    to_ola, to_siri = texts(world, YOUTH_TG), world.twilio.sms_to(SIRI_PHONE)
    assert len(to_ola) == 2 and len(to_siri) == 2
    assert not any("Siri" in t or "Lund" in t for t in to_ola)
    assert not any("Ola" in t or "Berg" in t for t in to_siri)


async def test_it_tells_kari_the_answers_together_in_one_message(service, clock, world):
    c = cast(service)
    siri = add_sms_youth(service, c)
    act = bowling(service)
    await send_all(service, world, clock)
    assert press(service, c.youth, f"act:{act}:yes").startswith("Takk! Du har svart ja på Bowling")
    sms_in(service, "Kanskje", "SM1")
    sweep.run_due(service)
    await send_all(service, world)
    assert texts(world, PRIMARY_TG) == []  # not one message per answer: they wait for the digest
    clock.advance(activities.DIGEST_AFTER)
    sweep.run_due(service)
    await send_all(service, world, clock)
    (digest,) = texts(world, PRIMARY_TG)
    assert "Ola Berg: ja" in digest and "Siri Lund: kanskje" in digest
    assert digest.endswith("Så langt: 1 ja, 0 nei, 1 kanskje, 0 har ikke svart.")
    assert world.twilio.sms_to(SIRI_PHONE)[-1].startswith("Takk! Du har svart kanskje på Bowling")
    assert {k: shown(service, act)[k] for k in ("yes", "no", "maybe", "unanswered")} == {
        "yes": [c.youth], "no": [], "maybe": [siri], "unanswered": []}
    answers = [e for e in activity_log(service) if e.direction == "in"]
    assert [(e.channel, e.party) for e in answers] == [("telegram", "youth"), ("sms", "youth")]


async def test_it_reminds_yes_and_maybe_the_day_before_and_nudges_the_unanswered_once(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    await send_all(service, world, clock)
    press(service, c.youth, f"act:{act}:yes")
    clock.at = oslo("2026-11-26T12:00")
    sweep.run_due(service)
    await send_all(service, world, clock)
    nudge = world.twilio.sms_to(SIRI_PHONE)[-1]
    assert nudge.startswith("Hei Siri! Kommer du på Bowling") and nudge.endswith("Svar JA, NEI eller KANSKJE.")
    clock.at = oslo("2026-11-26T17:00")
    sweep.run_due(service)
    sweep.run_due(service)
    await send_all(service, world, clock)
    assert texts(world, YOUTH_TG)[-1] == "Hei Ola! Husk Bowling i morgen kl. 17:00, Bowlinghallen."
    assert len(world.twilio.sms_to(SIRI_PHONE)) == 2  # the invitation and one nudge; no reminder
    sent = [e.text for e in activity_log(service) if e.direction == "out"]
    assert sum("purring sendt" in t for t in sent) == 1 and sum("påminnelse sendt" in t for t in sent) == 1


async def test_it_tells_everyone_invited_of_a_move_and_a_cancellation(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    press(service, c.youth, f"act:{act}:no")
    for args in (["move", str(act), "--at", "2026-11-28T18:00"], ["cancel", str(act)]):
        with service.tx() as session:
            if args[0] == "move":
                activities.move_activity(session, service, activity_id=act, at=oslo("2026-11-28T18:00"))
            else:
                activities.cancel_activity(session, service, activity_id=act)
    await send_all(service, world, clock)
    ola, siri = texts(world, YOUTH_TG), world.twilio.sms_to(SIRI_PHONE)
    moved = "Bowling er flyttet fra fre. 27. nov. kl. 17:00 til lør. 28. nov. kl. 18:00, Bowlinghallen."
    cancelled = "Bowling lør. 28. nov. kl. 18:00, Bowlinghallen, er avlyst."
    assert ola[-2:] == siri[-2:] == [moved, cancelled]  # Ola said no, and is told all the same
    clock.at = oslo("2026-11-27T17:00")
    sweep.run_due(service)  # Kari hears Ola's "no"; the youths get nothing more for a cancelled activity
    await send_all(service, world, clock)
    assert (len(texts(world, YOUTH_TG)), len(world.twilio.sms_to(SIRI_PHONE))) == (len(ola), len(siri))
    assert sweep.run_due(service) == 0


async def test_it_relays_anything_else_and_a_late_yes_as_an_ordinary_message(service, clock, world):
    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    sms_in(service, "Hva koster det?", "SM2")
    with service.tx() as session:
        activities.cancel_activity(session, service, activity_id=act)
    sms_in(service, "JA", "SM3")
    await send_all(service, world, clock)
    relayed = texts(world, PRIMARY_TG)
    assert any("Hva koster det?" in t for t in relayed) and any(t.endswith("JA") for t in relayed)
    assert shown(service, act)["unanswered"] == [c.youth, c.youth + 2]


async def test_it_sends_a_minors_parents_a_copy_only_with_the_parents_consent(service, clock, world):
    c = cast(service)
    bowling(service)
    with service.tx() as session:
        consent.record_consent(session, service.settings, youth_id=c.youth, scope="parents", now=service.now())
    bowling(service)
    await send_all(service, world, clock)
    (copy,) = texts(world, PARENT_TG)
    assert copy.startswith("Hei Lise! Ola er invitert til Bowling")
    assert world.telegram.sent_to(PARENT_TG)[0].get("reply_markup") is None


def test_it_leaves_out_youths_whose_period_has_ended(service, clock):
    c = cast(service)
    siri = add_sms_youth(service, c)
    with service.tx() as session:
        period.change_period(service, session, youth_id=c.youth, start=None, end=clock.at.date() - timedelta(days=1))
    act = bowling(service)
    assert shown(service, act)["unanswered"] == [siri]


def test_it_puts_invitations_in_the_bulk_lane_so_relays_go_first(service):
    c = cast(service)
    bowling(service)
    writes(service, tg(YOUTH_TG, "Hei Kari"))
    with service.tx() as session:
        rows = session.exec(select(Outbox).order_by(Outbox.id)).all()
        assert [r.bulk for r in rows if r.key.startswith("actinv:")] == [True]
        relay = [r for r in rows if r.address == str(PRIMARY_TG)]
        assert relay and not relay[0].bulk
    assert c


def test_it_refuses_a_bad_activity_naming_the_field(service):
    cast(service)
    with service.tx() as session:
        for kw, field in (({"title": " "}, "title"), ({"youths": "99"}, "youths"), ({"youths": "x"}, "youths"),
                          ({"at": oslo("2026-11-20T10:00")}, "at")):
            values = {"title": "Bowling", "at": oslo("2026-11-27T17:00"), "place": "Hallen", "youths": "all"} | kw
            with pytest.raises(InputError) as err:
                activities.add_activity(session, service, **values)
            assert err.value.field == field


def test_it_adds_and_shows_an_activity_from_the_command_line(service):
    c = cast(service)
    made = tettpa_json(service, "activity", "add", "--title", "Lunsj", "--at", "2030-05-02T12:00", "--place",
                       "Kafé Sentrum", "--youths", str(c.youth), "--respond-by", "2030-05-01T12:00")
    assert made == {"id": made["id"], "invited": 1}
    data = tettpa_json(service, "activity", "show", str(made["id"]))
    assert (data["title"], data["yes"], data["no"], data["maybe"], data["unanswered"]) == (
        "Lunsj", [], [], [], [c.youth])
    bad = tettpa(service, "activity", "add", "--title", "Lunsj", "--at", "2030-05-02", "--place", "X", ok=False)
    assert bad.exit_code != 0 and "at:" in bad.stderr
    moved = tettpa_json(service, "activity", "move", str(made["id"]), "--at", "2030-05-03T12:00")
    assert moved["at"].startswith("2030-05-03T12:00")
    assert tettpa_json(service, "activity", "cancel", str(made["id"]))["status"] == "cancelled"
    with service.tx() as session:
        assert session.get(Activity, made["id"]).status == "cancelled"


def test_it_counts_activities_and_who_came_in_the_funders_report(service):
    from bot import report

    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    press(service, c.youth, f"act:{act}:yes")
    with service.tx() as session:
        data = report.figures(session, first=oslo("2026-11-01T00:00").date(), last=oslo("2026-11-30T12:00").date(),
                              tz=OSLO)
    assert data["activities"] == {"held": 1, "invited": 2, "came": 1}
    assert data["by_kind"]["activity"] == 3  # two invitations and one answer


def test_it_makes_an_activity_step_by_step_on_telegram(service):
    from handlers.telegram import activities as chat
    from tests.personas import texts_to

    c = cast(service)

    def kari(text: str) -> str:
        with service.tx() as session:
            if text.startswith("/aktivitet"):
                worker = session.get(Person, c.primary)
                return chat.command(service, session, worker, text.split()[1:])
            chat.step_or_receive(service, session, tg(PRIMARY_TG, text))
        return texts_to(service, PRIMARY_TG)[-1]

    assert kari("/aktivitet").startswith("Ny aktivitet. Hva skal dere gjøre?")
    assert kari("Bowling") == "Når? For eksempel 27.11 17:00."
    assert kari("i går 17:00").startswith("Sjekk tidspunktet")
    assert kari("27.11 17:00") == "Hvor?"
    assert kari("Bowlinghallen").startswith("Hvem inviteres?")
    assert kari("Nora").startswith("Fant ingen av dine ungdommer som heter nora.")
    assert kari("Ola") == "Svarfrist? For eksempel 26.11 12:00, eller nei."
    assert kari("26.11 12:00") == "Invitasjonen til Bowling er sendt. Inviterte: 1. Du får svarene samlet."
    (invitation,) = [q for q in queued(service, YOUTH_TG) if q["row"].key.startswith("actinv:")]
    assert invitation["text"].startswith("Hei Ola! Du er invitert til Bowling fre. 27. nov. kl. 17:00, Bowlinghallen.")
    with service.tx() as session:
        (made,) = session.exec(select(Activity)).all()
        assert (made.status, made.created_by, made.respond_by) == ("scheduled", c.primary, oslo("2026-11-26T12:00"))
    writes(service, tg(PRIMARY_TG, "Hei"))  # the draft is done: an ordinary message again
    assert texts_to(service, PRIMARY_TG)[-1].startswith("Svar på en videresendt melding")


def test_it_lets_a_ja_after_a_meeting_reminder_answer_the_meeting(service, clock):
    from models.schedules import Meeting
    from scheduling import meetings

    c = cast(service)
    add_sms_youth(service, c)
    act = bowling(service)
    with service.tx() as session:
        meeting = meetings.add_meeting(session, service, youth_id=c.youth + 2, worker_id=c.primary,
                                       at=oslo("2026-11-23T11:00"), place="Kafé", remind="2h").id
    meetings.run_due_reminders(service)
    sms_in(service, "JA", "SM9")
    with service.tx() as session:
        assert session.get(Meeting, meeting).answer == "yes"
    assert shown(service, act)["unanswered"] == [c.youth, c.youth + 2]
    sms_in(service, "kanskje", "SM11")  # no meeting answer: the invitation's
    assert shown(service, act)["maybe"] == [c.youth + 2]


# --- through `tettpa serve`: PTB's handlers, the sweep and the outbox against the Telegram stand-in ---

KARI_TG, OLA_TG = 511, 611


@pytest.fixture
def serve_telegram():
    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn

    stand_in = TelegramStandIn(token="424245:ACT-E2E", strict=True, bot_username="TettPaTestBot")
    for user_id, name in ((KARI_TG, "Kari"), (OLA_TG, "Ola")):
        stand_in.add_user(user_id, name, language_code="nb")
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == []


def test_it_invites_answers_and_cancels_through_tettpa_serve(tmp_path, database_url, serve_telegram):
    import json

    from tests.e2e import Deployment

    telegram = serve_telegram
    d = Deployment(tmp_path, database_url, telegram, telegram.url)
    kari = d.add("worker", "add", "--name", "Kari Nordmann")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]))
    try:
        d.start()
        for person, user_id in ((kari, KARI_TG), (ola, OLA_TG)):
            telegram.user_sends(user_id, f"/start {person['invite_code']}")
            telegram.wait_sent(user_id, 1, timeout=10)
        at = (datetime.now(OSLO) + timedelta(days=3)).strftime("%Y-%m-%dT17:00")
        made = d.add("activity", "add", "--title", "Bowling", "--at", at, "--place", "Bowlinghallen")
        assert made == {"id": made["id"], "invited": 1}
        invitation = telegram.wait_sent(OLA_TG, 2, timeout=10)[1]
        assert invitation["text"].startswith("Hei Ola! Du er invitert til Bowling")
        yes = invitation["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        telegram.user_presses(OLA_TG, invitation["message_id"], yes)
        assert telegram.wait_sent(OLA_TG, 3, timeout=10)[2]["text"].startswith("Takk! Du har svart ja på Bowling")
        assert d.add("activity", "show", str(made["id"]))["yes"] == [ola["id"]]
        d.add("activity", "cancel", str(made["id"]))
        assert telegram.wait_sent(OLA_TG, 4, timeout=10)[3]["text"].endswith("er avlyst.")
        d.add("notice", "send", "--worker", str(kari["id"]), "--text", "Kontoret er stengt i morgen.")
        assert telegram.wait_sent(OLA_TG, 5, timeout=10)[4]["text"] == "Kontoret er stengt i morgen."
        # Each entry was written in the transaction that queued its send, so all are there by now.
        entries = json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]
        kinds = [(e["direction"], e["party"]) for e in entries if e["kind"] == "activity"]
        assert kinds == [("out", "system"), ("in", "youth"), ("out", "system"), ("out", "system")]
    finally:
        d.stop()


async def test_it_invites_in_each_youths_language_and_takes_their_words(service, clock, world):
    c = cast(service, youth_language="en")
    siri = add_sms_youth(service, c, language="uk")
    act = bowling(service)
    await send_all(service, world, clock)
    (invitation,) = world.telegram.sent_to(YOUTH_TG)
    assert invitation["text"].startswith("Hi Ola! You are invited to Bowling")
    assert [b["text"] for b in invitation["reply_markup"]["inline_keyboard"][0]] == ["Yes", "No", "Maybe"]
    assert world.twilio.sms_to(SIRI_PHONE)[0].endswith("Відповідайте ТАК, НІ або МОЖЛИВО.")
    sms_in(service, "Можливо!", "SMU1")
    assert shown(service, act)["maybe"] == [siri]


def test_it_spaces_telegram_invitations_under_telegrams_rate(service):
    c = cast(service)
    with service.tx() as session:
        for n in range(5):
            roster_youth = roster.add_youth(
                session, name=f"Ung {n}", primary=c.primary, now=service.now(), secret_key=service.settings.secret_key)
            roster_youth.person.telegram_chat_id = roster_youth.person.telegram_user_id = 7000 + n
    bowling(service)
    with service.tx() as session:
        due = [r.due_at for r in session.exec(select(Outbox).where(Outbox.key.like("actinv:%"))
                                              .order_by(Outbox.due_at))]
    assert len(due) == 6 and all(b - a >= activities.BULK_GAP for a, b in zip(due, due[1:], strict=False))


async def test_it_reminds_again_at_the_new_time_after_a_move(service, clock, world):
    c = cast(service)
    act = bowling(service)
    press(service, c.youth, f"act:{act}:yes")
    clock.at = oslo("2026-11-26T17:00")
    sweep.run_due(service)
    with service.tx() as session:
        activities.move_activity(session, service, activity_id=act, at=oslo("2026-11-28T17:00"))
    clock.at = oslo("2026-11-27T17:00")
    sweep.run_due(service)
    await send_all(service, world, clock)
    reminders = [t for t in texts(world, YOUTH_TG) if t.startswith("Hei Ola! Husk Bowling")]
    assert len(reminders) == 2 and reminders[-1] == "Hei Ola! Husk Bowling i morgen kl. 17:00, Bowlinghallen."
