"""Shared by the reliability tests (crash, faults, bad input, two processes): the Telegram and Twilio
stand-ins together, a `tettpa serve` wired to both, and a Twilio that keeps posting an inbound SMS until
the service has taken it (as Twilio's webhook retries do), always with the same MessageSid."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot import roster
from bot.service import Service
from models import crypto
from models.db import make_engine
from standins import twilio as tw
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.conftest import TEST_DATA_KEY, make_settings, migrate, wait_until  # noqa: F401 (wait_until: for the tests)
from tests.e2e import Deployment

PUBLIC = "https://tettpa.example"  # what Twilio was told; the service listens on 127.0.0.1
SERVICE_NUMBER = "+4790000000"
TOKEN = "424242:E2E-TOKEN"
SECRET = "e2e-secret-key-not-a-placeholder"  # what tests.e2e.Deployment gives the service


@dataclass
class Outside:
    """Telegram and Twilio as the service sees them, each served over HTTP on 127.0.0.1."""

    tg: TelegramStandIn
    tw: tw.TwilioStandIn


@contextmanager
def outside(users: dict[int, str] | None = None) -> Iterator[Outside]:
    telegram = TelegramStandIn(token=TOKEN, strict=True, bot_username="TettPaTestBot")
    for user_id, name in (users or {}).items():
        telegram.add_user(user_id, name, language_code="nb")
    twilio = tw.TwilioStandIn(numbers=(SERVICE_NUMBER,))
    with BackgroundServer(telegram.app) as tg_server, BackgroundServer(twilio.app) as tw_server:
        telegram.url, twilio.url = tg_server.url, tw_server.url
        try:
            yield Outside(telegram, twilio)
        finally:
            telegram.close()
    assert telegram.violations == [], "the service made requests the real Bot API would refuse"
    assert twilio.violations == [], "the service made requests the real Twilio API would refuse"


def deployment(tmp_path: Path, database_url: str, world: Outside, *, public_url: str | None = PUBLIC,
               process: bool = False, **settings: str) -> Deployment:
    """`tettpa serve` with Telegram and Twilio on. Its public URL is PUBLIC (status callbacks reach it
    through the stand-in's rewrite), or with public_url=None its own local URL (Telegram webhook mode).
    In this process, or with process=True a real subprocess (to be killed, stopped, or one of two)."""
    d = Deployment(tmp_path, database_url, world.tg, world.tg.url, process=process,
                   twilio_account_sid=world.tw.account_sid, twilio_auth_token=world.tw.auth_token,
                   twilio_number=SERVICE_NUMBER, twilio_api_url=world.tw.url, **settings)
    if public_url is not None:
        d.env["TETTPA_PUBLIC_URL"] = public_url
        world.tw.callback_rewrite = lambda url: url.replace(public_url, d.url)
    return d


def assert_not_logged(d: Deployment, *secrets: str) -> None:
    """No message text or phone number in the service's log (they may appear masked, never whole)."""
    logged = d.log.read_text(errors="replace")
    leaked = [s for s in secrets if s and s in logged]
    assert leaked == [], f"the log shows {leaked}"


def sms(d: Deployment | str, world: Outside, from_: str, body: str, sid: str | None = None,
        public_url: str = PUBLIC, patient: float = 0.0) -> httpx.Response:
    """An inbound SMS webhook, signed as Twilio signs it. With `patient`, a refused connection or a 5xx is
    tried again with the same MessageSid for that many seconds (the service may be restarting)."""
    url = (d if isinstance(d, str) else d.url) + "/twilio/sms"
    sid = sid or "SM" + __import__("uuid").uuid4().hex
    deadline = time.monotonic() + patient

    def attempt() -> tuple[httpx.Response] | None:
        try:
            response = tw.inbound_sms(url, f"{public_url}/twilio/sms", world.tw.auth_token, from_=from_,
                                      to=SERVICE_NUMBER, body=body, message_sid=sid,
                                      account_sid=world.tw.account_sid)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            return None
        return (response,) if response.status_code < 500 or time.monotonic() > deadline else None

    (response,) = wait_until(attempt, patient + 60, f"the service to take SMS {sid}", interval=0.2)
    return response


def link(d: Deployment, tg: TelegramStandIn, people: list[tuple[dict, int]], timeout: float = 20) -> None:
    """Each person opens the bot with their invite code; wait until every one is greeted."""
    for person, user_id in people:
        tg.user_sends(user_id, f"/start {person['invite_code']}")
    for _, user_id in people:
        tg.wait_sent(user_id, 1, timeout=timeout)


def texts(messages: list[dict]) -> list[str]:
    return [m.get("text") or m.get("caption") or m.get("body") or "" for m in messages]


def log_entries(d: Deployment) -> list[dict]:
    return json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]


def health(d: Deployment) -> dict:
    return httpx.get(f"{d.url}/healthz", timeout=5).json()


class Roster:
    """People written straight into a deployment's database from the test, as `tettpa ... add` would write
    them (same functions, same keys): the CLI costs seconds a call, and the suite makes hundreds."""

    def __init__(self, database_url: str):
        crypto.use_keys([TEST_DATA_KEY])
        migrate(database_url)
        self.engine = make_engine(database_url)
        self.service = Service(settings=make_settings(database_url, secret_key=SECRET), engine=self.engine)

    def _add(self, fn, **kw) -> dict:
        with self.service.tx() as session:
            invited = fn(session, now=self.service.now(), secret_key=SECRET, **kw)
            return {"id": invited.person.id, "invite_code": invited.code}

    def worker(self, name: str, phone: str | None = None) -> dict:
        return self._add(roster.add_worker, name=name, phone=phone)

    def youth(self, name: str, primary: dict, secondary: dict | None = None, phone: str | None = None) -> dict:
        return self._add(roster.add_youth, name=name, primary=primary["id"],
                         secondary=secondary["id"] if secondary else None, phone=phone)

    def parent(self, name: str, youth: dict, phone: str | None = None) -> dict:
        return self._add(roster.add_parent, name=name, youth=youth["id"], phone=phone)

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def roster_of(database_url: str) -> Iterator[Roster]:
    people = Roster(database_url)
    try:
        yield people
    finally:
        people.close()


def start_patiently(d: Deployment, timeout: float = 120) -> None:
    """`d.start()`, giving a slow start (a loaded CI machine, a long recovery) more than its 30 s."""
    try:
        d.start()
    except AssertionError:
        if d.process is None or d.process.poll() is not None:
            raise
        wait_until(lambda: _answers(d), timeout, "tettpa serve to answer after a slow start", interval=0.2)


def _answers(d: Deployment) -> bool:
    try:
        return httpx.get(f"{d.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
