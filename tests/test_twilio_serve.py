"""SMS and calls end to end: `tettpa serve` with the real twilio library against the Twilio stand-in,
and inbound webhooks signed the way Twilio signs them, over TETTPA_PUBLIC_URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from standins import twilio as tw
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.e2e import Deployment
from tests.reliability import wait_until

PUBLIC = "https://tettpa.example"  # what Twilio was told; the service listens on 127.0.0.1
SERVICE_NUMBER = "+4790000000"
OLA_PHONE, LISE_PHONE, KARI_PHONE, PER_PHONE = "+4741234567", "+4792345678", "+4793456789", "+4794567890"
KARI_TG = 501


@pytest.fixture
def twilio_api():
    stand_in = tw.TwilioStandIn(numbers=(SERVICE_NUMBER,))
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == [], "the service made requests the real Twilio API would refuse"


@pytest.fixture
def telegram():
    stand_in = TelegramStandIn(token="424242:E2E-TOKEN")
    stand_in.add_user(KARI_TG, "Kari")
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == []


@pytest.fixture
def service(tmp_path, database_url, twilio_api, telegram):
    d = Deployment(tmp_path, database_url, telegram, telegram.url, public_url=PUBLIC,
                   twilio_account_sid=twilio_api.account_sid, twilio_auth_token=twilio_api.auth_token,
                   twilio_number=SERVICE_NUMBER, twilio_api_url=twilio_api.url)
    # Status callbacks go to the public URL; the stand-in reaches the service on its local one.
    twilio_api.callback_rewrite = lambda url: url.replace(PUBLIC, d.url)
    kari = d.add("worker", "add", "--name", "Kari Nordmann", "--phone", KARI_PHONE)
    per = d.add("worker", "add", "--name", "Per Hansen", "--phone", PER_PHONE)
    d.people = {
        "kari": kari, "per": per,
        "ola": d.add("youth", "add", "--name", "Ola Berg", "--phone", OLA_PHONE, "--primary", str(kari["id"]),
                     "--secondary", str(per["id"])),
    }
    d.people["lise"] = d.add("parent", "add", "--youth", str(d.people["ola"]["id"]), "--name", "Lise Berg",
                             "--phone", LISE_PHONE, "--language", "en")
    d.start()
    yield d
    d.stop()


def sms(d: Deployment, twilio_api, from_: str, body: str, sid: str | None = None, **kw) -> httpx.Response:
    return tw.inbound_sms(f"{d.url}/twilio/sms", f"{PUBLIC}/twilio/sms", twilio_api.auth_token,
                          from_=from_, to=SERVICE_NUMBER, body=body, message_sid=sid,
                          account_sid=twilio_api.account_sid, **kw)


def test_it_refuses_forged_and_unsigned_webhooks_and_changes_nothing(service, twilio_api):
    params = {"MessageSid": "SM" + "0" * 32, "From": OLA_PHONE, "To": SERVICE_NUMBER, "Body": "hei"}
    assert httpx.post(f"{service.url}/twilio/sms", data=params).status_code == 403
    forged = tw.signed_post(f"{service.url}/twilio/sms", f"{PUBLIC}/twilio/sms", params, twilio_api.auth_token,
                            signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    # Signed for the URL the request really reached, not the public one: also refused.
    local = tw.signed_post(f"{service.url}/twilio/sms", f"{service.url}/twilio/sms", params, twilio_api.auth_token)
    assert local.status_code == 403
    for path in ("status", "voice", "voice/dial?call=1&step=0", "voice/gather?ref=x"):
        assert httpx.post(f"{service.url}/twilio/{path}", data=params).status_code == 403
    service.settle()  # refused before anything was stored: nothing is queued
    assert twilio_api.messages == []
    assert service.cli("log", "export", "--format", "json").stdout.strip() == '{"entries": []}'


def test_it_relays_an_sms_once_and_the_workers_sms_answer_goes_back(service, twilio_api):
    response = sms(service, twilio_api, OLA_PHONE, "Hei, kan du ringe meg?", sid="SM" + "1" * 32)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    ET.fromstring(response.text)  # TwiML
    sms(service, twilio_api, OLA_PHONE, "Hei, kan du ringe meg?", sid="SM" + "1" * 32)  # Twilio retried
    (relay,) = twilio_api.wait_sms(KARI_PHONE, 1)
    assert relay["body"].startswith("#1 ") and "Ola Berg" in relay["body"] and "kan du ringe meg" in relay["body"]
    assert relay["from_"] == SERVICE_NUMBER
    sms(service, twilio_api, KARI_PHONE, "Ja, om fem minutter")  # untagged: the last conversation
    (answer,) = twilio_api.wait_sms(OLA_PHONE, 1)
    assert answer["body"] == "Kari: Ja, om fem minutter" and answer["from_"] == SERVICE_NUMBER
    service.settle()  # Twilio's retry was the same MessageSid, stored once: no second relay is queued
    assert len(twilio_api.sms_to(KARI_PHONE)) == 1


def test_it_asks_the_worker_for_a_tag_when_two_conversations_wait(service, twilio_api):
    sms(service, twilio_api, OLA_PHONE, "melding fra Ola")
    sms(service, twilio_api, LISE_PHONE, "message from Lise")
    twilio_api.wait_sms(KARI_PHONE, 2)
    service.settle()
    sms(service, twilio_api, KARI_PHONE, "hvem får dette?")
    hint = twilio_api.wait_sms(KARI_PHONE, 3)[2]["body"]
    assert "#1" in hint and "#2" in hint and "ble ikke sendt" in hint
    assert twilio_api.sms_to(OLA_PHONE) == [] and twilio_api.sms_to(LISE_PHONE) == []
    sms(service, twilio_api, KARI_PHONE, "#2 Takk, Lise!")
    assert twilio_api.wait_sms(LISE_PHONE, 1)[0]["body"] == "Kari: Takk, Lise!"


def test_it_retries_after_a_twilio_500_and_stops_on_a_permanent_error(service, twilio_api, telegram):
    twilio_api.fail_next("Messages", status=500)
    sms(service, twilio_api, OLA_PHONE, "første")
    assert "første" in twilio_api.wait_sms(KARI_PHONE, 1, timeout=10)[0]["body"]
    twilio_api.fail_next("Messages", status=400, code=21211, times=5)
    sms(service, twilio_api, KARI_PHONE, "#1 svar som ikke kommer fram")
    # Logged in the transaction that queued the answer; then the queue empties: refused for good, no retry.
    wait_until(lambda: "svar som ikke kommer fram" in service.cli("log", "export", "--format", "json").stdout,
               30, "the answer in the log")
    service.settle()
    assert twilio_api.sms_to(OLA_PHONE) == []


def test_it_stops_and_starts_sms_on_stop_and_start(service, twilio_api):
    sms(service, twilio_api, OLA_PHONE, "STOPP")
    (confirmation,) = twilio_api.wait_sms(OLA_PHONE, 1)
    assert "START" in confirmation["body"]
    sms(service, twilio_api, OLA_PHONE, "stop")
    told = twilio_api.wait_sms(KARI_PHONE, 1)[0]["body"]
    assert "STOP" in told and "Ola Berg" in told
    sms(service, twilio_api, KARI_PHONE, "#1 hei Ola")
    service.settle()  # Kari's answer handled and nothing left to send
    assert len(twilio_api.sms_to(OLA_PHONE)) == 1  # nothing after STOP, and STOP confirmed once
    sms(service, twilio_api, OLA_PHONE, "START")
    assert "igjen" in twilio_api.wait_sms(OLA_PHONE, 2)[1]["body"]
    log = service.cli("log", "export", "--format", "json").stdout
    assert log.count('"opt_out"') == 2


def test_it_puts_a_call_through_to_the_primary_then_the_secondary(service, twilio_api):
    voice = f"{service.url}/twilio/voice"
    answer = tw.inbound_call(voice, f"{PUBLIC}/twilio/voice", twilio_api.auth_token, from_=OLA_PHONE,
                             to=SERVICE_NUMBER, call_sid="CA" + "1" * 32, account_sid=twilio_api.account_sid)
    assert answer.status_code == 200
    dial = ET.fromstring(answer.text).find("Dial")
    assert dial.get("callerId") == SERVICE_NUMBER and dial.find("Number").text == KARI_PHONE
    whisper_url = dial.find("Number").get("url")
    whisper = tw.signed_post(whisper_url.replace(PUBLIC, service.url), whisper_url, {"CallSid": "CA" + "1" * 32},
                             twilio_api.auth_token)
    assert "Ola Berg" in ET.fromstring(whisper.text).find("Say").text
    action = dial.get("action")
    nobody = tw.signed_post(action.replace(PUBLIC, service.url), action,
                            {"CallSid": "CA" + "1" * 32, "DialCallStatus": "no-answer"}, twilio_api.auth_token)
    dial2 = ET.fromstring(nobody.text).find("Dial")
    assert dial2.find("Number").text == PER_PHONE
    action2 = dial2.get("action")
    done = tw.signed_post(action2.replace(PUBLIC, service.url), action2,
                          {"CallSid": "CA" + "1" * 32, "DialCallStatus": "completed", "DialCallDuration": "95"},
                          twilio_api.auth_token)
    assert ET.fromstring(done.text).find("Hangup") is not None
    entries = __import__("json").loads(service.cli("log", "export", "--format", "json").stdout)["entries"]
    (call,) = [e for e in entries if e["kind"] == "call"]
    assert call["channel"] == "call" and call["party"] == "youth" and call["worker_id"] == service.people["per"]["id"]
    assert "1 minutt 35 sekunder" in call["text"]


def test_it_greets_the_caller_and_tells_the_worker_when_nobody_answers(service, twilio_api, telegram):
    telegram.user_sends(KARI_TG, f"/start {service.people['kari']['invite_code']}")
    telegram.wait_sent(KARI_TG, 1)
    sid = "CA" + "2" * 32
    answer = tw.inbound_call(f"{service.url}/twilio/voice", f"{PUBLIC}/twilio/voice", twilio_api.auth_token,
                             from_=LISE_PHONE, to=SERVICE_NUMBER, call_sid=sid, account_sid=twilio_api.account_sid)
    for _ in range(2):
        action = ET.fromstring(answer.text).find("Dial").get("action")
        answer = tw.signed_post(action.replace(PUBLIC, service.url), action,
                                {"CallSid": sid, "DialCallStatus": "busy"}, twilio_api.auth_token)
    say = ET.fromstring(answer.text).find("Say")
    assert say.get("language") == "en-GB" and "113" in say.text
    told = telegram.wait_sent(KARI_TG, 2)[1]["text"]
    assert "Lise Berg" in told and "ingen svarte" in told
    assert '"Ubesvart anrop"' in service.cli("log", "export", "--format", "json").stdout


def test_it_tells_an_unknown_caller_what_this_is(service, twilio_api):
    answer = tw.inbound_call(f"{service.url}/twilio/voice", f"{PUBLIC}/twilio/voice", twilio_api.auth_token,
                             from_="+4799999999", to=SERVICE_NUMBER, account_sid=twilio_api.account_sid)
    root = ET.fromstring(answer.text)
    assert root.find("Dial") is None and "113" in root.find("Say").text


def test_it_tells_the_worker_when_an_sms_to_the_youth_was_not_delivered(service, twilio_api, telegram):
    telegram.user_sends(KARI_TG, f"/start {service.people['kari']['invite_code']}")
    telegram.wait_sent(KARI_TG, 1)
    sms(service, twilio_api, OLA_PHONE, "hei")
    relay = telegram.wait_sent(KARI_TG, 2)[1]
    telegram.user_sends(KARI_TG, "hei tilbake", reply_to_message_id=relay["message_id"])
    (answer,) = twilio_api.wait_sms(OLA_PHONE, 1)
    service.settle()
    assert twilio_api.deliver(answer["sid"], "undelivered", error_code=30005).status_code == 200
    told = telegram.wait_sent(KARI_TG, 3)[2]["text"]
    assert "Ola Berg" in told and "kom ikke fram" in told
