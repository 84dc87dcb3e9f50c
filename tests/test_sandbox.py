"""The sandbox: `tettpa serve` with no credentials runs against its own stand-ins with a demo roster."""

from __future__ import annotations

import httpx

from tests.e2e import Deployment
from tests.reliability import wait_until


def _chats(d: Deployment) -> dict:
    return httpx.get(f"{d.url}/sandbox/api/chats", timeout=5).json()["chats"]


def _wait(d: Deployment, person: int, count: int, timeout: float = 10.0) -> list[dict]:
    def enough() -> list[dict] | None:
        chat = _chats(d)[str(person)]
        return chat if len(chat) >= count else None

    try:
        return wait_until(enough, timeout, f"{count} messages in chat {person}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it has {_chats(d)[str(person)]}") from None


def test_it_runs_the_demo_without_any_accounts(tmp_path):
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'sandbox.db'}")
    d.env.pop("TETTPA_SECRET_KEY")
    d.env.pop("TETTPA_DATA_KEY")
    d.start()
    try:
        # The bot connects to the sandbox's Telegram once the server answers: "starting", then "polling".
        health = wait_until(lambda: (h := httpx.get(f"{d.url}/healthz").json())["telegram"] == "polling" and h,
                            30, "the bot polling the sandbox's Telegram")
        assert health["sandbox"] is True
        page = httpx.get(f"{d.url}/sandbox")
        assert page.status_code == 200 and "Ola Berg" in page.text and "Kari Nordmann" in page.text
        people = {p["name"]: p["id"] for p in httpx.get(f"{d.url}/sandbox/api/people").json()["people"]}
        ola, per = people["Ola Berg"], people["Per Hansen"]
        httpx.post(f"{d.url}/sandbox/api/send", json={"person": ola, "text": "Hei, jeg forsov meg"})
        relay = _wait(d, per, 1)[0]  # Kari is off: Per has it
        assert relay["from_service"] and "Ola Berg" in relay["text"]
        httpx.post(f"{d.url}/sandbox/api/send", json={"person": per, "text": "Kom når du kan", "reply_to": relay["id"]})
        assert _wait(d, ola, 2)[1]["text"] == "Per: Kom når du kan"
        assert httpx.post(f"{d.url}/sandbox/api/send", json={"person": 999, "text": "x"}).status_code == 400
        assert httpx.post(f"{d.url}/sandbox/api/send", json={"person": ola, "text": " "}).status_code == 400
        assert (tmp_path / "tettpa-sandbox.secrets").exists()
    finally:
        d.stop()
    d.start()  # the keys it made are reused: the old texts still read
    try:
        log = d.cli("log", "export", "--format", "json").stdout
        assert "Hei, jeg forsov meg" in log
    finally:
        d.stop()
