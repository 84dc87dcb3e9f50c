"""The programme through `tettpa serve` and the Telegram stand-in: the rights information with the welcome,
and a worker recording consent with /samtykke in reply to a relayed message."""

from __future__ import annotations

import json

from tests.e2e import Deployment
from tests.test_dashboard_browser import KARI, OLA, telegram  # noqa: F401  (the Telegram stand-in fixture)


def _consent_entries(d) -> list[str]:
    entries = json.loads(d.cli("log", "export", "--format", "json").stdout)["entries"]
    return [e["text"] for e in entries if e["kind"] == "consent"]


def test_it_links_with_the_rights_information_and_records_consent_from_telegram(tmp_path, telegram):  # noqa: F811
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'telegram.db'}", telegram, telegram.url)
    kari = d.add("worker", "add", "--name", "Kari Nordmann")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]), "--language", "en")
    d.start()
    try:
        telegram.user_sends(KARI, f"/start {kari['invite_code']}")
        assert "Datatilsynet" not in telegram.wait_sent(KARI, 1, timeout=10)[0]["text"]
        telegram.user_sends(OLA, f"/start {ola['invite_code']}")
        welcome = telegram.wait_sent(OLA, 1, timeout=10)[0]["text"]
        assert welcome.startswith("Hi Ola!") and "About privacy and your rights" in welcome
        telegram.user_sends(OLA, "Hi Kari")
        relayed = telegram.wait_sent(KARI, 2, timeout=10)[1]
        telegram.user_sends(KARI, "/samtykke kontakt vekking", reply_to_message_id=relayed["message_id"])
        confirmed = telegram.wait_sent(KARI, 3, timeout=10)[2]
        assert confirmed["text"] == "Samtykket er registrert for Ola Berg."
        # The confirmation was queued in the transaction that recorded the consent: the entry is there.
        assert _consent_entries(d)[0].startswith("Samtykke registrert (contact, wakeup)")
    finally:
        d.stop()
