"""The sandbox: `tettpa serve` with no credentials runs against its own stand-ins with a demo roster."""

from __future__ import annotations

import time

import httpx

from tests.e2e import Deployment


def _chats(d: Deployment) -> dict:
    return httpx.get(f"{d.url}/sandbox/chats", timeout=5).json()


def _wait(d: Deployment, user: str, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chat = _chats(d)[user]
        if len(chat) >= count:
            return chat
        time.sleep(0.1)
    raise AssertionError(f"chat {user} has {_chats(d)[user]}")


def test_it_runs_the_demo_without_any_accounts(tmp_path):
    d = Deployment(tmp_path, f"sqlite:///{tmp_path / 'sandbox.db'}", escalation_after="2s")
    d.env.pop("TETTPA_SECRET_KEY")
    d.env.pop("TETTPA_DATA_KEY")
    d.start()
    try:
        # The bot connects to the sandbox's Telegram once the server answers: "starting", then "polling".
        deadline = time.monotonic() + 30
        while (health := httpx.get(f"{d.url}/healthz").json())["telegram"] != "polling" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert health["sandbox"] is True and health["telegram"] == "polling"
        page = httpx.get(f"{d.url}/sandbox")
        assert page.status_code == 200 and "Ola Berg" in page.text and "Kari Nordmann" in page.text
        ola, kari, per = "7101", "7001", "7002"
        httpx.post(f"{d.url}/sandbox/send", json={"user_id": ola, "text": "Hei, jeg forsov meg"})
        relay = _wait(d, kari, 1)[0]
        assert relay["from_bot"] and "Ola Berg" in relay["text"] and relay["buttons"][0][1].startswith("take:")
        assert "Ola Berg" in _wait(d, per, 1)[0]["text"]  # escalated after 2 s
        httpx.post(f"{d.url}/sandbox/send", json={"user_id": kari, "text": "Kom når du kan", "reply_to": relay["id"]})
        assert _wait(d, ola, 2)[1]["text"] == "Kari: Kom når du kan"
        assert httpx.post(f"{d.url}/sandbox/send", json={"user_id": 1, "text": "x"}).status_code == 400
        assert httpx.post(f"{d.url}/sandbox/send", json={"user_id": ola, "text": " "}).status_code == 400
        assert (tmp_path / "tettpa-sandbox.secrets").exists()
    finally:
        d.stop()
    d.start()  # the keys it made are reused: the old texts still read
    try:
        log = d.cli("log", "export", "--format", "json").stdout
        assert "Hei, jeg forsov meg" in log
    finally:
        d.stop()
