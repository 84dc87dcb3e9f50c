"""Bad input end to end, through `tettpa serve`: texts of any size and any Unicode, malformed and replayed
webhooks, and updates of kinds the service does not handle. Each is answered sensibly, nothing is relayed
twice, and the service keeps relaying afterwards (the process never dies)."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from standins import twilio as tw
from tests.conftest import TEST_DATA_KEY
from tests.reliability import (
    PUBLIC,
    assert_not_logged,
    deployment,
    link,
    log_entries,
    outside,
    roster_of,
    sms,
    texts,
    wait_until,
)

KARI, OLA = 501, 601  # Telegram users: Kari works, Ola is a youth
KARI_PHONE, PER_PHONE, JON_PHONE, SIRI_PHONE = "+4793456789", "+4794567890", "+4741234567", "+4745678901"
TELEGRAM_LIMIT, SMS_LIMIT = 4096, 1600


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def squeeze(text: str) -> str:
    """Text without whitespace: what must survive being split into parts (parts are cut at whitespace)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture
def world():
    with outside({KARI: "Kari", OLA: "Ola"}) as w:
        yield w


@pytest.fixture
def service(tmp_path, database_url, world):
    """Kari (Telegram) is Ola's and Jon's worker; Per (SMS only) is Siri's. Nobody has a second worker."""
    d = deployment(tmp_path, database_url, world)
    with roster_of(database_url) as people:
        kari = people.worker("Kari Nordmann", KARI_PHONE)
        per = people.worker("Per Hansen", PER_PHONE)
        ola = people.youth("Ola Berg", kari)
        people.youth("Jon Lie", kari, phone=JON_PHONE)
        people.youth("Siri Dahl", per, phone=SIRI_PHONE)
    d.start()
    link(d, world.tg, [(kari, KARI), (ola, OLA)])
    yield d
    d.stop()
    assert_not_logged(d, KARI_PHONE, PER_PHONE, JON_PHONE, SIRI_PHONE, "RTL-overstyring", "Setning nummer",
                      "sendt fem ganger", "fortsatt her", "svar0001", "uten avsender", "i gruppa", world.tg.token)


def relays_to(world, chat: int, who: str) -> list[dict]:
    return [m for m in world.tg.sent_to(chat) if who in m.get("text", "")]


def _still_relays(d, world, marker: str) -> None:
    """The service is alive and its intake not stuck: a plain message still reaches Kari, once."""
    assert d.process.poll() is None, "tettpa serve died"
    world.tg.user_sends(OLA, f"fortsatt her {marker}")
    wait_until(lambda: any(marker in t for t in texts(world.tg.sent_to(KARI))), 15, f"the relay of {marker}")
    d.settle(15)
    assert sum(marker in t for t in texts(world.tg.sent_to(KARI))) == 1


AWKWARD = {
    "rtl": "\u202eRTL-overstyring\u202c \u200fمرحبا، كيف حالك؟\u200e hei fra Ola",
    "zero_width": "null\u200bbredde\u200d\u2060tegn\ufeff og myk\u00adbindestrek",
    "nul": "nul\x00tegn midt\x00i teksten",
    "emoji": "👍🏽 ❤️‍🔥 👨‍👩‍👧‍👦 🇳🇴 🏳️‍🌈 ok",
    "combining": "Z̷̢̛a̵̡̛l̷̨̛g̸̢̛o̵̢̍ og e\u0301\u0301\u0301",
    "long_words": " ".join(f"ord{i:04d}" for i in range(512)).ljust(TELEGRAM_LIMIT, "x")[:TELEGRAM_LIMIT],
    "long_emoji": "😀" * (TELEGRAM_LIMIT // 2),
}


def test_it_relays_any_unicode_and_any_size_from_telegram_and_answers_back(service, world, monkeypatch):
    from bot import relay

    # One relay per message here: what is about each text's own path (tests/test_burst.py has the bursts).
    monkeypatch.setattr(relay, "BURST_LIMIT", 100)
    tg = world.tg
    for text in AWKWARD.values():
        assert utf16(text.replace("\x00", "")) <= TELEGRAM_LIMIT
        tg.user_sends(OLA, text)
    wait_until(lambda: sum("Fra Ola Berg:" in t for t in texts(tg.sent_to(KARI))) >= len(AWKWARD), 30,
               "every message at Kari")
    service.settle(30)
    relayed = texts(tg.sent_to(KARI)[1:])
    assert all(utf16(t) <= TELEGRAM_LIMIT for t in relayed)
    together = squeeze("".join(relayed))
    for name, text in AWKWARD.items():
        assert squeeze(text.replace("\x00", "")) in together.replace("\x00", ""), name
    # One header per message: nothing relayed twice, and each long text in parts after its one header.
    assert sum("Fra Ola Berg:" in t for t in relayed) == len(AWKWARD)

    # Kari answers the longest one with a text as long: it reaches Ola, in parts, signed once.
    first_part = next(m for m in tg.sent_to(KARI) if "ord0000" in m.get("text", ""))
    answer = " ".join(f"svar{i:04d}" for i in range(455))[:TELEGRAM_LIMIT]
    tg.user_sends(KARI, answer, reply_to_message_id=first_part["message_id"])
    wait_until(lambda: "svar0454" in "".join(texts(tg.sent_to(OLA))), 15, "the whole answer at Ola")
    service.settle(15)
    to_ola = texts(tg.sent_to(OLA)[1:])
    assert to_ola[0].startswith("Kari: svar0000") and len(to_ola) == 2
    assert squeeze("".join(to_ola)) == squeeze("Kari: " + answer)
    _still_relays(service, world, "etter-unicode")


def test_it_relays_a_10000_character_sms_in_sensible_parts(service, world):
    tg, twilio = world.tg, world.tw
    sentences = [f"Setning nummer {i} handler om skolen og om hvordan dagen gikk." for i in range(200)]
    long_sms = " ".join(sentences)[:10_000].rsplit(" ", 1)[0] + "."
    assert len(long_sms) > 9_900
    # Jon -> Kari on Telegram: in parts of at most 4096, cut between sentences.
    assert sms(service, world, JON_PHONE, long_sms).status_code == 200
    wait_until(lambda: "Setning nummer 1" in "".join(texts(tg.sent_to(KARI))), 15, "Jon's SMS at Kari")
    service.settle(30)
    parts = texts(tg.sent_to(KARI)[1:])
    assert len(parts) == 3 and parts[0].startswith("Fra Jon Lie:")
    assert all(utf16(p) <= TELEGRAM_LIMIT for p in parts)
    assert all(p.endswith(".") for p in parts), "cut in the middle of a sentence"
    assert squeeze("".join(parts)) == squeeze("Fra Jon Lie:" + long_sms)

    # Siri -> Per by SMS: in parts of at most 1600 (Twilio's limit), the tag on the first.
    assert sms(service, world, SIRI_PHONE, long_sms).status_code == 200
    wait_until(lambda: len(twilio.sms_to(PER_PHONE)) >= 7, 15, "Siri's SMS at Per")
    service.settle(30)
    sms_parts = twilio.sms_to(PER_PHONE)
    assert all(len(p) <= SMS_LIMIT for p in sms_parts) and 7 <= len(sms_parts) <= 8
    assert re.match(r"#\d+ Fra Siri Dahl:", sms_parts[0])
    assert squeeze("".join(sms_parts)).endswith(squeeze(long_sms))
    tag = sms_parts[0].split()[0]

    # Per answers with 10,000 characters: Siri gets it in parts, in order, nothing twice.
    assert sms(service, world, PER_PHONE, f"{tag} {long_sms}").status_code == 200
    wait_until(lambda: len(twilio.sms_to(SIRI_PHONE)) >= 7, 15, "Per's answer at Siri")
    service.settle(30)
    answer_parts = twilio.sms_to(SIRI_PHONE)
    assert 7 <= len(answer_parts) <= 8 and answer_parts[0].startswith("Per: Setning nummer 0 ")
    assert squeeze("".join(answer_parts)) == squeeze("Per: " + long_sms)
    _still_relays(service, world, "etter-lang-sms")


def test_it_relays_unicode_and_nul_in_an_sms_and_keeps_the_sms_in_gsm_where_it_can(service, world):
    tg, twilio = world.tg, world.tw
    for text in ("«Hei» – jeg kommer… snart", "RTL \u200fمرحبا\u200e og nul\x00tegn", "emoji 😀👍🏽"):
        assert sms(service, world, JON_PHONE, text).status_code == 200
    wait_until(lambda: len(tg.sent_to(KARI)) >= 4, 15, "three relays at Kari")
    service.settle(15)
    relayed = texts(tg.sent_to(KARI)[1:])
    assert len(relayed) == 3 and "«Hei» – jeg kommer… snart" in relayed[0] and "😀👍🏽" in relayed[2]
    assert "مرحبا" in relayed[1]
    # Kari answers Jon with typographic quotes: the SMS has their GSM-7 twins, not a UCS-2 message.
    relay = tg.sent_to(KARI)[1]
    tg.user_sends(KARI, "«Greit» – vi ses…", reply_to_message_id=relay["message_id"])
    (answer,) = twilio.wait_sms(JON_PHONE, 1, timeout=15)
    assert answer["body"] == 'Kari: "Greit" - vi ses...' and answer["encoding"] == "GSM-7"


def test_it_combines_a_flood_from_one_sender_without_affecting_others(service, world):
    tg = world.tg
    for i in range(25):
        tg.user_sends(OLA, f"flom {i:02d}")
    assert sms(service, world, JON_PHONE, "jeg er ikke med på flommen").status_code == 200
    wait_until(lambda: any("ikke med på flommen" in t for t in texts(tg.sent_to(KARI))), 20, "Jon's message")
    wait_until(lambda: sum("flom " in e["text"] for e in log_entries(service)) == 25, 30, "all 25 in the log")
    wait_until(lambda: all(f"flom {i:02d}" in "\n".join(texts(tg.sent_to(KARI))) for i in range(25)), 30,
               "every word on Kari's phone")
    service.settle(20)
    kari = [t for t in texts(tg.sent_to(KARI)) if "flom " in t]
    assert sum(t.count("flom ") for t in kari) == 25  # each once: the first ones alone, the rest combined
    assert len(kari) < 25
    assert sum("ikke med på flommen" in t for t in texts(tg.sent_to(KARI))) == 1
    assert not any("mange meldinger" in t for t in texts(tg.sent_to(OLA)))  # nobody is told to wait


def test_it_answers_malformed_and_replayed_twilio_webhooks_sensibly(service, world):
    tg, twilio = world.tg, world.tw
    url = f"{service.url}/twilio/sms"
    token = twilio.auth_token

    def signed(params: dict) -> httpx.Response:
        return tw.signed_post(url, f"{PUBLIC}/twilio/sms", params, token)

    assert signed({"From": JON_PHONE, "Body": "uten sid"}).status_code == 400
    assert signed({"MessageSid": "SM" + "9" * 32, "Body": "uten avsender"}).status_code == 400
    assert signed({"MessageSid": "SM" + "8" * 32, "From": "ikke et nummer", "Body": "x"}).status_code == 200
    assert httpx.post(url, content=b"\xff\xfe not a form", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}).status_code == 403
    assert httpx.post(url, content=b"--x\r\nbroken", headers={
        "Content-Type": "multipart/form-data; boundary=x", "X-Twilio-Signature": "x"}).status_code in (400, 403, 413)
    assert httpx.post(url, data={"MessageSid": "SM1", "From": JON_PHONE, "Body": "x" * 70_000}).status_code == 413
    for path in ("status", "voice", "voice/dial?call=abc&step=", "voice/whisper?call=1", "voice/gather"):
        params = {"CallSid": "CA" + "1" * 32, "From": JON_PHONE, "To": "+4790000000"}
        response = tw.signed_post(f"{service.url}/twilio/{path}", f"{PUBLIC}/twilio/{path}", params, token)
        assert response.status_code in (200, 400), path

    # Twilio retries a webhook it thinks failed: the same MessageSid five times is relayed once.
    sid = "SM" + "7" * 32
    for _ in range(5):
        assert sms(service, world, JON_PHONE, "sendt fem ganger", sid=sid).status_code == 200
    wait_until(lambda: any("sendt fem ganger" in t for t in texts(tg.sent_to(KARI))), 15, "the relay")
    service.settle(15)  # all five stored and handled, and nothing left to send: no second relay can come
    assert sum("sendt fem ganger" in t for t in texts(tg.sent_to(KARI))) == 1
    assert sum("uten" in t for t in texts(tg.sent_to(KARI))) == 0
    assert twilio.sms_to("ikke et nummer") == []
    _still_relays(service, world, "etter-twilio")


def test_it_ignores_updates_of_kinds_it_does_not_handle_and_keeps_relaying(service, world):
    tg = world.tg
    me = {"id": OLA, "is_bot": False, "first_name": "Ola"}
    group = {"id": -100123, "type": "group", "title": "Klassen"}
    now = int(time.time())
    tg.raw_update({"message": {"message_id": 900, "date": now, "chat": group, "from": me, "text": "i gruppa"}})
    tg.raw_update({"message": {"message_id": 901, "date": now, "chat": {"id": OLA, "type": "private"}, "from": me,
                               "location": {"latitude": 59.9, "longitude": 10.7}}})
    tg.raw_update({"message": {"message_id": 902, "date": now, "chat": {"id": OLA, "type": "private"}, "from": me,
                               "new_chat_title": "x"}})
    tg.raw_update({"message": {"message_id": 903, "date": now, "chat": {"id": OLA, "type": "private"}, "from": me,
                               "dice": {"emoji": "🎲", "value": 3}}})
    tg.raw_update({"message": "not a message"})
    tg.raw_update({"callback_query": {"id": "1", "from": me, "chat_instance": "1", "data": "ukjent:123"}})
    tg.raw_update({"callback_query": {"id": "2", "from": {"id": 4242, "is_bot": False, "first_name": "X"},
                                      "chat_instance": "1", "data": "take:1"}})
    tg.block(OLA)  # a my_chat_member update, not asked for: never delivered
    tg.unblock(OLA)
    _still_relays(service, world, "etter-rare-oppdateringer")
    kari_texts = texts(tg.sent_to(KARI))
    assert not any("i gruppa" in t for t in kari_texts)
    # The shared location is copied to Kari (the stand-in only knows messages its helpers made, so it refuses
    # the copy of this raw one), after a header that is never blank.
    copies = [(p["chat_id"], p["from_chat_id"], p["message_id"]) for _, p in tg.calls("copyMessage")]
    assert copies == [(KARI, OLA, 901)]
    # A kind of message nothing can show (a dice) is still announced, never relayed as a blank header.
    assert "Fra Ola Berg:\n[vedlegg]" in kari_texts
    wait_until(lambda: tg.pending_updates() == [], 10, "every update confirmed")
    # A press Telegram no longer knows (answerCallbackQuery refused) is handled once, not retried.
    answered = [params for _, params in tg.calls("answerCallbackQuery")]
    assert [a["callback_query_id"] for a in answered].count("1") == 1
    assert [a["callback_query_id"] for a in answered].count("2") == 1


def test_it_answers_malformed_replayed_and_unhandled_telegram_webhooks_sensibly(tmp_path, database_url, world):
    tg = world.tg
    # The stand-in posts the webhook straight to this process.
    d = deployment(tmp_path, database_url, world, public_url=None, telegram_updates="webhook")
    with roster_of(database_url) as people:
        kari = people.worker("Kari Nordmann")
        ola = people.youth("Ola Berg", kari)
    d.start()
    try:
        wait_until(lambda: tg.calls("setWebhook"), 15, "setWebhook")
        secret = tg.calls("setWebhook")[-1][1]["secret_token"]
        link(d, tg, [(kari, KARI), (ola, OLA)])
        hook = f"{d.url}/telegram/webhook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}

        def post(body, raw: bool = False) -> int:
            content = body if raw else json.dumps(body)
            return httpx.post(hook, content=content, headers={**headers, "Content-Type": "application/json"},
                              timeout=10).status_code

        assert post(b"{not json", raw=True) == 400
        assert post(b"\x00\xff", raw=True) == 400
        assert post([1, 2, 3]) == 400
        assert post({"message": {"text": "uten update_id"}}) == 400
        assert post({"update_id": "12"}) == 400
        assert post({"update_id": 1, "pad": "x" * 1_100_000}) == 413
        me = {"id": OLA, "is_bot": False, "first_name": "Ola"}
        chat = {"id": OLA, "type": "private", "first_name": "Ola"}
        now = int(time.time())
        unhandled = [
            {"edited_message": {"message_id": 5, "date": now, "edit_date": now, "chat": chat, "from": me,
                                "text": "redigert"}},
            {"channel_post": {"message_id": 6, "date": now, "chat": {"id": -1001, "type": "channel", "title": "K"},
                              "text": "kanal"}},
            {"my_chat_member": {"chat": chat, "from": me, "date": now,
                                "old_chat_member": {"status": "member", "user": me},
                                "new_chat_member": {"status": "kicked", "user": me, "until_date": 0}}},
            {"message_reaction": {"chat": chat, "message_id": 1, "date": now, "old_reaction": [],
                                  "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
            {"message": {"message_id": 7, "date": now, "chat": {"id": -5, "type": "supergroup", "title": "G"},
                         "from": me, "text": "gruppe"}},
            {"poll": {"id": "p", "question": "?", "options": [], "total_voter_count": 0, "is_closed": False,
                      "is_anonymous": True, "type": "regular", "allows_multiple_answers": False}},
            {"message": {"message_id": 8}},  # a message without its required fields
            {"totally_unknown_kind": {"x": 1}},
        ]
        for number, update in enumerate(unhandled, start=10_000):
            assert post({"update_id": number, **update}) == 200
        # Telegram retries a webhook whose answer it did not get: the same update three times.
        replayed = {"update_id": 20_000, "message": {"message_id": 50, "date": now, "chat": chat, "from": me,
                                                     "text": "levert tre ganger"}}
        assert [post(replayed) for _ in range(3)] == [200, 200, 200]
        wait_until(lambda: any("levert tre ganger" in t for t in texts(tg.sent_to(KARI))), 15, "the relay")
        tg.user_sends(OLA, "vanlig melding etterpå")
        wait_until(lambda: any("vanlig melding etterpå" in t for t in texts(tg.sent_to(KARI))), 15, "the relay")
        d.settle(15)
        kari_texts = texts(tg.sent_to(KARI))
        assert sum("levert tre ganger" in t for t in kari_texts) == 1
        assert not any(word in t for t in kari_texts for word in ("redigert", "kanal", "gruppe"))
        assert d.process.poll() is None
    finally:
        d.stop()


def test_it_refuses_to_start_with_a_placeholder_secret_and_reads_secrets_from_files(tmp_path, database_url, world):
    d = deployment(tmp_path, database_url, world)
    d.env["TETTPA_DATA_KEY"] = "changeme"
    with pytest.raises(AssertionError, match="TETTPA_DATA_KEY must be set to a real secret"):
        d.start()
    # The same secrets from mounted files (Docker/Kubernetes secrets), none of them in the environment.
    for name in ("SECRET_KEY", "DATA_KEY", "TELEGRAM_TOKEN", "TWILIO_AUTH_TOKEN"):
        secret = tmp_path / name.lower()
        secret.write_text(d.env.pop(f"TETTPA_{name}") if name != "DATA_KEY" else TEST_DATA_KEY)
        d.env.pop(f"TETTPA_{name}", None)
        d.env[f"TETTPA_{name}_FILE"] = str(secret)
    with roster_of(database_url) as people:
        kari = people.worker("Kari Nordmann")
        ola = people.youth("Ola Berg", kari)
    d.start()
    try:
        link(d, world.tg, [(kari, KARI), (ola, OLA)])  # invite codes signed with the key from the file
        world.tg.user_sends(OLA, "nøkler fra filer")
        wait_until(lambda: any("nøkler fra filer" in t for t in texts(world.tg.sent_to(KARI))), 15, "the relay")
        assert sms(d, world, "+4799999999", "ukjent").status_code == 200  # the Twilio token from its file
    finally:
        d.stop()
    assert_not_logged(d, TEST_DATA_KEY, world.tg.token, world.tw.auth_token)
