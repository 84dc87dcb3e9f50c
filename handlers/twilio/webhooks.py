"""Twilio's edge: signed webhooks in, TwiML out. Nothing is trusted before its signature is checked,
and the signature is checked against TETTPA_PUBLIC_URL, the address Twilio was given, never the one
a proxy in front of us shows in the request."""

from __future__ import annotations

import json
from datetime import datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, VoiceResponse

from bot import actions, calls, delivery
from bot.events import Incoming
from bot.i18n import say_language
from bot.phones import normalize_phone
from bot.service import Service
from bot.sms import receive_sms
from handlers.limits import TWILIO_FORM_BYTES, db_int, parse_form, read_capped
from models.people import by_phone

TWIML = "application/xml"
RECEIVED_AT = "_tettpa_received_at"  # added to a stored SMS form; no Twilio parameter starts with "_"


def _twiml(response) -> Response:
    return Response(str(response), media_type=TWIML)


async def _signed_form(request: Request) -> dict | None:
    """The form, if its X-Twilio-Signature is valid for {PUBLIC_URL}{path}[?query]; else None."""
    runtime = request.app.state.runtime
    settings = runtime.service.settings
    if not settings.twilio_auth_token:
        return None
    # Read with a cap before anything is parsed (BodyRefused: 413, also for multipart); a chunked body
    # has no Content-Length to check first.
    body = await read_capped(request, TWILIO_FORM_BYTES)
    try:
        form = {k: v for k, v in parse_form(body).multi_items()}
    except ValueError:
        return None  # not a form Twilio sends, so not one it signed
    url = f"{settings.public_url}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    signature = request.headers.get("x-twilio-signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        return None
    return form


def _phone(form: dict, field: str) -> str:
    """The E.164 number in a form field, or "" for a number we could never answer (withheld, odd)."""
    try:
        return normalize_phone(form.get(field, ""))
    except ValueError:
        return ""


MAX_CALL_SECONDS = 7 * 24 * 3600  # far beyond Twilio's 24-hour call limit; more is not a duration


def _seconds(value: str | None) -> int | None:
    """A duration field (DialCallDuration, CallDuration): whole seconds, or None when absent or odd (a
    number too large for the database would otherwise fail the handling, and be retried, for ever)."""
    seconds = db_int(value)
    return seconds if seconds is not None and seconds <= MAX_CALL_SECONDS else None


def _call_reference(request: Request) -> tuple[int, int] | None:
    """The call and step our own action URLs carry (?call=..&step=..)."""
    call, step = db_int(request.query_params.get("call")), db_int(request.query_params.get("step"))
    return None if call is None or step is None else (call, step)


def _forbidden() -> Response:
    return PlainTextResponse("forbidden", status_code=403)


async def sms_webhook(request: Request) -> Response:
    """An SMS to the service number: stored (once per MessageSid) before Twilio gets its 200."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid or not form.get("From"):
        return PlainTextResponse("missing MessageSid or From", status_code=400)
    runtime = request.app.state.runtime
    service = runtime.service
    # The arrival time goes with the form: it is when the person wrote, however late it is handled.
    payload = json.dumps({**form, RECEIVED_AT: service.now().isoformat()})
    runtime.intake.hand(await service.write(lambda session: runtime.intake.store(
        session, source="sms", key=f"sms:{sid}", payload=payload)))
    return _twiml(MessagingResponse())


async def status_webhook(request: Request) -> Response:
    """Delivery status of an SMS or the end of a call."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    sid = form.get("MessageSid") or form.get("CallSid")
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not sid:
        return PlainTextResponse("missing sid", status_code=400)
    runtime = request.app.state.runtime
    service = runtime.service
    runtime.intake.hand(await service.write(lambda session: runtime.intake.store(
        session, source="status", key=f"status:{sid}:{status}", payload=json.dumps(form))))
    return PlainTextResponse("")


def _ring_or_say(request: Request, decision) -> Response:
    settings = request.app.state.runtime.service.settings
    response = VoiceResponse()
    if isinstance(decision, calls.Ring):
        base = f"{settings.public_url}/twilio/voice"
        dial = Dial(caller_id=settings.twilio_number, timeout=20, answer_on_bridge=True,
                    action=f"{base}/dial?call={decision.call_id}&step={decision.step}", method="POST")
        dial.number(decision.phone, url=f"{base}/whisper?call={decision.call_id}&step={decision.step}",
                    method="POST")
        response.append(dial)
    elif isinstance(decision, calls.Say):
        response.say(decision.text, language=say_language(decision.language))
        response.hangup()
    return _twiml(response)


async def voice_webhook(request: Request) -> Response:
    """A call to the service number: ring the responsible worker, showing the service number."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    service: Service = request.app.state.runtime.service
    caller = _phone(form, "From")
    decision = await service.write(lambda session: calls.incoming_call(service, session, sid=form.get("CallSid", ""),
                                                                       caller=caller))
    return _ring_or_say(request, decision)


async def voice_dial(request: Request) -> Response:
    """The result of ringing one worker: done, or ring the next, or the greeting."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    service: Service = request.app.state.runtime.service
    reference = _call_reference(request)
    if reference is None:
        return PlainTextResponse("bad call reference", status_code=400)
    call_id, step = reference
    duration = form.get("DialCallDuration")
    decision = await service.write(lambda session: calls.dial_result(
        service, session, call_id=call_id, step=step, status=form.get("DialCallStatus", ""),
        duration=_seconds(duration)))
    if decision is None:
        response = VoiceResponse()
        response.hangup()
        return _twiml(response)
    return _ring_or_say(request, decision)


async def voice_whisper(request: Request) -> Response:
    """Said to the worker before the call is put through: who is calling."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    service: Service = request.app.state.runtime.service
    reference = _call_reference(request)
    if reference is None:
        return PlainTextResponse("bad call reference", status_code=400)
    call_id, step = reference
    whisper = await service.write(lambda session: calls.whisper(service, session, call_id=call_id, step=step))
    response = VoiceResponse()
    if whisper:
        response.say(whisper.text, language=say_language(whisper.language))
    return _twiml(response)


async def voice_gather(request: Request) -> Response:
    """A key pressed on a call we made (a wake-up's "press 1"): perform the action it names."""
    form = await _signed_form(request)
    if form is None:
        return _forbidden()
    service: Service = request.app.state.runtime.service
    ref = request.query_params.get("ref", "")
    response = VoiceResponse()
    called = _phone(form, "To")

    def work(session) -> tuple[str | None, str]:
        people = by_phone(session, phone=called) if called else []
        person = next((p for p in people if not p.is_staff), people[0] if people else None)
        answer = actions.perform(service, session, person, ref) if person and form.get("Digits") else None
        return answer, person.language if person else "nb"

    answer, language = await service.write(work)
    if answer:
        response.say(answer, language=say_language(language))
    response.hangup()
    return _twiml(response)


def _received_at(form: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(form[RECEIVED_AT])
    except (KeyError, TypeError, ValueError):
        return None


def sms_dispatcher(service: Service):
    """Handle a stored inbound SMS."""

    async def dispatch(form: dict) -> bool:
        sender = _phone(form, "From")
        if not sender:
            return True  # no number we could ever answer: nothing to do
        sid = form.get("MessageSid") or form.get("SmsSid")
        inc = Incoming(source_key=f"sms:{sid}", channel="sms", address=sender, text=form.get("Body", ""),
                       sent_at=_received_at(form))
        await service.write(lambda session: receive_sms(service, session, inc))
        return True

    return dispatch


def status_dispatcher(service: Service):
    """Handle a stored status callback: message delivery, or a call's end."""

    def work(session, form: dict) -> None:
        if form.get("MessageSid"):
            delivery.delivery_status(service, session, sid=form["MessageSid"],
                                     status=form.get("MessageStatus", ""), error_code=form.get("ErrorCode"),
                                     to=form.get("To") or "")  # no number: matches no send
        elif form.get("CallSid"):
            duration = form.get("CallDuration")
            calls.call_ended(service, session, sid=form["CallSid"], duration=_seconds(duration))

    async def dispatch(form: dict) -> bool:
        await service.write(work, form)  # wakes the outbox after it committed
        return True

    return dispatch


routes = [
    Route("/twilio/sms", sms_webhook, methods=["POST"]),
    Route("/twilio/status", status_webhook, methods=["POST"]),
    Route("/twilio/voice", voice_webhook, methods=["POST"]),
    Route("/twilio/voice/dial", voice_dial, methods=["POST"]),
    Route("/twilio/voice/whisper", voice_whisper, methods=["POST"]),
    Route("/twilio/voice/gather", voice_gather, methods=["POST"]),
]
