"""The Twilio stand-in, driven by the real twilio library over real HTTP."""

from __future__ import annotations

import json
import re
import threading
import time
from urllib.parse import parse_qsl

import httpx
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from standins.server import BackgroundServer
from standins.twilio import (
    API_VERSION,
    SPEC_PATH,
    TwilioStandIn,
    ainbound_sms,
    asigned_post,
    inbound_call,
    inbound_sms,
    signed_post,
    sms_encoding,
    sms_segments,
)

SERVICE_NUMBER = "+4790000000"
YOUTH = "+4791234567"
PUBLIC = "https://tettpa.example"


@pytest.fixture
def standin() -> TwilioStandIn:
    return TwilioStandIn(numbers=(SERVICE_NUMBER,))


@pytest.fixture
def server(standin):
    with BackgroundServer(standin.app) as server:
        yield server


def make_client(
    standin: TwilioStandIn, base_url: str, *, token: str | None = None, timeout: float = 5.0
) -> Client:
    # Without an explicit timeout the twilio library waits forever on a silent server.
    client = Client(
        standin.account_sid, token or standin.auth_token, http_client=TwilioHttpClient(timeout=timeout)
    )
    client.api.base_url = base_url
    return client


@pytest.fixture
def client(standin, server, monkeypatch) -> Client:
    # With TWILIO_EDGE/TWILIO_REGION set, the library rewrites the host name of every request
    # ("127.0.0.1" would become "127.<edge>.0.0.1"), so keep them out of these tests.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    return make_client(standin, server.url)


class Receiver:
    """The service side of a webhook: records requests and validates them as the product would."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.requests: list[dict] = []
        self.public_base: str | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if self.public_base is not None:
            url = self.public_base + request.url.path
        else:
            url = str(request.url)
        valid = self.validator.validate(url, params, request.headers.get("X-Twilio-Signature", ""))
        self.requests.append(
            {
                "method": request.method,
                "url": url,
                "params": params,
                "signature": request.headers.get("X-Twilio-Signature"),
                "valid": valid,
            }
        )
        return PlainTextResponse("ok" if valid else "forged", status_code=200 if valid else 403)


@pytest.fixture
def receiver(standin):
    receiver = Receiver(standin.auth_token)
    with BackgroundServer(receiver.app) as server:
        receiver.url = server.url
        yield receiver


def api_url(base: str, standin: TwilioStandIn, resource: str) -> str:
    return f"{base}/{API_VERSION}/Accounts/{standin.account_sid}/{resource}"


# -- messages ----------------------------------------------------------------------------------


def test_it_records_an_sms_sent_by_the_twilio_client(standin, client):
    message = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei! Vi ses på torsdag.")

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert message.from_ == SERVICE_NUMBER
    assert message.num_segments == "1"
    assert message.direction == "outbound-api"
    assert message.date_created is not None  # parsed by the library from RFC 2822
    assert standin.sms_to(YOUTH) == ["Hei! Vi ses på torsdag."]
    assert standin.messages[0]["encoding"] == "GSM-7"
    assert standin.violations == []


def test_it_fetches_a_created_message(client):
    created = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    fetched = client.messages(created.sid).fetch()

    assert (fetched.sid, fetched.body, fetched.to) == (created.sid, "Hei", YOUTH)


def test_it_answers_with_exactly_the_spec_resource_fields(standin, server):
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    message_schema = spec["components"]["schemas"]["api.v2010.account.message"]

    response = httpx.post(
        api_url(server.url, standin, "Messages.json"),
        data={"To": YOUTH, "From": SERVICE_NUMBER, "Body": "Hei"},
        auth=(standin.account_sid, standin.auth_token),
    )

    assert response.status_code == 201
    assert set(response.json()) == set(message_schema["properties"])
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", response.json()["date_created"])


def test_it_answers_404_for_an_unknown_message(standin, client):
    with pytest.raises(TwilioRestException) as caught:
        client.messages("SM" + "0" * 32).fetch()

    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_it_waits_for_an_sms_sent_from_another_thread(standin, client):
    def send_later():
        time.sleep(0.2)
        client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Sent late")

    threading.Thread(target=send_later, daemon=True).start()

    assert [message["body"] for message in standin.wait_sms(YOUTH, timeout=5)] == ["Sent late"]


def test_it_lists_what_exists_when_waiting_for_an_sms_times_out(standin, client):
    client.messages.create(to="+4798765432", from_=SERVICE_NUMBER, body="To someone else")

    with pytest.raises(AssertionError, match=r"(?s)found 0.*\+4798765432: 'To someone else'"):
        standin.wait_sms(YOUTH, timeout=0.2)


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("æøå" * 102, "GSM-7", 2),  # 306 septets: Norwegian letters stay in GSM-7
        ("æøå" * 102 + "a", "GSM-7", 3),
        # 306 septets would fit two parts, but the escape pair may not straddle them.
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets each
        ("€" * 81, "GSM-7", 2),
        ("😀" + "a" * 68, "UCS-2", 1),  # one emoji is two UTF-16 units and forces UCS-2
        ("é" * 69 + "😀", "UCS-2", 2),
        ("ä" * 69 + "ł", "UCS-2", 1),
        ("ł" * 134, "UCS-2", 2),
        ("ł" * 135, "UCS-2", 3),
    ],
)
def test_it_counts_segments_like_twilio(body, encoding, segments):
    assert (sms_encoding(body), sms_segments(body)) == (encoding, segments)


def test_it_reports_multipart_unicode_segments_to_the_client(client):
    message = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei 👋 " * 20)

    assert message.num_segments == "3"  # 140 UTF-16 units at 67 per part


# -- calls -------------------------------------------------------------------------------------


def test_it_creates_a_call_with_twiml(standin, client):
    twiml = VoiceResponse()
    twiml.say("Du har en ny melding i Tett på.", language="nb-NO")

    call = client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, twiml=twiml)

    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert call.status == "queued"
    recorded = standin.wait_call(YOUTH)[0]
    assert '<Say language="nb-NO">Du har en ny melding i Tett på.</Say>' in recorded["twiml"]
    assert recorded["from_"] == SERVICE_NUMBER
    assert standin.violations == []


def test_it_updates_a_call_with_new_twiml_then_hangs_up(standin, client):
    call = client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, url=f"{PUBLIC}/twilio/voice")

    client.calls(call.sid).update(twiml="<Response><Hangup/></Response>")
    ended = client.calls(call.sid).update(status="completed")

    assert ended.status == "completed"
    recorded = standin.calls[0]
    assert recorded["twiml"] == "<Response><Hangup/></Response>" and recorded["url"] is None
    assert recorded["updates"] == [
        {"Twiml": "<Response><Hangup/></Response>"},
        {"Status": "completed"},
    ]
    assert client.calls(call.sid).fetch().status == "completed"


def test_it_refuses_to_redirect_a_finished_call(standin, client):
    call = client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, url=f"{PUBLIC}/twilio/voice")
    client.calls(call.sid).update(status="completed")

    with pytest.raises(TwilioRestException) as caught:
        client.calls(call.sid).update(twiml="<Response><Say>Hei</Say></Response>")

    assert caught.value.code == 21220


def test_it_refuses_a_call_without_instructions_or_with_broken_twiml(standin, client):
    with pytest.raises(TwilioRestException) as missing:
        client.calls.create(to=YOUTH, from_=SERVICE_NUMBER)
    with pytest.raises(TwilioRestException) as broken:
        client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, twiml="<Response><Say>unclosed</Response>")

    assert (missing.value.code, broken.value.code) == (21205, 12100)
    assert len(standin.violations) == 2 and standin.calls == []


def test_it_sends_a_signed_call_status_callback(standin, client, receiver):
    call = client.calls.create(
        to=YOUTH,
        from_=SERVICE_NUMBER,
        twiml="<Response><Say>Hei</Say></Response>",
        status_callback=f"{receiver.url}/twilio/call-status",
    )

    response = standin.progress_call(call.sid, "no-answer")

    assert response.status_code == 200
    [request] = receiver.requests
    assert request["valid"]
    assert request["params"]["CallStatus"] == "no-answer"
    assert request["params"]["CallSid"] == call.sid
    assert client.calls(call.sid).fetch().status == "no-answer"


# -- faults ------------------------------------------------------------------------------------


def test_it_makes_the_client_raise_an_injected_twilio_error(standin, client):
    standin.fail_next(status=400, code=21211)

    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert "Invalid 'To' Phone Number" in caught.value.msg
    # The fault is used up, and a refused message is never recorded as sent.
    assert standin.sms_to(YOUTH) == []
    client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei igjen")
    assert standin.sms_to(YOUTH) == ["Hei igjen"]
    assert standin.violations == []


def test_it_makes_the_client_raise_for_a_server_error(standin, client):
    standin.fail_next(status=500)

    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    assert (caught.value.status, caught.value.code) == (500, 20500)


def test_it_repeats_a_fault_and_keeps_kinds_apart(standin, client):
    standin.fail_next(status=429, times=2)
    standin.fail_next("Calls", status=400, code=21610)

    codes = []
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")
        codes.append((caught.value.status, caught.value.code))
    client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")
    with pytest.raises(TwilioRestException) as call_error:
        client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, url=f"{PUBLIC}/twilio/voice")

    assert codes == [(429, 20429), (429, 20429)]
    assert call_error.value.code == 21610
    assert len(standin.messages) == 1 and standin.calls == []


def test_it_outlasts_the_client_timeout_with_a_delay(standin, server):
    impatient = make_client(standin, server.url, timeout=0.2)
    standin.fail_next(delay=0.6)

    with pytest.raises(requests.exceptions.Timeout):
        impatient.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")


def test_it_answers_slowly_but_successfully_with_a_delayed_2xx_fault(standin, client):
    standin.fail_next(status=201, delay=0.3)
    started = time.monotonic()

    client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    assert time.monotonic() - started >= 0.3
    assert standin.sms_to(YOUTH) == ["Hei"]


def test_it_drops_the_connection(standin, client):
    standin.fail_next(drop_connection=True)

    with pytest.raises(requests.exceptions.RequestException):
        client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    assert standin.messages == []


# -- strictness --------------------------------------------------------------------------------


def test_it_refuses_and_records_an_unknown_field(standin, server):
    response = httpx.post(
        api_url(server.url, standin, "Messages.json"),
        data={"To": YOUTH, "From": SERVICE_NUMBER, "Body": "Hei", "Bodi": "typo"},
        auth=(standin.account_sid, standin.auth_token),
    )

    assert response.status_code == 400
    assert response.json()["code"] == 20001
    assert set(response.json()) == {"code", "message", "more_info", "status"}
    assert standin.messages == []
    assert len(standin.violations) == 1 and "'Bodi'" in standin.violations[0]


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        ({"From": SERVICE_NUMBER, "Body": "Hei"}, 21604, "'To'"),
        ({"To": YOUTH, "From": SERVICE_NUMBER}, 21619, "body or media"),
        ({"To": YOUTH, "From": "+4711111111", "Body": "Hei"}, 21606, "+4711111111"),
        ({"To": YOUTH, "Body": "Hei"}, 21603, "From"),
        ({"To": "91234567", "From": SERVICE_NUMBER, "Body": "Hei"}, 21211, "E.164"),
        ({"To": YOUTH, "From": SERVICE_NUMBER, "Body": "Hei", "ContentRetention": "keep"}, 20001, "'keep'"),
        (
            {"To": YOUTH, "From": SERVICE_NUMBER, "Body": "Hei", "StatusCallback": "/twilio/status"},
            20001,
            "absolute",
        ),
        ({"To": YOUTH, "From": SERVICE_NUMBER, "Body": "x" * 1601}, 21617, "1600"),
    ],
)
def test_it_refuses_messages_twilio_would_refuse(standin, server, data, code, fragment):
    response = httpx.post(
        api_url(server.url, standin, "Messages.json"),
        data=data,
        auth=(standin.account_sid, standin.auth_token),
    )

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert fragment in standin.violations[0]
    assert standin.messages == []


def test_it_refuses_an_invalid_enum_value_from_the_client(standin, client):
    with pytest.raises(TwilioRestException) as caught:
        client.calls.create(
            to=YOUTH, from_=SERVICE_NUMBER, url=f"{PUBLIC}/twilio/voice", status_callback_method="PUT"
        )

    assert caught.value.status == 400
    assert "StatusCallbackMethod" in standin.violations[0]


def test_it_records_but_tolerates_schema_slips_when_not_strict():
    lenient = TwilioStandIn(strict=False)
    with BackgroundServer(lenient.app) as lenient_server:
        response = httpx.post(
            api_url(lenient_server.url, lenient, "Messages.json"),
            data={"To": YOUTH, "From": "+4790000000", "Body": "Hei", "Bodi": "typo"},
            auth=(lenient.account_sid, lenient.auth_token),
        )
        # Real Twilio refuses a message without a recipient, so leniency does not cover that.
        no_recipient = httpx.post(
            api_url(lenient_server.url, lenient, "Messages.json"),
            data={"From": "+4790000000", "Body": "Hei"},
            auth=(lenient.account_sid, lenient.auth_token),
        )

    assert response.status_code == 201
    assert lenient.sms_to(YOUTH) == ["Hei"]
    assert (no_recipient.status_code, no_recipient.json()["code"]) == (400, 21604)
    assert len(lenient.violations) == 2


def test_it_lists_messages_newest_first_filtered_by_to_and_from(standin, client):
    for body in ("første", "andre"):
        client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body=body)
    client.messages.create(to="+4791111111", from_=SERVICE_NUMBER, body="til en annen")

    listed = client.messages.list(to=YOUTH, from_=SERVICE_NUMBER, limit=20)
    paged = client.messages.list(to=YOUTH, page_size=1)

    assert [m.body for m in listed] == ["andre", "første"]
    assert [m.body for m in paged] == ["andre", "første"]  # followed next_page_uri
    assert standin.violations == []


def test_it_lists_calls_to_a_number(standin, client):
    client.calls.create(to=YOUTH, from_=SERVICE_NUMBER, twiml="<Response><Say>Hei</Say></Response>")

    assert [c.to for c in client.calls.list(to=YOUTH, from_=SERVICE_NUMBER, limit=5)] == [YOUTH]
    assert client.calls.list(to="+4791111111", limit=5) == []
    assert standin.violations == []


def test_it_refuses_an_unknown_list_filter(standin, server):
    response = httpx.get(
        api_url(server.url, standin, "Messages.json"), params={"Body": "x"},
        auth=(standin.account_sid, standin.auth_token),
    )

    assert response.status_code == 400
    assert "Unknown parameter 'Body'" in standin.violations[0]


def test_it_records_use_of_an_operation_it_does_not_implement(standin, server):
    response = httpx.get(
        api_url(server.url, standin, "Messages/SM123/Media.json"), auth=(standin.account_sid, standin.auth_token)
    )

    assert response.status_code == 405
    assert "not implemented" in standin.violations[0]


def test_it_answers_401_for_wrong_credentials(standin, server):
    intruder = make_client(standin, server.url, token="not-the-token")

    with pytest.raises(TwilioRestException) as caught:
        intruder.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")
    anonymous = httpx.post(api_url(server.url, standin, "Messages.json"), data={"To": YOUTH})

    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert standin.messages == []


# -- status callbacks --------------------------------------------------------------------------


def test_it_delivers_a_signed_status_callback(standin, client, receiver):
    callback = f"{receiver.url}/twilio/status?source=sms"
    message = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei", status_callback=callback)

    response = standin.deliver(message.sid, "undelivered", error_code=30003)

    assert response.status_code == 200
    [request] = receiver.requests
    assert request["url"] == callback
    assert RequestValidator(standin.auth_token).validate(callback, request["params"], request["signature"])
    assert request["params"]["MessageSid"] == message.sid
    assert request["params"]["MessageStatus"] == "undelivered"
    assert request["params"]["ErrorCode"] == "30003"
    assert request["params"]["To"] == YOUTH and request["params"]["From"] == SERVICE_NUMBER
    fetched = client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_it_signs_callbacks_over_the_public_url_while_posting_to_the_local_one(receiver):
    standin = TwilioStandIn(callback_rewrite=lambda url: url.replace(PUBLIC, receiver.url))
    receiver.public_base = PUBLIC
    with BackgroundServer(standin.app) as server:
        client = make_client(standin, server.url)
        message = client.messages.create(
            to=YOUTH, from_="+4790000000", body="Hei", status_callback=f"{PUBLIC}/twilio/status"
        )
        response = standin.deliver(message.sid)

    assert response.status_code == 200 and receiver.requests[0]["valid"]
    assert standin.messages[0]["status"] == "delivered"


def test_it_sends_no_callback_without_a_status_callback(standin, client):
    message = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Hei")

    assert standin.deliver(message.sid) is None
    assert standin.messages[0]["status"] == "delivered"


# -- webhooks to the service -------------------------------------------------------------------


def test_it_signs_webhooks_so_request_validator_accepts_them(standin, receiver):
    receiver.public_base = PUBLIC
    params = {"From": YOUTH, "To": SERVICE_NUMBER, "Body": "STOPP"}

    genuine = signed_post(f"{receiver.url}/twilio/sms", f"{PUBLIC}/twilio/sms", params, standin.auth_token)
    forged = signed_post(
        f"{receiver.url}/twilio/sms", f"{PUBLIC}/twilio/sms", params, standin.auth_token, signature="Zm9yZ2Vk"
    )
    wrong_key = signed_post(f"{receiver.url}/twilio/sms", f"{PUBLIC}/twilio/sms", params, "another-token")

    assert [genuine.status_code, forged.status_code, wrong_key.status_code] == [200, 403, 403]
    signature = RequestValidator(standin.auth_token).compute_signature(f"{PUBLIC}/twilio/sms", params)
    assert RequestValidator(standin.auth_token).validate(f"{PUBLIC}/twilio/sms", params, signature)


def test_it_sends_an_inbound_sms_webhook(standin, receiver):
    receiver.public_base = PUBLIC

    response = inbound_sms(
        f"{receiver.url}/twilio/sms",
        f"{PUBLIC}/twilio/sms",
        standin.auth_token,
        from_=YOUTH,
        to=SERVICE_NUMBER,
        body="Kan vi flytte møtet?",
        account_sid=standin.account_sid,
    )

    assert response.status_code == 200
    params = receiver.requests[0]["params"]
    assert receiver.requests[0]["valid"]
    assert params["Body"] == "Kan vi flytte møtet?"
    assert params["From"] == YOUTH and params["To"] == SERVICE_NUMBER
    assert params["AccountSid"] == standin.account_sid and params["NumMedia"] == "0"
    assert re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"]) and params["SmsSid"] == params["MessageSid"]


def test_it_sends_an_inbound_call_and_gather_webhook(standin, receiver):
    receiver.public_base = PUBLIC

    ringing = inbound_call(
        f"{receiver.url}/twilio/voice",
        f"{PUBLIC}/twilio/voice",
        standin.auth_token,
        from_=YOUTH,
        to=SERVICE_NUMBER,
    )
    call_sid = receiver.requests[0]["params"]["CallSid"]
    gathered = inbound_call(
        f"{receiver.url}/twilio/voice/gather",
        f"{PUBLIC}/twilio/voice/gather",
        standin.auth_token,
        from_=YOUTH,
        to=SERVICE_NUMBER,
        call_sid=call_sid,
        digits="1",
    )

    assert (ringing.status_code, gathered.status_code) == (200, 200)
    first, second = (request["params"] for request in receiver.requests)
    assert (first["CallStatus"], first["Direction"], "Digits" in first) == ("ringing", "inbound", False)
    assert (second["CallSid"], second["Digits"], second["CallStatus"]) == (call_sid, "1", "in-progress")


async def test_it_signs_webhooks_from_an_event_loop(standin, receiver):
    receiver.public_base = PUBLIC

    posted = await asigned_post(
        f"{receiver.url}/twilio/sms", f"{PUBLIC}/twilio/sms", {"Body": "Hei"}, standin.auth_token
    )
    sms = await ainbound_sms(
        f"{receiver.url}/twilio/sms",
        f"{PUBLIC}/twilio/sms",
        standin.auth_token,
        from_=YOUTH,
        to=SERVICE_NUMBER,
        body="Hei",
    )

    assert (posted.status_code, sms.status_code) == (200, 200)
    assert all(request["valid"] for request in receiver.requests)


# -- mounting inside the product's app ---------------------------------------------------------


def test_it_works_mounted_under_the_sandbox_prefix(standin):
    product = Starlette(routes=[Mount("/sandbox/twilio", app=standin.app)])
    with BackgroundServer(product) as server:
        client = make_client(standin, f"{server.url}/sandbox/twilio")
        message = client.messages.create(to=YOUTH, from_=SERVICE_NUMBER, body="Fra sandkassen")
        fetched = client.messages(message.sid).fetch()

    assert fetched.body == "Fra sandkassen"
    assert standin.violations == []


async def test_it_serves_requests_on_the_callers_event_loop(standin):
    product = Starlette(routes=[Mount("/sandbox/twilio", app=standin.app)])
    transport = httpx.ASGITransport(app=product)
    async with httpx.AsyncClient(transport=transport, base_url="http://tettpa.local") as http:
        response = await http.post(
            f"/sandbox/twilio/{API_VERSION}/Accounts/{standin.account_sid}/Messages.json",
            data={"To": YOUTH, "From": SERVICE_NUMBER, "Body": "I samme løkke"},
            auth=(standin.account_sid, standin.auth_token),
        )
        unknown = await http.get("/sandbox/twilio/nowhere", auth=(standin.account_sid, standin.auth_token))

    assert response.status_code == 201
    assert standin.sms_to(YOUTH) == ["I samme løkke"]
    assert unknown.status_code == 404 and "/nowhere" in standin.violations[0]
