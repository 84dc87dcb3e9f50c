"""SMS in the core: a worker without Telegram answers by tag; STOP and START; unknown numbers."""

from __future__ import annotations

from bot.events import Incoming
from bot.sms import receive_sms
from bot.sms_text import gsm_safe, split_sms
from models.people import Person
from standins.twilio import sms_encoding
from tests.fakes import deliver
from tests.personas import PARENT_TG, YOUTH_TG, cast, tg, writes

PER_PHONE, LISE_PHONE, OLA_PHONE = "+4791111111", "+4792345678", "+4741234567"
_sids = iter(range(1, 10_000))


def sms(service, from_: str, body: str) -> None:
    inc = Incoming(source_key=f"sms:SM{next(_sids):032d}", channel="sms", address=from_, text=body)
    with service.tx() as session:
        receive_sms(service, session, inc)


def _sms_only(service, c, **changes):
    """Per has no Telegram; Ola writes by SMS."""
    with service.tx() as session:
        per = session.get(Person, c.secondary)
        per.telegram_user_id = per.telegram_chat_id = None
        kari = session.get(Person, c.primary)
        kari.off = True
        ola = session.get(Person, c.youth)
        ola.phone = OLA_PHONE
        lise = session.get(Person, c.parent)
        lise.phone = LISE_PHONE
        for key, value in changes.items():
            setattr(session.get(Person, c.youth), key, value)


async def test_it_relays_to_a_worker_without_telegram_by_sms_with_a_tag(service):
    c = cast(service)
    _sms_only(service, c)
    sms(service, OLA_PHONE, "hei Per")
    sent = await deliver(service)
    (relay,) = sent.to(PER_PHONE)
    assert relay.channel == "sms" and relay.text.startswith("#1 ") and "hei Per" in relay.text


async def test_it_sends_an_untagged_answer_to_the_last_conversation(service):
    c = cast(service)
    _sms_only(service, c)
    sms(service, OLA_PHONE, "hei Per")
    sent = await deliver(service)
    sms(service, PER_PHONE, "hei Ola")
    sent = await deliver(service, sent)
    assert [o.text for o in sent.to(OLA_PHONE)] == ["Per: hei Ola"]


async def test_it_asks_for_a_tag_when_two_conversations_are_recent(service):
    c = cast(service)
    _sms_only(service, c)
    sms(service, OLA_PHONE, "fra Ola")
    writes(service, tg(PARENT_TG, "fra Lise"))
    sent = await deliver(service)
    assert len(sent.to(PER_PHONE)) == 2
    sms(service, PER_PHONE, "til hvem?")
    sent = await deliver(service, sent)
    assert "ble ikke sendt" in sent.to(PER_PHONE)[-1].text
    assert sent.to(OLA_PHONE) == [] and sent.to(PARENT_TG) == []
    sms(service, PER_PHONE, "#2: til Lise")
    sent = await deliver(service, sent)
    assert sent.to(PARENT_TG)[-1].text == "Per: til Lise"


async def test_it_refuses_an_unknown_tag(service):
    c = cast(service)
    _sms_only(service, c)
    sms(service, PER_PHONE, "#99 hallo")
    sent = await deliver(service)
    assert "#99" in sent.to(PER_PHONE)[0].text


async def test_it_answers_the_youth_on_the_channel_she_last_used(service):
    c = cast(service)
    _sms_only(service, c)
    with service.tx() as session:
        session.get(Person, c.primary).off = False
    sms(service, OLA_PHONE, "by sms")
    sent = await deliver(service)
    from tests.personas import PRIMARY_TG, queued
    link = queued(service, PRIMARY_TG)[0]["row"].external_id
    writes(service, tg(PRIMARY_TG, "svar", reply_to=link))
    writes(service, tg(YOUTH_TG, "nå på telegram"))
    sent = await deliver(service, sent)
    assert [o.text for o in sent.to(OLA_PHONE)] == ["Kari: svar"]


async def test_it_confirms_stop_once_and_sends_no_more_sms(service):
    c = cast(service)
    _sms_only(service, c, telegram_user_id=None, telegram_chat_id=None)
    sms(service, OLA_PHONE, "STOPP")
    sms(service, OLA_PHONE, "STOP")
    sent = await deliver(service)
    assert len(sent.to(OLA_PHONE)) == 1 and "START" in sent.to(OLA_PHONE)[0].text
    with service.tx() as session:
        assert session.get(Person, c.youth).sms_opt_out is True
    sms(service, OLA_PHONE, "START")
    sent = await deliver(service, sent)
    assert len(sent.to(OLA_PHONE)) == 2


async def test_it_answers_an_unknown_number_without_telling_anything(service):
    cast(service)
    sms(service, "+4799999999", "hvem er dette?")
    sent = await deliver(service)
    (answer,) = sent.to("+4799999999")
    assert "Tett på" in answer.text and "Ola" not in answer.text


def test_it_keeps_sms_texts_in_gsm7():
    text = gsm_safe("«Hei» – du er oppe\u00a0kl. 06:45… ’ok’")
    assert sms_encoding(text) == "GSM-7" and text == "\"Hei\" - du er oppe kl. 06:45... 'ok'"
    assert sms_encoding("Blåbærsyltetøy Æ Ø Å") == "GSM-7"  # (the stand-in's table, not the product's)


def test_it_splits_a_long_text_at_sentences():
    text = ("Dette er en setning. " * 200).strip()
    parts = split_sms(text)
    assert len(parts) == 3 and all(len(p) <= 1500 for p in parts)
    assert all(p.endswith(".") for p in parts) and " ".join(parts) == text
