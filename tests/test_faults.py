"""Faults outside the service, end to end through `tettpa serve`: Telegram and Twilio answering 429, 500,
too late, or dropping the connection delay a message but never lose it, and never send it twice (except a
Telegram message Telegram took while the service had already given up waiting: the in-flight rule; Twilio
is asked what it took before an SMS or a call is tried again). A permanent
error (a youth blocked the bot, a bad or opted-out number) is not retried: the message goes by the other
channel where there is one, and the worker is told."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.reliability import deployment, link, outside, roster_of, sms, texts, wait_until

KARI, OLA = 501, 601
KARI_PHONE, PER_PHONE = "+4793456789", "+4794567890"
OLA_PHONE, LISE_PHONE, SIRI_PHONE = "+4741234567", "+4792345678", "+4745678901"
# Shortened from production's 15 s (TETTPA_TELEGRAM_SEND_TIMEOUT, TETTPA_TWILIO_TIMEOUT) so each fault
# costs seconds; still far above what a request to a stand-in on 127.0.0.1 takes on a loaded machine.
PTB_TIMEOUT = 5.0  # how long PTB waits for Telegram's answer
TWILIO_TIMEOUT = 5.0  # how long the Twilio transport waits for Twilio's answer
# Shortened from production's 2 s and 1 s (TETTPA_OUTBOX_BACKOFF, TETTPA_POLL_BACKOFF): a send or a poll
# that failed is tried again after 1 s, then 2 s, 4 s ...; what is shown is that it is tried again and
# arrives once, not how long it waited.
BACKOFF = 1.0


@pytest.fixture
def world():
    with outside({KARI: "Kari", OLA: "Ola"}) as w:
        yield w


@pytest.fixture
def service(tmp_path, database_url, world):
    """Kari (Telegram, and a phone) works with Ola (Telegram and a phone) and his mother Lise (SMS only);
    Per (SMS only) works with Siri (SMS only). Nobody has a second worker, so nothing escalates."""
    d = deployment(tmp_path, database_url, world, telegram_send_timeout=f"{PTB_TIMEOUT}s",
                   twilio_timeout=f"{TWILIO_TIMEOUT}s", outbox_backoff=f"{BACKOFF}s",
                   poll_backoff=f"{BACKOFF}s")
    with roster_of(database_url) as people:
        kari = people.worker("Kari Nordmann", KARI_PHONE)
        per = people.worker("Per Hansen", PER_PHONE)
        ola = people.youth("Ola Berg", kari, phone=OLA_PHONE)
        people.parent("Lise Berg", ola, phone=LISE_PHONE)
        people.youth("Siri Dahl", per, phone=SIRI_PHONE)
    d.start()
    link(d, world.tg, [(kari, KARI), (ola, OLA)])
    yield d
    d.stop()


def count_at(world, chat: int, text: str) -> int:
    return sum(text in t for t in texts(world.tg.sent_to(chat)))


def sms_count(world, number: str, text: str) -> int:
    return sum(text in body for body in world.tw.sms_to(number))


def relayed_once(d, world, text: str, timeout: float = 30) -> float:
    """Wait for Ola's `text` at Kari, let everything settle, and check it came exactly once; seconds taken."""
    began = time.monotonic()
    wait_until(lambda: count_at(world, KARI, text), timeout, f"{text!r} at Kari")
    took = time.monotonic() - began
    d.settle(timeout)  # nothing left to send or to retry: no other copy can come
    assert count_at(world, KARI, text) == 1, f"{text!r} reached Kari {count_at(world, KARI, text)} times"
    return took


def send_attempts(world, chat: int) -> int:
    return sum(1 for _, p in world.tg.calls("sendMessage") if p.get("chat_id") in (chat, str(chat)))


def test_it_delays_but_never_loses_or_repeats_a_message_when_telegram_fails(service, world):
    tg = world.tg
    # 429 with retry_after: the relay waits at least that long, then goes once.
    before = send_attempts(world, KARI)
    tg.fail_next("sendMessage", retry_after=2)
    tg.user_sends(OLA, "etter flomkontroll")
    assert relayed_once(service, world, "etter flomkontroll") >= 2.0
    assert send_attempts(world, KARI) - before == 2
    # 500 twice: tried three times, delivered once.
    before = send_attempts(world, KARI)
    tg.fail_next("sendMessage", status=500, times=2)
    tg.user_sends(OLA, "etter serverfeil")
    relayed_once(service, world, "etter serverfeil")
    assert send_attempts(world, KARI) - before == 3
    # The connection dropped mid-answer (before Telegram took the message): tried again, delivered once.
    before = send_attempts(world, KARI)
    tg.fail_next("sendMessage", drop_connection=True, times=2)
    tg.user_sends(OLA, "etter brudd")
    relayed_once(service, world, "etter brudd")
    assert send_attempts(world, KARI) - before == 3
    # Slower than PTB waits, and then failing anyway: nothing arrived the first time, so once.
    tg.fail_next("sendMessage", status=500, delay=PTB_TIMEOUT + 2)
    tg.user_sends(OLA, "etter tidsavbrudd")
    relayed_once(service, world, "etter tidsavbrudd", timeout=60)
    # Kari's answer to Ola goes through the same faults, once.
    relay = next(m for m in tg.sent_to(KARI) if "etter brudd" in m.get("text", ""))
    tg.fail_next("sendMessage", status=502, times=1)
    tg.fail_next("sendMessage", retry_after=1)
    tg.user_sends(KARI, "svar etter feil", reply_to_message_id=relay["message_id"])
    wait_until(lambda: count_at(world, OLA, "svar etter feil"), 30, "the answer at Ola")
    service.settle(30)
    assert count_at(world, OLA, "svar etter feil") == 1


def test_it_sends_again_when_telegram_took_a_message_too_late_and_either_copy_can_be_answered(service, world):
    """Telegram took the relay but answered after PTB gave up: it is sent again, so Kari may see it twice
    (the in-flight rule), never more; and her answer to the first, late copy still reaches Ola."""
    tg = world.tg
    # Telegram keeps the first request long enough for the retry (after PTB's timeout and the back-off)
    # to arrive before it: the retry is the copy the service has a receipt for, the late one is not.
    tg.fail_next("sendMessage", status=200, delay=PTB_TIMEOUT + BACKOFF + 5)
    tg.user_sends(OLA, "sent fram")
    wait_until(lambda: count_at(world, KARI, "sent fram") == 2, 60, "both copies at Kari")
    service.settle(30)  # nothing left to send or to retry: no third copy can come
    assert count_at(world, KARI, "sent fram") == 2
    again, late = [m for m in tg.sent_to(KARI) if "sent fram" in m.get("text", "")]
    tg.user_sends(KARI, "svar på den første kopien", reply_to_message_id=late["message_id"])
    wait_until(lambda: count_at(world, OLA, "svar på den første kopien"), 15, "the answer at Ola")
    tg.user_sends(KARI, "svar på den andre kopien", reply_to_message_id=again["message_id"])
    wait_until(lambda: count_at(world, OLA, "svar på den andre kopien"), 15, "the answer at Ola")
    service.settle(15)
    assert count_at(world, OLA, "svar på den første kopien") == 1
    assert not any("Svar på en videresendt melding" in t for t in texts(tg.sent_to(KARI)))


def test_it_loses_no_update_when_get_updates_fails(service, world):
    tg = world.tg
    tg.user_sends(OLA, "før feilene")
    relayed_once(service, world, "før feilene")
    polls = len(tg.calls("getUpdates"))
    tg.fail_next("getUpdates", status=500, times=2)
    tg.fail_next("getUpdates", drop_connection=True)
    tg.fail_next("getUpdates", retry_after=2)
    for n in range(4):
        tg.user_sends(OLA, f"under feilene {n}")
        time.sleep(0.5)
    for n in range(4):
        relayed_once(service, world, f"under feilene {n}", timeout=60)
    assert len(tg.calls("getUpdates")) - polls >= 5  # the four failures were really met
    wait_until(lambda: tg.pending_updates() == [], 30, "every update confirmed")
    tg.user_sends(OLA, "etter feilene")
    relayed_once(service, world, "etter feilene")


def test_it_delays_but_never_loses_or_repeats_an_sms_when_twilio_fails(service, world):
    twilio = world.tw

    def relayed_by_sms_once(text: str, timeout: float = 30) -> None:
        wait_until(lambda: sms_count(world, PER_PHONE, text), timeout, f"{text!r} at Per")
        service.settle(timeout)
        assert sms_count(world, PER_PHONE, text) == 1

    twilio.fail_next("Messages", status=500, times=2)
    assert sms(service, world, SIRI_PHONE, "etter 500").status_code == 200
    relayed_by_sms_once("etter 500")
    twilio.fail_next("Messages", status=429, code=20429)
    assert sms(service, world, SIRI_PHONE, "etter 429").status_code == 200
    relayed_by_sms_once("etter 429")
    twilio.fail_next("Messages", drop_connection=True)
    assert sms(service, world, SIRI_PHONE, "etter brudd").status_code == 200
    relayed_by_sms_once("etter brudd")
    # Longer than the transport waits, then failing: tried again after the timeout, delivered once.
    twilio.fail_next("Messages", status=503, delay=TWILIO_TIMEOUT + 1)
    assert sms(service, world, SIRI_PHONE, "etter tidsavbrudd").status_code == 200
    relayed_by_sms_once("etter tidsavbrudd", timeout=60)
    # Per's answer to Siri meets a 500 too, and arrives once.
    tag = twilio.sms_to(PER_PHONE)[0].split()[0]
    twilio.fail_next("Messages", status=500)
    assert sms(service, world, PER_PHONE, f"{tag} svar til Siri").status_code == 200
    wait_until(lambda: sms_count(world, SIRI_PHONE, "svar til Siri"), 30, "the answer at Siri")
    service.settle(30)
    assert sms_count(world, SIRI_PHONE, "svar til Siri") == 1


def test_it_does_not_send_an_sms_twice_that_twilio_took_after_the_service_stopped_waiting(service, world):
    """Twilio answers only after the transport gave up (a slow success): the retry first asks Twilio what
    went to Per, finds the SMS and records it instead of sending it a second time."""
    # Twilio takes it just after the transport stopped waiting, and before the retry (a back-off later).
    world.tw.fail_next("Messages", status=200, delay=TWILIO_TIMEOUT + 0.2)
    assert sms(service, world, SIRI_PHONE, "sakte men sikkert").status_code == 200
    wait_until(lambda: sms_count(world, PER_PHONE, "sakte men sikkert"), 60, "Siri's SMS at Per")
    service.settle(60)
    assert sms_count(world, PER_PHONE, "sakte men sikkert") == 1
    assert "tettpa_sends_found_total 1" in httpx.get(f"{service.url}/metrics", timeout=5).text


def test_it_answers_by_sms_when_a_youth_has_blocked_the_bot_and_tells_the_worker(service, world):
    tg = world.tg
    tg.user_sends(OLA, "hei Kari")
    relayed_once(service, world, "hei Kari")
    relay = next(m for m in tg.sent_to(KARI) if "hei Kari" in m.get("text", ""))
    tg.block(OLA)
    before = send_attempts(world, OLA)
    tg.user_sends(KARI, "Ola, ring meg", reply_to_message_id=relay["message_id"])
    (answer,) = world.tw.wait_sms(OLA_PHONE, 1, timeout=20)
    assert answer["body"] == "Kari: Ola, ring meg"
    told = wait_until(lambda: [t for t in texts(tg.sent_to(KARI)) if "kom ikke fram" in t], 20, "Kari told")
    assert told == ["En melding til Ola Berg kom ikke fram på Telegram. Den er sendt på den andre kanalen."]
    service.settle(20)  # a retry would be a row still pending: a permanent error is not tried again
    assert send_attempts(world, OLA) - before == 1
    assert len(world.tw.sms_to(OLA_PHONE)) == 1


@pytest.mark.parametrize(("code", "why"), [(21211, "invalid number"), (21610, "opted out with STOP")])
def test_it_does_not_retry_an_sms_twilio_refuses_for_good_and_tells_the_worker(service, world, code, why):
    tg = world.tg
    assert sms(service, world, LISE_PHONE, f"hilsen Lise {code}").status_code == 200
    wait_until(lambda: count_at(world, KARI, f"hilsen Lise {code}"), 20, "Lise's SMS at Kari")
    relay = next(m for m in tg.sent_to(KARI) if f"hilsen Lise {code}" in m.get("text", ""))
    world.tw.fail_next("Messages", status=400, code=code)  # once: a retry would get through
    tg.user_sends(KARI, "takk for beskjed", reply_to_message_id=relay["message_id"])
    told = wait_until(lambda: [t for t in texts(tg.sent_to(KARI)) if "kom ikke fram" in t], 20, "Kari told")
    assert told == ["En melding til Lise Berg, forelder til Ola Berg kom ikke fram på SMS, og det finnes ingen "
                    "annen kanal. Ta kontakt på annen måte."], why
    service.settle(20)  # a retry would be a row still pending (its back-off is 2 s, 4 s ...): none is
    assert world.tw.sms_to(LISE_PHONE) == [], f"an SMS Twilio refused ({why}) was tried again"


def test_it_keeps_relaying_on_telegram_while_twilio_hangs(service, world):
    """A Twilio request that hangs (15 s until the transport gives up) must not hold up a Telegram relay
    to someone else: an acute message at night cannot wait for an SMS provider."""
    world.tw.fail_next("Messages", status=503, delay=TWILIO_TIMEOUT + 5)
    assert sms(service, world, SIRI_PHONE, "mens Twilio henger").status_code == 200
    wait_until(lambda: world.tw.faults_left("Messages") == 0, 15, "the relay to Per held at Twilio")
    hung_since = time.monotonic()
    world.tg.user_sends(OLA, "jeg vil ikke leve lenger")  # acute: both workers at once, whatever else is going on
    wait_until(lambda: count_at(world, KARI, "jeg vil ikke leve lenger"), 30, "the acute relay at Kari")
    assert time.monotonic() - hung_since < TWILIO_TIMEOUT - 2, "the relay waited for the hung Twilio request"
    assert sms_count(world, PER_PHONE, "mens Twilio henger") == 0  # still hanging: this came first
    wait_until(lambda: sms_count(world, PER_PHONE, "mens Twilio henger"), 60, "Siri's SMS at Per, later")
    service.settle(30)
    assert sms_count(world, PER_PHONE, "mens Twilio henger") == 1
