"""Wake-ups: Ola is woken at his time, confirms by button, SMS reply or key; unconfirmed, a follow-up on
another channel and then Kari is told. Time moves by the fake clock; nothing sleeps (except end to end)."""

from __future__ import annotations

import json
import time as wallclock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot import actions
from bot.errors import InputError
from bot.events import Incoming
from models.contact_log import ContactLog
from models.conversations import RelayLink
from models.db import make_engine
from models.outbox import Outbox
from models.people import Person
from models.schedules import CONFIRMED, MISSED, PLANNED, SENT, SKIPPED, UNCONFIRMED, Wakeup
from scheduling import wakeups
from scheduling.school_holidays import add_holiday
from tests.fakes import RecordingTransport, deliver
from tests.personas import PRIMARY_TG, YOUTH_TG, cast, queued, tg, writes
from tests.reliability import health

OSLO = ZoneInfo("Europe/Oslo")
OLA_PHONE = "+4741234567"


def oslo(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=OSLO).astimezone(UTC)


def move_to(clock, text: str) -> None:
    target = oslo(text)
    assert target >= clock.at, "time only moves forward"
    clock.at = target


def plan(service, youth: int, at: str = "06:45", **kw) -> int:
    with service.tx() as session:
        return wakeups.add_plan(session, service, youth_id=youth, at=at, **kw).id


def give_phone(service, person_id: int, phone: str = OLA_PHONE) -> None:
    with service.tx() as session:
        session.get(Person, person_id).phone = phone


def rows(service) -> list[Wakeup]:
    with service.tx() as session:
        return list(session.exec(select(Wakeup).order_by(Wakeup.due_at, Wakeup.id)))


def log(service, kind: str = "wakeup") -> list[ContactLog]:
    with service.tx() as session:
        return list(session.exec(select(ContactLog).where(ContactLog.kind == kind).order_by(ContactLog.id)))


def press(service, person_id: int, data: str) -> str | None:
    with service.tx() as session:
        return actions.perform(service, session, session.get(Person, person_id), data)


async def test_it_wakes_ola_at_his_time_on_telegram_with_a_button(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45", days="mon-fri")
    move_to(clock, "2026-11-24T06:44:59")  # Tuesday
    assert wakeups.run_due_wakeups(service) == 0
    clock.advance(seconds=1)
    assert wakeups.run_due_wakeups(service) == 1
    (sent,) = (await deliver(service)).to(YOUTH_TG)
    assert sent.text.startswith("God morgen, Ola!") and "Trykk på knappen" in sent.text
    (button,) = sent.buttons[0]
    assert button.label == "Jeg er oppe" and button.data.startswith("wake:") and button.data.endswith(":telegram")
    (entry,) = log(service)
    assert entry.text == "Vekking 06:45 sendt" and entry.channel == "telegram" and entry.direction == "out"
    assert entry.worker_id == c.primary


async def test_it_records_when_ola_presses_im_up_and_takes_the_button_away(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    (sent,) = (await deliver(service)).to(YOUTH_TG)
    clock.advance(minutes=2)
    assert press(service, c.youth, sent.buttons[0][0].data) == "Så bra, Ola! Ha en fin dag."
    assert press(service, c.youth, sent.buttons[0][0].data) == "Du har allerede sagt fra at du er oppe."
    (w,) = rows(service)
    assert w.status == CONFIRMED and w.confirmed_channel == "telegram" and w.confirmed_at == oslo("2026-11-24T06:47")
    edit = (await deliver(service)).to(YOUTH_TG)[0]
    assert edit.extra["edit"] and edit.buttons == () and "Oppe kl. 06:47" in edit.text
    assert [e.text for e in log(service)][-1] == "Vekking 06:45 bekreftet kl. 06:47 (Telegram)"
    clock.advance(minutes=30)
    wakeups.run_due_wakeups(service)
    assert (await deliver(service)).sent == []  # confirmed: no follow-up, Kari is not bothered


async def test_it_ignores_a_press_on_someone_elses_wakeup(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    (w,) = rows(service)
    assert press(service, c.parent, f"wake:{w.id}:telegram") == "Denne knappen gjelder ikke lenger, eller ikke for deg."
    assert rows(service)[0].status != CONFIRMED


async def test_it_follows_up_by_sms_and_then_tells_kari_with_a_way_to_write_and_ring(service, clock):
    c = cast(service)
    give_phone(service, c.youth)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    await deliver(service)
    clock.advance(minutes=9, seconds=59)
    assert wakeups.run_due_wakeups(service) == 0
    clock.advance(seconds=1)
    wakeups.run_due_wakeups(service)
    (sms,) = (await deliver(service)).to(OLA_PHONE)
    assert sms.channel == "sms" and sms.text.startswith("Er du oppe, Ola?")
    clock.advance(minutes=10)
    wakeups.run_due_wakeups(service)
    sent = await deliver(service)
    (told,) = sent.to(PRIMARY_TG)
    assert told.text.startswith("Ola Berg har ikke bekreftet vekking 06:45.")
    assert "Vi prøvde også på SMS." in told.text and "Svar på denne meldingen" in told.text
    assert told.buttons[0][0].label == "Ring Ola med vekking"
    assert [e.text for e in log(service)] == [
        "Vekking 06:45 sendt",
        "Vekking 06:45 ikke bekreftet, ny vekking sendt",
        "Vekking 06:45 ikke bekreftet; Kari Nordmann er varslet",
    ]
    assert rows(service)[0].status == UNCONFIRMED

    # One tap to ring: the service calls Ola, and pressing a key on that call confirms.
    assert press(service, c.primary, told.buttons[0][0].data) == "Tett på ringer Ola nå."
    (call,) = (await deliver(service)).to(OLA_PHONE)
    assert call.channel == "call" and call.extra["gather"].endswith(":call")
    clock.advance(minutes=1)
    assert press(service, c.youth, call.extra["gather"]) == "Så bra, Ola! Ha en fin dag."
    late = (await deliver(service)).to(PRIMARY_TG)
    assert late[0].text == "Ola Berg bekreftet vekking 06:45 likevel, kl. 07:06."
    assert log(service)[-1].channel == "call" and log(service)[-1].party == "youth"


async def test_it_lets_kari_answer_the_notice_to_write_to_ola(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    clock.advance(minutes=10)
    wakeups.run_due_wakeups(service)  # no other channel: Kari is told at once
    sent = await deliver(service)
    (told,) = sent.to(PRIMARY_TG)
    assert told.buttons == ()  # no phone: nothing to ring
    with service.tx() as session:
        link = session.exec(select(RelayLink).where(RelayLink.worker_id == c.primary)).one()
    writes(service, tg(PRIMARY_TG, "Ola, ring meg når du ser dette", reply_to=link.external_id))
    answer = (await deliver(service)).to(YOUTH_TG)
    assert answer[0].text == "Kari: Ola, ring meg når du ser dette"


async def test_it_confirms_on_an_sms_reply_and_keeps_a_bare_ok_from_the_worker(service, clock):
    c = cast(service, link=False)
    give_phone(service, c.youth)
    plan(service, c.youth, "07:00", channel="sms")
    move_to(clock, "2026-11-24T07:00")
    wakeups.run_due_wakeups(service)
    (sms,) = (await deliver(service)).to(OLA_PHONE)
    assert sms.channel == "sms" and "Svar på denne meldingen" in sms.text
    clock.advance(minutes=3)
    ok = Incoming(source_key="sms:SM1", channel="sms", address=OLA_PHONE, text="Ok!")
    writes(service, ok)
    writes(service, ok)  # seen again after a crash: nothing new
    (w,) = rows(service)
    assert w.status == CONFIRMED and w.confirmed_channel == "sms"
    sent = await deliver(service)
    assert [o.text for o in sent.to(OLA_PHONE)] == ["Så bra, Ola! Ha en fin dag."]
    assert [o for o in sent.sent if o.address != OLA_PHONE] == []  # not relayed to Kari
    assert len([e for e in log(service) if e.party == "youth"]) == 1


async def test_it_confirms_on_a_real_message_and_still_relays_it(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T06:50")
    wakeups.run_due_wakeups(service)
    await deliver(service)
    writes(service, tg(YOUTH_TG, "Er syk i dag, kommer ikke"))
    assert rows(service)[0].status == CONFIRMED
    relayed = (await deliver(service)).to(PRIMARY_TG)
    assert "Er syk i dag" in relayed[0].text


async def test_it_rings_ola_with_a_keypress_to_confirm(service, clock):
    c = cast(service, link=False)
    give_phone(service, c.youth)
    plan(service, c.youth, "06:30", channel="call")
    move_to(clock, "2026-11-24T06:30")
    wakeups.run_due_wakeups(service)
    (call,) = (await deliver(service)).to(OLA_PHONE)
    assert call.channel == "call" and "Trykk 1" in call.text
    (w,) = rows(service)
    assert call.extra["gather"] == f"wake:{w.id}:call"
    assert press(service, c.youth, call.extra["gather"]).startswith("Så bra")
    assert rows(service)[0].confirmed_channel == "call"


async def test_it_sends_no_wakeups_on_public_and_school_holidays_or_paused_days(service, clock):
    c = cast(service)
    plan(service, c.youth, "07:00", days="daily")
    with service.tx() as session:
        add_holiday(session, start=date(2026, 11, 26), end=date(2026, 11, 27), name="Planleggingsdager",
                    now=clock.at)
        wakeups.pause_day(session, service, youth_id=c.youth, day=date(2026, 11, 25))
    sent_days, transport = [], RecordingTransport()
    for day in range(24, 32):  # 24 Nov .. 1 Dec
        move_to(clock, f"2026-11-{day:02d}T07:00" if day <= 30 else "2026-12-01T07:00")
        before = len(transport.to(YOUTH_TG))
        wakeups.run_due_wakeups(service)
        if len((await deliver(service, transport)).to(YOUTH_TG)) > before:
            sent_days.append(clock.at.astimezone(OSLO).day)
        wakeups.plan_ahead(service)
    assert sent_days == [24, 28, 29, 30, 1]
    skipped = {w.day.day: w.skip_reason for w in rows(service) if w.status == SKIPPED}
    assert skipped == {25: "paused", 26: "Planleggingsdager", 27: "Planleggingsdager"}
    # 1. juledag: a public holiday, on a Friday
    clock.at = oslo("2026-12-24T08:00")
    wakeups.plan_ahead(service)
    move_to(clock, "2026-12-25T07:00")
    wakeups.run_due_wakeups(service)
    assert rows(service)[-1].skip_reason == "Første juledag"


async def test_it_plans_a_day_ahead_for_every_plan_in_chunks_and_only_once(service, clock, monkeypatch):
    """At start after a day down, every plan gets its new day; a chunk of plans per transaction, not all."""
    c = cast(service)
    ids = [plan(service, c.youth, f"0{6 + n % 3}:{10 * n:02d}", days="daily") for n in range(5)]
    clock.advance(days=1)
    monkeypatch.setattr(wakeups, "PLAN_CHUNK", 2)  # 5 plans: three transactions
    assert wakeups.plan_ahead(service) == 5
    assert wakeups.plan_ahead(service) == 0
    per_plan = {i: sorted(w.day for w in rows(service) if w.plan_id == i) for i in ids}
    today = clock.at.astimezone(OSLO).date()
    assert all(days[-2:] == [today, today + timedelta(days=1)] and len(set(days)) == len(days)
               for days in per_plan.values()), per_plan
    assert {w.status for w in rows(service)} == {PLANNED}


async def test_it_keeps_to_the_days_and_dates_of_the_plan(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45", days="sat,sun", start=date(2026, 11, 28), end=date(2026, 11, 29))
    for _ in range(10):
        wakeups.plan_ahead(service)
        clock.advance(days=1)
    assert [w.day for w in rows(service)] == [date(2026, 11, 28), date(2026, 11, 29)]


async def test_it_wakes_at_the_same_local_time_across_the_change_to_summer_time(service, clock):
    c = cast(service)
    clock.at = oslo("2027-03-26T12:00")
    plan(service, c.youth, "06:45", days="daily")
    for _ in range(3):
        clock.advance(days=1)
        wakeups.plan_ahead(service)
    due = [w.due_at for w in rows(service)]
    assert [d.astimezone(OSLO).strftime("%H:%M") for d in due] == ["06:45"] * 4
    assert [d.strftime("%H:%M") for d in due] == ["05:45", "04:45", "04:45", "04:45"]  # UTC; summer time from 28 March


async def test_it_sends_a_wakeup_missed_by_a_restart_late_within_half_an_hour_and_once(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T07:14")  # the service was down from before 06:45 until now
    wakeups.run_due_wakeups(service)
    wakeups.run_due_wakeups(service)
    (sent,) = (await deliver(service)).to(YOUTH_TG)
    assert sent.text.startswith("God morgen")
    assert log(service)[0].text == "Vekking 06:45 sendt (29 minutter for sent, tjenesten var nede)"
    assert len(queued(service, YOUTH_TG)) == 1


async def test_it_logs_a_wakeup_missed_by_more_than_half_an_hour_and_tells_kari(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45")
    move_to(clock, "2026-11-24T07:16")
    wakeups.run_due_wakeups(service)
    sent = await deliver(service)
    assert sent.to(YOUTH_TG) == []
    assert "ble ikke sendt fordi tjenesten var nede" in sent.to(PRIMARY_TG)[0].text
    (w,) = rows(service)
    assert w.status == MISSED
    (entry,) = log(service)
    assert entry.text == "Vekking 06:45 ble ikke sendt: tjenesten var nede (31 minutter for sent)"
    assert entry.direction == "none"


async def test_it_plans_the_days_missed_while_down_and_logs_each_as_missed(service, clock):
    c = cast(service)
    plan(service, c.youth, "06:45", days="daily")
    clock.advance(days=3)  # down from Monday 10:00 to Thursday 10:00
    wakeups.plan_ahead(service)
    wakeups.run_due_wakeups(service)
    sent = await deliver(service)
    assert sent.to(YOUTH_TG) == []
    assert [w.status for w in rows(service)] == [MISSED, MISSED, MISSED, PLANNED]
    assert len(log(service)) == 3
    assert len(sent.to(PRIMARY_TG)) == 1  # only today's is worth telling Kari about


async def test_it_spaces_a_burst_of_telegram_wakeups_in_the_order_of_their_time(service, clock):
    from bot import roster

    rate = wakeups.TELEGRAM_BULK_RATE
    total = 2 * rate + 10  # two seconds' worth, and ten more
    c = cast(service)
    with service.tx() as session:
        ola = session.get(Person, c.youth)
        youths = []
        for n in range(total):
            y = roster.add_youth(session, name=f"Ung {n}", primary=c.primary, now=clock.at,
                                 secret_key=service.settings.secret_key).person
            y.telegram_user_id = y.telegram_chat_id = 9000 + n
            youths.append(y.id)
        assert ola.telegram_chat_id
    for n, youth in enumerate(youths):
        plan(service, youth, "06:59:59" if n % 10 == 0 else "07:00")
    move_to(clock, "2026-11-24T07:00")
    start = clock.at
    assert wakeups.run_due_wakeups(service, limit=25) == 25
    assert wakeups.run_due_wakeups(service, limit=25) == 25
    # Two seconds' worth (at TELEGRAM_BULK_RATE a second, both ends included) are queued; the rest wait for
    # the next round.
    assert wakeups.run_due_wakeups(service, limit=25) == 2 * rate + 1 - 50
    assert wakeups.run_due_wakeups(service, limit=25) == 0
    clock.advance(seconds=1)
    assert wakeups.run_due_wakeups(service, limit=25) == total - (2 * rate + 1)
    with service.tx() as session:
        out = session.exec(select(Outbox).where(Outbox.key.like("wake:%")).order_by(Outbox.due_at)).all()
        order = [(o.due_at, session.get(Wakeup, int(o.key.split(":")[1])).due_at) for o in out]
    slots = [slot for slot, _ in order]
    # Spaced by 1/rate each (a microsecond-rounded gap, so within a millisecond over the whole burst).
    assert slots[0] == start
    assert abs(slots[-1] - slots[0] - timedelta(seconds=(total - 1) / rate)) < timedelta(milliseconds=1)
    assert [due for _, due in order] == sorted(due for _, due in order)  # the 06:59:59 ones first
    assert len({o.key for o in out}) == total


async def test_it_refuses_bad_values_naming_the_field(service, clock):
    c = cast(service)
    cases = [
        ({"youth_id": c.primary}, "youth"),
        ({"at": "25:00"}, "time"),
        ({"days": "mandag-frokost"}, "days"),
        ({"channel": "brevdue"}, "channel"),
        ({"channel": "sms"}, "channel"),  # Ola has no phone
        ({"start": date(2026, 12, 10), "end": date(2026, 12, 1)}, "until"),
    ]
    for overrides, field in cases:
        values = {"youth_id": c.youth, "at": "06:45", **overrides}
        with pytest.raises(InputError) as err, service.tx() as session:
            wakeups.add_plan(session, service, **values)
        assert err.value.field == field
    assert rows(service) == []


async def test_it_stops_a_plan(service, clock):
    c = cast(service)
    plan_id = plan(service, c.youth, "06:45")
    with service.tx() as session:
        wakeups.stop_plan(session, service, plan_id=plan_id)
    move_to(clock, "2026-11-24T06:45")
    wakeups.run_due_wakeups(service)
    assert (await deliver(service)).sent == []


# -- end to end: `tettpa serve` against the Telegram stand-in ------------------------------------


def _local_in(seconds: float) -> str:
    return (datetime.now(OSLO) + timedelta(seconds=seconds)).strftime("%H:%M:%S")


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


@pytest.fixture
def deployment(request, tmp_path, database_url, telegram):
    """In this process, or a real `tettpa serve` for a test marked `process` (one that kills it)."""
    from tests.e2e import Deployment

    d = Deployment(tmp_path, database_url, telegram, telegram.url,
                   process=request.node.get_closest_marker("process") is not None)
    kari = d.add("worker", "add", "--name", "Kari Nordmann")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]))
    d.people = {"kari": kari, "ola": ola}
    yield d
    d.stop()


def _link(d, telegram) -> None:
    for key, user_id in (("kari", 501), ("ola", 601)):
        telegram.user_sends(user_id, f"/start {d.people[key]['invite_code']}")
        telegram.wait_sent(user_id, 1, timeout=10)


def _entries(d) -> list[dict]:
    return [e for e in json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]
            if e["kind"] == "wakeup"]


def _todays_wakeups(d) -> list[str]:
    """The status of each of today's wake-up rows, read from the database."""
    engine = make_engine(d.env["TETTPA_DATABASE_URL"])
    try:
        with Session(engine) as session:
            return list(session.exec(select(Wakeup.status).where(Wakeup.day == datetime.now(OSLO).date())).all())
    finally:
        engine.dispose()


def _wait_for(check, timeout: float = 10.0):
    deadline = wallclock.monotonic() + timeout
    while wallclock.monotonic() < deadline:
        found = check()
        if found:
            return found
        wallclock.sleep(0.1)
    raise AssertionError("timed out")


def test_it_wakes_ola_end_to_end_and_logs_his_button_press(deployment, telegram):
    d = deployment
    d.start()
    _link(d, telegram)
    made = d.add("wakeup", "add", "--youth", str(d.people["ola"]["id"]), "--time", _local_in(4), "--days", "daily")
    assert set(made) == {"id"}
    wake = telegram.wait_sent(601, 2, timeout=15)[1]
    assert wake["text"].startswith("God morgen, Ola!")
    button = wake["reply_markup"]["inline_keyboard"][0][0]
    telegram.user_presses(601, wake["message_id"], button["callback_data"])
    _wait_for(lambda: "reply_markup" not in telegram.sent_to(601)[1])  # the button is gone
    assert "Oppe kl." in telegram.sent_to(601)[1]["text"]
    entries = _wait_for(lambda: len(_entries(d)) == 2 and _entries(d))
    assert entries[0]["text"].startswith("Vekking ") and entries[0]["text"].endswith(" sendt")
    assert entries[1]["party"] == "youth" and "bekreftet" in entries[1]["text"] and entries[1]["channel"] == "telegram"
    assert len(telegram.sent_to(601)) == 2 and len(telegram.sent_to(501)) == 1  # nothing for Kari


@pytest.mark.process
def test_it_sends_a_wakeup_exactly_once_when_the_service_is_killed_across_its_time(deployment, telegram):
    d = deployment
    d.start()
    _link(d, telegram)
    due = (datetime.now(OSLO) + timedelta(seconds=4)).replace(microsecond=0)
    d.add("wakeup", "add", "--youth", str(d.people["ola"]["id"]), "--time", due.strftime("%H:%M:%S"), "--days", "daily")
    d.kill()
    wallclock.sleep(max(0.0, (due - datetime.now(OSLO)).total_seconds()) + 0.5)  # its time passes while nothing runs
    assert len(telegram.sent_to(601)) == 1
    d.start()
    wake = telegram.wait_sent(601, 2, timeout=15)[1]
    assert wake["text"].startswith("God morgen, Ola!")
    d.stop()
    assert _todays_wakeups(d) == [SENT]  # the rows say it went: nothing left for a start to send
    d.start()  # and a second start does not send it again
    _wait_for(lambda: health(d)["scheduler"] == "leader")
    d.settle()
    assert _todays_wakeups(d) == [SENT] and len(telegram.sent_to(601)) == 2
    (sent,) = _entries(d)
    assert sent["text"].startswith("Vekking ")
