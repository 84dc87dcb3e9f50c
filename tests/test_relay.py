"""The relay loop in the core: youth and parent reach the primary, the answer comes back, all logged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import select

from bot import relay
from bot.contactlog import export
from models.conversations import Message
from tests.fakes import deliver
from tests.personas import (
    OUTSIDER_TG,
    PARENT_TG,
    PRIMARY_TG,
    SECONDARY_TG,
    YOUTH_TG,
    cast,
    queued,
    tg,
    writes,
)


async def test_it_relays_a_youths_message_to_the_primary(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "Hei, jeg kommer ikke på skolen i dag"))
    sent = await deliver(service)
    (relayed,) = sent.to(PRIMARY_TG)
    assert "Ola Berg" in relayed.text and "Hei, jeg kommer ikke på skolen i dag" in relayed.text
    assert relayed.buttons[0][0].data.startswith("take:")
    assert sent.to(SECONDARY_TG) == [] and sent.to(YOUTH_TG) == []


async def test_it_shows_a_parent_as_parent_of_the_youth(service):
    cast(service)
    writes(service, tg(PARENT_TG, "Ola har feber"))
    sent = await deliver(service)
    (relayed,) = sent.to(PRIMARY_TG)
    assert "Lise Berg, forelder til Ola Berg" in relayed.text


async def test_it_sends_the_primarys_reply_to_the_youth_without_exposing_her(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "Kan vi møtes i morgen?"))
    sent = await deliver(service)
    relay_id = sent.ids  # the next receipt id is after the relay's
    (relayed,) = sent.to(PRIMARY_TG)
    relay_external = queued(service, PRIMARY_TG)[0]["row"].external_id
    writes(service, tg(PRIMARY_TG, "Ja, kl. 12 på kafeen", reply_to=relay_external))
    sent = await deliver(service, sent)
    (answer,) = sent.to(YOUTH_TG)
    assert answer.text == "Kari: Ja, kl. 12 på kafeen"
    assert "5001" not in answer.text and relay_id


async def test_it_copies_a_photo_to_the_primary(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "se her", media={"kind": "photo", "chat_id": YOUTH_TG, "message_id": 9}))
    sent = await deliver(service)
    header, photo = sent.to(PRIMARY_TG)
    assert "Ola Berg" in header.text and "se her" in header.text
    assert photo.copy == {"chat_id": YOUTH_TG, "message_id": 9}


async def test_it_tells_an_outsider_what_this_is_and_relays_nothing(service):
    cast(service)
    writes(service, tg(OUTSIDER_TG, "hallo?"))
    sent = await deliver(service)
    (answer,) = sent.to(OUTSIDER_TG)
    assert "/start" in answer.text
    assert sent.to(PRIMARY_TG) == [] and sent.to(SECONDARY_TG) == []
    with service.tx() as session:
        assert session.exec(select(Message)).all() == []


async def test_it_answers_an_outsider_in_english_when_telegram_says_en(service):
    cast(service)
    writes(service, tg(OUTSIDER_TG, "hello?", language_code="en-GB"))
    sent = await deliver(service)
    assert "code" in sent.to(OUTSIDER_TG)[0].text


async def test_it_hints_a_worker_who_writes_without_replying(service):
    cast(service)
    writes(service, tg(PRIMARY_TG, "hei alle sammen"))
    sent = await deliver(service)
    (hint,) = sent.to(PRIMARY_TG)
    assert "Svar" in hint.text
    assert sent.to(YOUTH_TG) == []


async def test_it_handles_the_same_update_once(service):
    cast(service)
    inc = tg(YOUTH_TG, "dobbel?")
    writes(service, inc)
    writes(service, inc)
    sent = await deliver(service)
    assert len(sent.to(PRIMARY_TG)) == 1


async def test_it_logs_every_message_in_and_out(service):
    c = cast(service)
    writes(service, tg(YOUTH_TG, "hei"))
    await deliver(service)
    relay_external = queued(service, PRIMARY_TG)[0]["row"].external_id
    writes(service, tg(PRIMARY_TG, "hei på deg", reply_to=relay_external))
    await deliver(service)
    with service.tx() as session:
        entries = json.loads(export(session, service.settings, fmt="json"))["entries"]
    assert [(e["party"], e["direction"], e["kind"], e["text"]) for e in entries] == [
        ("youth", "in", "message", "hei"),
        ("worker", "out", "message", "hei på deg"),
    ]
    first = entries[0]
    assert first["youth_id"] == c.youth and first["channel"] == "telegram" and first["worker_id"] is None
    assert entries[1]["worker_id"] == c.primary
    assert first["at"].endswith("+01:00")  # local time in Oslo, November
    assert first["after_hours"] is False  # Monday 10:00


async def test_it_marks_a_saturday_message_after_hours(service, clock):
    cast(service)
    clock.advance(days=5)  # Saturday
    writes(service, tg(YOUTH_TG, "lørdag"))
    with service.tx() as session:
        (entry,) = json.loads(export(session, service.settings, fmt="json"))["entries"]
    assert entry["after_hours"] is True


async def test_it_exports_csv_with_a_header_row(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "hei, \"sitat\""))
    with service.tx() as session:
        csv_text = export(session, service.settings, fmt="csv")
    header, row = csv_text.strip().splitlines()
    assert header == "at,youth_id,party,worker_id,channel,direction,kind,after_hours,text"
    assert row.endswith(',youth,,telegram,in,message,false,"hei, ""sitat"""')


async def test_it_stores_message_texts_encrypted(service):
    cast(service)
    writes(service, tg(YOUTH_TG, "hemmelig tekst"))
    with service.engine.connect() as conn:
        from sqlalchemy import text

        stored = [row[0] for row in conn.execute(text("SELECT text FROM message"))]
        logged = [row[0] for row in conn.execute(text("SELECT text FROM contact_log"))]
    assert stored and all("hemmelig" not in s for s in stored + logged)


async def test_it_combines_a_flooding_sender_without_affecting_others(service, clock):
    from bot.relay import relay_combined

    cast(service)
    for i in range(30):
        writes(service, tg(YOUTH_TG, f"spam {i}"))
    writes(service, tg(PARENT_TG, "viktig fra mamma"))
    writes(service, tg(YOUTH_TG, "jeg vil ta livet mitt"))
    clock.advance(seconds=5)
    relay_combined(service)
    sent = await deliver(service)
    relayed = [o.text for o in sent.to(PRIMARY_TG)]
    assert sum(t.count("spam ") for t in relayed) == 30 and sum("spam" in t for t in relayed) == 6
    assert any("viktig fra mamma" in t for t in relayed) and any("AKUTT" in t for t in relayed)
    assert not any("mange meldinger" in (o.text or "") for o in sent.to(YOUTH_TG))
    with service.tx() as session:
        assert len(json.loads(export(session, service.settings, fmt="json"))["entries"]) >= 32  # all kept


async def test_it_answers_a_sender_with_a_long_text_in_parts_on_either_channel(service):
    from bot.events import Incoming
    from bot.relay import reply

    long = "Dette er et langt svar. " * 250  # 6,000 characters: more than Telegram takes in one message
    with service.tx() as session:
        reply(service, session, Incoming(source_key="tg:1", channel="telegram", address="700"), long)
        reply(service, session, Incoming(source_key="sms:SM1", channel="sms", address="+4741234567"), long)
    sent = await deliver(service)

    telegram, sms = sent.to("700"), sent.to("+4741234567")
    assert len(telegram) == 2 and all(len(o.text) <= 4096 for o in telegram)
    assert len(sms) > 1
    assert " ".join(o.text for o in telegram).split() == long.split()


async def test_it_relays_what_a_youth_wrote_during_an_outage_and_logs_when_he_wrote_it(service, clock):
    """Twelve messages over twelve minutes while the service was down, handled in one go after the restart:
    not a flood (they were written a minute apart), and the log says when each was written."""
    from dataclasses import replace

    cast(service)
    start = service.now() - timedelta(minutes=12)
    for i in range(12):
        writes(service, replace(tg(YOUTH_TG, f"under bruddet {i}"), sent_at=start + timedelta(minutes=i)))
    sent = await deliver(service)

    relayed = [o.text for o in sent.to(PRIMARY_TG)]
    assert sum("under bruddet" in t for t in relayed) == 12
    assert not any("meldinger fra" in t for t in relayed)  # none combined
    with service.tx() as session:
        entries = json.loads(export(session, service.settings, fmt="json"))["entries"]
    times = [datetime.fromisoformat(e["at"]) for e in entries if "under bruddet" in (e["text"] or "")]
    assert times[0] == start and times[-1] == start + timedelta(minutes=11)


async def test_it_does_not_believe_a_time_of_writing_in_the_future(service):
    from dataclasses import replace

    cast(service)
    writes(service, replace(tg(YOUTH_TG, "fra framtiden"), sent_at=service.now() + timedelta(hours=3)))
    with service.tx() as session:
        entries = json.loads(export(session, service.settings, fmt="json"))["entries"]
    assert datetime.fromisoformat(entries[-1]["at"]) == service.now()


async def test_it_dates_a_message_handled_at_once_by_the_handling_clock(service):
    """Telegram's date has whole seconds; a message handled within seconds keeps the finer time, so the log
    keeps the order of a worker's answer and a parent's message in the same second."""
    from dataclasses import replace

    cast(service)
    writes(service, replace(tg(YOUTH_TG, "nå"), sent_at=service.now().replace(microsecond=0) - timedelta(seconds=1)))
    with service.tx() as session:
        entries = json.loads(export(session, service.settings, fmt="json"))["entries"]
    assert datetime.fromisoformat(entries[-1]["at"]) == service.now()


async def test_it_counts_a_flood_handled_partly_late_by_the_second_telegram_dated_it(service, clock):
    """25 messages written in one second: the first handled within 5 s (dated by the handling clock, up to
    5 s after they were written), the rest later (dated by Telegram's whole-second date, which is earlier
    than the first ones' times). All count towards the burst: five are relayed one by one, not five more,
    and the other twenty go together in one combined relay."""
    from dataclasses import replace

    cast(service)
    second = service.now().replace(microsecond=0)
    clock.advance(seconds=0.3)
    for i in range(6):
        writes(service, replace(tg(YOUTH_TG, f"flom {i:02d}"), sent_at=second))
        clock.advance(seconds=0.75)  # the last at 4.05 s
    clock.advance(seconds=2)
    for i in range(6, 25):
        writes(service, replace(tg(YOUTH_TG, f"flom {i:02d}"), sent_at=second))
    sent = await deliver(service)
    assert sum("flom " in t for t in (o.text for o in sent.to(PRIMARY_TG))) == relay.BURST_LIMIT
    clock.advance(seconds=relay.COMBINE_EVERY.total_seconds())
    relay.relay_combined(service)
    combined = [t for t in (o.text for o in (await deliver(service)).to(PRIMARY_TG)) if "flom " in t]
    assert len(combined) == 1 and all(f"flom {i:02d}" in combined[0] for i in range(5, 25))
