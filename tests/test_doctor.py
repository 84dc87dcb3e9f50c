"""`tettpa doctor`: a coordinator checks a deployment before and after going live. Each failing check names
what is wrong and how to fix it, and the command exits non-zero. Against the Telegram and Twilio stand-ins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.run.bootstrap import open_service
from models.outbox import enqueue
from tests import test_connect
from tests.conftest import make_settings
from tests.test_connect import no_violations, tettpa

accounts = test_connect.accounts  # the same deployment fixture as the connect tests


def doctor(accounts, **env) -> tuple[int, dict[str, dict]]:
    result = tettpa(accounts, "doctor", "--json", **env)
    report = json.loads(result.stdout)
    assert report["ok"] == (result.exit_code == 0), result.output
    return result.exit_code, {check["name"]: check for check in report["checks"]}


def test_it_passes_every_check_of_a_connected_deployment(accounts):
    assert tettpa(accounts, "db", "upgrade").exit_code == 0
    assert tettpa(accounts, "connect", "telegram").exit_code == 0
    assert tettpa(accounts, "connect", "twilio").exit_code == 0
    code, checks = doctor(accounts)
    assert code == 0, checks
    assert list(checks) == ["settings", "public_url", "timezone", "database", "migrations", "telegram",
                            "telegram_webhook", "twilio", "twilio_webhooks", "scheduler", "outbox", "inbound"]
    assert "@" in checks["telegram"]["detail"]
    assert "0 update(s) waiting" in checks["telegram_webhook"]["detail"]
    no_violations(accounts)


def test_it_tells_a_new_deployment_to_migrate_and_connect(accounts):
    code, checks = doctor(accounts)
    assert code == 1
    assert not checks["migrations"]["ok"] and "tettpa db upgrade" in checks["migrations"]["fix"]
    assert not checks["twilio_webhooks"]["ok"] and "tettpa connect twilio" in checks["twilio_webhooks"]["fix"]
    assert checks["telegram"]["ok"]  # the token itself is right


def test_it_finds_a_missing_webhook_in_webhook_mode_and_a_stray_one_when_polling(accounts):
    tettpa(accounts, "db", "upgrade")
    tettpa(accounts, "connect", "twilio")
    code, checks = doctor(accounts, TETTPA_TELEGRAM_UPDATES="webhook")
    assert code == 1 and "not set" in checks["telegram_webhook"]["detail"]
    assert "tettpa connect telegram" in checks["telegram_webhook"]["fix"]

    tettpa(accounts, "connect", "telegram", TETTPA_TELEGRAM_UPDATES="webhook")
    assert doctor(accounts, TETTPA_TELEGRAM_UPDATES="webhook")[0] == 0
    code, checks = doctor(accounts)  # the service polls, but a webhook is still set
    assert code == 1 and "the service polls" in checks["telegram_webhook"]["detail"]


def test_it_names_a_wrong_token_and_a_number_the_account_lacks(accounts):
    tettpa(accounts, "db", "upgrade")
    code, checks = doctor(accounts, TETTPA_TELEGRAM_TOKEN="424242:WRONG", TETTPA_TWILIO_NUMBER="+4799999999")
    assert code == 1
    assert "TETTPA_TELEGRAM_TOKEN" in checks["telegram"]["fix"]
    assert "TETTPA_TWILIO_NUMBER" in checks["twilio"]["fix"] and "+4799999999" in checks["twilio"]["detail"]


def test_it_refuses_placeholder_secrets_and_a_public_url_without_https(accounts):
    code, checks = doctor(accounts, TETTPA_DATA_KEY="changeme")
    assert code == 1 and list(checks) == ["settings"]
    assert "TETTPA_DATA_KEY" in checks["settings"]["detail"]

    code, checks = doctor(accounts, TETTPA_PUBLIC_URL="http://tettpa.example")
    assert code == 1 and not checks["public_url"]["ok"] and "HTTPS" in checks["public_url"]["fix"]


def test_it_reports_sends_that_have_waited_too_long(accounts):
    tettpa(accounts, "db", "upgrade")
    tettpa(accounts, "connect", "twilio")
    service = open_service(make_settings(accounts.env["TETTPA_DATABASE_URL"]))
    with service.tx() as session:
        enqueue(session, key="old", now=datetime.now(UTC) - timedelta(hours=1), channel="telegram",
                address="5101", payload=json.dumps({"text": "…"}))
    service.engine.dispose()
    code, checks = doctor(accounts)
    assert code == 1 and not checks["outbox"]["ok"]
    assert "1 send(s) waiting, the oldest for 60 min" in checks["outbox"]["detail"]
