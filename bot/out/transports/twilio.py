"""SMS and calls through the twilio library; Twilio's error codes mapped to TransportError.

The twilio client is synchronous (requests), so each call runs in a worker thread and never blocks
the event loop that also serves webhooks and Telegram.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.i18n import say_language
from bot.out.transports.base import Outgoing, Receipt, TransportError
from bot.settings import Settings
from bot.sms_text import gsm_safe

# Errors no retry can fix: the number is wrong, not a mobile, unsubscribed (STOP), or not allowed.
PERMANENT_CODES = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21217: "phone number does not appear to be valid",
    21408: "sending to this region is not enabled",
    21606: "'From' number cannot send SMS",
    21610: "recipient has opted out (STOP)",
    21612: "cannot route to this number",
    21614: "'To' number is not a mobile number",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
}
TIMEOUT = 15  # seconds; the twilio client waits forever by default (TETTPA_TWILIO_TIMEOUT's default)
# Newest first: a lost send is among the last few to its number.
LOOKUP_LIMIT = 20

def _timeout(settings: Settings) -> float:
    timeout = getattr(settings, "twilio_timeout", None)
    return timeout.total_seconds() if timeout is not None else TIMEOUT


def make_client(settings: Settings) -> Client:
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=_timeout(settings)))
    # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host of a configured API URL.
    client.edge = client.region = None
    client.api.base_url = settings.twilio_api_url
    return client


def _error(exc: Exception) -> TransportError:
    if isinstance(exc, TwilioRestException):
        if exc.code in PERMANENT_CODES:
            return TransportError(f"twilio {exc.code}: {PERMANENT_CODES[exc.code]}", permanent=True)
        if exc.status == 429 or exc.status >= 500 or exc.status == 401:
            return TransportError(f"twilio {exc.status} ({exc.code})")
        # Any other 4xx is a request Twilio will refuse the same way next time.
        return TransportError(f"twilio {exc.status} ({exc.code})", permanent=True)
    if isinstance(exc, requests.RequestException):
        return TransportError(f"twilio unreachable: {type(exc).__name__}")
    return TransportError(f"twilio: {type(exc).__name__}")


class SmsTransport:
    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self.settings = settings

    async def send(self, out: Outgoing) -> Receipt:
        body = gsm_safe(out.text or "")  # outside the request: an error here must not look like an answer

        def create():
            return self.client.messages.create(
                to=out.address, from_=self.settings.twilio_number, body=body,
                status_callback=f"{self.settings.public_url}/twilio/status",
            )

        try:
            message = await asyncio.to_thread(create)
        except Exception as exc:
            if _answered(exc):
                return Receipt(None)  # Twilio said 2xx but its answer could not be read: it has the message
            raise _error(exc) from None
        return Receipt(message.sid)

    def _ours(self, out: Outgoing, *fields) -> bool:
        return _matches(out, self.settings.twilio_number, *fields)

    async def lookup(self, out: Outgoing, since: datetime) -> list[str]:
        """Ids of messages with this text to this number created since `since`, newest first."""
        body = gsm_safe(out.text or "")

        def find():
            return [m.sid for m in self.client.messages.list(to=out.address, from_=self.settings.twilio_number,
                                                             limit=LOOKUP_LIMIT)
                    if m.body == body and self._ours(out, m.to, m.from_, m.direction, m.status, m.date_created,
                                                     since)]

        try:
            return await asyncio.to_thread(find)
        except Exception as exc:
            raise _error(exc) from None


def call_twiml(out: Outgoing, public_url: str) -> str:
    """What an outgoing call says; with a gather, pressing a key performs the named action."""
    language = say_language(out.extra.get("language"))
    response = VoiceResponse()
    gather_ref = out.extra.get("gather")
    if gather_ref:
        action = f"{public_url}/twilio/voice/gather?{urlencode({'ref': gather_ref})}"
        gather = Gather(num_digits=1, action=action, method="POST", timeout=8)
        gather.say(out.text or "", language=language)
        response.append(gather)
        # Nothing pressed: say it once more, then the call ends and the follow-up takes over.
        again = Gather(num_digits=1, action=action, method="POST", timeout=8)
        again.say(out.text or "", language=language)
        response.append(again)
    else:
        response.say(out.text or "", language=language)
    return str(response)


class VoiceTransport:
    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self.settings = settings

    async def send(self, out: Outgoing) -> Receipt:
        twiml = call_twiml(out, self.settings.public_url)

        def create():
            return self.client.calls.create(
                to=out.address, from_=self.settings.twilio_number, twiml=twiml,
                status_callback=f"{self.settings.public_url}/twilio/status",
            )

        try:
            call = await asyncio.to_thread(create)
        except Exception as exc:
            if _answered(exc):
                return Receipt(None)
            raise _error(exc) from None
        return Receipt(call.sid)

    def _ours(self, out: Outgoing, *fields) -> bool:
        return _matches(out, self.settings.twilio_number, *fields)

    async def lookup(self, out: Outgoing, since: datetime) -> list[str]:
        """Ids of calls to this number created since `since`, newest first (a call's words are not listed)."""
        def find():
            return [c.sid for c in self.client.calls.list(to=out.address, from_=self.settings.twilio_number,
                                                          limit=LOOKUP_LIMIT)
                    if self._ours(out, c.to, c._from, c.direction, c.status, c.date_created, since)]

        try:
            return await asyncio.to_thread(find)
        except Exception as exc:
            raise _error(exc) from None


# Records that prove nothing went out: Twilio could not send it, or it was cancelled before it rang.
NOT_SENT = {"failed", "canceled"}


def _matches(out: Outgoing, number: str | None, to, from_, direction, status, created, since: datetime) -> bool:
    """Whether a listed record is our send: the list's filters are not trusted, every field is checked."""
    return (to == out.address and from_ == number and str(direction or "").startswith("outbound")
            and str(status or "") not in NOT_SENT and _since(created, since))


def _since(created: datetime | None, since: datetime) -> bool:
    # A record without a date proves nothing about when it was made: not recent, so the send is made.
    return created is not None and created >= since


def _answered(exc: Exception) -> bool:
    """The request got a 2xx whose body could not be read (the client raised neither an HTTP nor a
    network error): the provider has the send, and it must not be made again."""
    return not isinstance(exc, TwilioRestException | requests.RequestException)
