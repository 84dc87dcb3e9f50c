"""`tettpa connect telegram|twilio`: a county's coordinator points the real accounts at the service. Run
through the real CLI (in-process) against the Telegram and Twilio stand-ins, strict per the API definitions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from bot import roster
from bot.i18n import available_languages
from bot.out.transports.connect import GENERAL, WORKER, webhook_secret
from handlers.cli.main import app
from standins import twilio as tw
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.conftest import TEST_DATA_KEY, make_settings

TOKEN = "424242:CONNECT-TOKEN"
NUMBER = "+4790000000"
PUBLIC = "https://tettpa.example"
KARI_CHAT = 7001


@dataclass
class Accounts:
    tg: TelegramStandIn
    tw: tw.TwilioStandIn
    env: dict[str, str]


@pytest.fixture
def accounts(tmp_path, monkeypatch) -> Iterator[Accounts]:
    """The county's bot and Twilio number, and the settings a coordinator wrote into .env."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    telegram = TelegramStandIn(token=TOKEN, strict=True, bot_username="OtVestBot")
    twilio = tw.TwilioStandIn(numbers=(NUMBER,))
    with BackgroundServer(telegram.app) as tg_server, BackgroundServer(twilio.app) as tw_server:
        env = {
            "TETTPA_DATABASE_URL": f"sqlite:///{tmp_path / 'tettpa.db'}",
            "TETTPA_SECRET_KEY": "connect-secret-key-not-a-placeholder",
            "TETTPA_DATA_KEY": TEST_DATA_KEY,
            "TETTPA_PUBLIC_URL": PUBLIC,
            "TETTPA_TELEGRAM_TOKEN": TOKEN,
            "TETTPA_TELEGRAM_API_URL": tg_server.url,
            "TETTPA_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TETTPA_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TETTPA_TWILIO_NUMBER": NUMBER,
            "TETTPA_TWILIO_API_URL": tw_server.url,
        }
        try:
            yield Accounts(telegram, twilio, env)
        finally:
            telegram.close()


def tettpa(accounts: Accounts, *args: str, **env: str):
    """The CLI as a person runs it, with the environment of the deployment."""
    return CliRunner().invoke(app, list(args), env={**accounts.env, **env}, catch_exceptions=False)


def no_violations(accounts: Accounts) -> None:
    assert accounts.tg.violations == [], "a request the real Bot API would refuse"
    assert accounts.tw.violations == [], "a request the real Twilio API would refuse"


def test_it_sets_the_menu_and_texts_in_every_language_and_changes_nothing_the_second_time(accounts):
    first = tettpa(accounts, "connect", "telegram", "--json")
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    languages = available_languages()
    assert result["bot"] == "@OtVestBot"
    assert result["webhook"] is None  # polling: no webhook
    assert result["commands"] == len(GENERAL) * (len(languages) + 1)
    scope = {"type": "all_private_chats"}
    assert [c["command"] for c in accounts.tg.my_commands(scope)] == list(GENERAL)
    assert accounts.tg.my_commands(scope)[0]["description"] == "Hjelp og kommandoer"
    assert accounts.tg.my_commands(scope, "en")[0]["description"] == "Help and commands"
    assert accounts.tg.my_commands(scope, "uk")[0]["description"] != "Hjelp og kommandoer"
    for language in ("", *languages):
        assert accounts.tg.description(language), f"no description for {language or 'the default'}"
        assert accounts.tg.description(language, short=True)
    assert "113" in accounts.tg.description("en")

    calls_before = len(accounts.tg.calls())
    second = json.loads(tettpa(accounts, "connect", "telegram", "--json").stdout)
    assert second["changed"] == []
    set_calls = [name for name, _ in accounts.tg.calls()[calls_before:] if name.startswith("set")]
    assert set_calls == [], f"the second run changed {set_calls}"
    no_violations(accounts)


def test_it_gives_a_linked_worker_the_worker_menu_in_her_language(accounts):
    settings = make_settings(accounts.env["TETTPA_DATABASE_URL"])
    from bot.run.bootstrap import open_service

    service = open_service(settings)
    with service.tx() as session:
        kari = roster.add_worker(session, name="Kari Nordmann", email="kari@ot.example", language="en",
                                 now=service.now(), secret_key=settings.secret_key).person
        kari.telegram_user_id = kari.telegram_chat_id = KARI_CHAT
    service.engine.dispose()

    assert tettpa(accounts, "connect", "telegram").exit_code == 0
    menu = accounts.tg.my_commands({"type": "chat", "chat_id": KARI_CHAT})
    assert [c["command"] for c in menu] == list(WORKER)
    assert menu[0]["description"].startswith("Not available")
    no_violations(accounts)


def test_it_sets_the_webhook_with_its_secret_in_webhook_mode(accounts):
    result = tettpa(accounts, "connect", "telegram", "--json", TETTPA_TELEGRAM_UPDATES="webhook")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["webhook"] == f"{PUBLIC}/telegram/webhook"
    (name, params), = [c for c in accounts.tg.calls("setWebhook")]
    assert params["url"] == f"{PUBLIC}/telegram/webhook"
    assert params["secret_token"] == webhook_secret(make_settings("sqlite://", secret_key=accounts.env[
        "TETTPA_SECRET_KEY"]))

    again = json.loads(tettpa(accounts, "connect", "telegram", "--json", TETTPA_TELEGRAM_UPDATES="webhook").stdout)
    assert again["changed"] == [] and len(accounts.tg.calls("setWebhook")) == 1

    # Back to polling: the webhook would make every getUpdates fail, so connect removes it.
    polling = json.loads(tettpa(accounts, "connect", "telegram", "--json").stdout)
    assert polling["changed"] == ["webhook removed"]
    no_violations(accounts)


def test_it_says_which_setting_is_wrong_when_telegram_refuses_the_token(accounts):
    result = tettpa(accounts, "connect", "telegram", TETTPA_TELEGRAM_TOKEN="424242:WRONG")
    assert result.exit_code != 0
    assert "TETTPA_TELEGRAM_TOKEN" in result.stderr and "BotFather" in result.stderr
    assert "Traceback" not in result.output
    assert accounts.tg.my_commands({"type": "all_private_chats"}) == []


def test_it_points_the_twilio_number_at_the_public_url_once(accounts):
    result = tettpa(accounts, "connect", "twilio", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "number": NUMBER, "sms_url": f"{PUBLIC}/twilio/sms", "voice_url": f"{PUBLIC}/twilio/voice",
        "status_callback": f"{PUBLIC}/twilio/status", "changed": ["webhooks"],
    }
    (number,) = accounts.tw.phone_numbers
    assert (number["sms_url"], number["voice_url"], number["status_callback"]) == (
        f"{PUBLIC}/twilio/sms", f"{PUBLIC}/twilio/voice", f"{PUBLIC}/twilio/status")
    assert number["sms_method"] == number["voice_method"] == "POST"

    again = json.loads(tettpa(accounts, "connect", "twilio", "--json").stdout)
    assert again["changed"] == [] and accounts.tw.phone_numbers[0]["updates"] == 1
    no_violations(accounts)


def test_it_names_a_number_the_twilio_account_does_not_have(accounts):
    result = tettpa(accounts, "connect", "twilio", TETTPA_TWILIO_NUMBER="+4799999999")
    assert result.exit_code != 0
    assert "TETTPA_TWILIO_NUMBER" in result.stderr and "+4799999999" in result.stderr
    assert accounts.tw.phone_numbers[0]["updates"] == 0


def test_it_refuses_a_number_that_cannot_take_sms(accounts):
    accounts.tw.set_capabilities(NUMBER, sms=False)
    result = tettpa(accounts, "connect", "twilio")
    assert result.exit_code != 0 and "SMS" in result.stderr
    assert accounts.tw.phone_numbers[0]["updates"] == 0


def test_it_names_the_auth_token_when_twilio_refuses_the_credentials(accounts):
    result = tettpa(accounts, "connect", "twilio", TETTPA_TWILIO_AUTH_TOKEN="wrong-token")
    assert result.exit_code != 0 and "TETTPA_TWILIO_AUTH_TOKEN" in result.stderr
