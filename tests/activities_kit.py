"""What the activity and notice tests share: real transports talking to the Telegram and Twilio stand-ins."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from sqlmodel import select

from bot import actions, roster
from bot.events import Incoming
from bot.out.outbox import Sender
from bot.relay import receive
from bot.service import Service
from models.contact_log import ContactLog
from models.outbox import Outbox
from models.people import Person
from tests.conftest import make_settings

SERVICE_NUMBER = "+4790000000"
SIRI_PHONE = "+4741234567"


@dataclass
class World:
    telegram: object
    twilio: object
    telegram_url: str
    twilio_url: str


@pytest.fixture
def world():
    from standins.server import BackgroundServer
    from standins.telegram import TelegramStandIn
    from standins.twilio import TwilioStandIn

    tg = TelegramStandIn(token="424244:ACT-TOKEN", strict=True, bot_username="TettPaTestBot")
    from tests.personas import PARENT_TG, PRIMARY_TG, SECONDARY_TG, YOUTH_TG

    for user_id, name in ((PRIMARY_TG, "Kari"), (SECONDARY_TG, "Per"), (YOUTH_TG, "Ola"), (PARENT_TG, "Lise")):
        tg.add_user(user_id, name, language_code="nb")
    sms = TwilioStandIn(numbers=(SERVICE_NUMBER,))
    with BackgroundServer(tg.app) as tg_server, BackgroundServer(sms.app) as sms_server:
        tg.url = tg_server.url
        yield World(tg, sms, tg_server.url, sms_server.url)
    assert tg.violations == [] and sms.violations == []
    tg.close()


@asynccontextmanager
async def sender(service: Service, world: World):
    """A Sender whose Telegram and SMS transports are the real ones, pointed at the stand-ins."""
    import telegram

    from bot.out.transports.telegram import TelegramTransport
    from bot.out.transports.twilio import SmsTransport, make_client

    settings = make_settings(service.settings.database_url, twilio_account_sid=world.twilio.account_sid,
                             twilio_auth_token=world.twilio.auth_token, twilio_number=SERVICE_NUMBER,
                             twilio_api_url=world.twilio_url, public_url="https://tettpa.example")
    bot = telegram.Bot(world.telegram.token, base_url=f"{world.telegram_url}/bot",
                       base_file_url=f"{world.telegram_url}/file/bot")
    async with bot:
        yield Sender(service, {"telegram": TelegramTransport(bot), "sms": SmsTransport(make_client(settings), settings)})


async def send_all(service: Service, world: World, clock=None) -> None:
    """Send every due row; bulk rows are spaced a few milliseconds apart, so the clock is moved past them."""
    async with sender(service, world) as s:
        for _ in range(200):
            if not await s.run_once():
                if clock is None or not pending(service):
                    return
                clock.advance(seconds=1)


def pending(service: Service) -> bool:
    with service.tx() as session:
        return session.exec(select(Outbox.id).where(Outbox.status == "pending")).first() is not None


def add_sms_youth(service: Service, cast, name: str = "Siri Lund", language: str = "nb") -> int:
    with service.tx() as session:
        return roster.add_youth(session, name=name, primary=cast.primary, secondary=cast.secondary, phone=SIRI_PHONE,
                                language=language, now=service.now(),
                                secret_key=service.settings.secret_key).person.id


def sms_in(service: Service, text: str, sid: str, phone: str = SIRI_PHONE) -> None:
    with service.tx() as session:
        receive(service, session, Incoming(source_key=f"sms:{sid}", channel="sms", address=phone, text=text))


def press(service: Service, person_id: int, data: str) -> str:
    with service.tx() as session:
        return actions.perform(service, session, session.get(Person, person_id), data)


def activity_log(service: Service) -> list[ContactLog]:
    with service.tx() as session:
        return list(session.exec(select(ContactLog).where(ContactLog.kind == "activity").order_by(ContactLog.id)))
