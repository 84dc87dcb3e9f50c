"""The sandbox's JSON API (CONTRACT.md, "Sandbox"), over the real `tettpa serve` with no credentials: the
people, playing them on Telegram and SMS, the chats, the service's clock moving what falls due, the contact
log, and the link to the dashboard as the demo coordinator."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import Deployment
from tests.reliability import wait_until


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox-api")
    d = Deployment(tmp, f"sqlite:///{tmp / 'sandbox.db'}")
    d.env.pop("TETTPA_SECRET_KEY")
    d.env.pop("TETTPA_DATA_KEY")
    d.start()
    try:
        yield d
    finally:
        d.stop()


def api(d: Deployment, path: str, body: dict | None = None) -> httpx.Response:
    url = f"{d.url}/sandbox/api/{path}"
    return httpx.post(url, json=body, timeout=60) if body is not None else httpx.get(url, timeout=10)


def people(d: Deployment) -> dict[str, dict]:
    return {p["name"].split()[0]: p for p in api(d, "people").json()["people"]}


def until(d: Deployment, person: int, found, timeout: float = 10.0) -> list[dict]:
    """Poll a person's chat (bounded) until `found(chat)`; the chat."""
    def arrived() -> list[dict] | None:
        chat = api(d, "chats").json()["chats"][str(person)]
        return chat if found(chat) else None

    try:
        return wait_until(arrived, timeout, f"chat {person}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it has {api(d, 'chats').json()['chats'][str(person)]}") from None


def test_it_lists_the_demo_roster_with_its_channels(sandbox):
    listed = api(sandbox, "people").json()["people"]
    assert all(set(p) == {"id", "name", "role", "channel"} for p in listed)
    by_name = {p["name"]: p for p in listed}
    assert by_name["Amir Said"]["channel"] == "sms" and by_name["Ola Berg"]["channel"] == "telegram"
    assert {p["role"] for p in listed} == {"worker", "coordinator", "youth", "parent"}
    assert [p["role"] for p in listed].count("youth") == 3


def test_it_routes_an_sms_to_the_available_worker_and_the_answer_back_by_sms(sandbox):
    p = people(sandbox)
    amir, per = p["Amir"]["id"], p["Per"]["id"]
    assert api(sandbox, "send", {"person": amir, "text": "Hei, jeg er syk i dag"}).json() == {"ok": True}
    relay = until(sandbox, per, lambda c: any("Amir Said" in m["text"] for m in c))[-1]
    assert relay["from_service"] and {"label": "Jeg tar den", "data": relay["buttons"][0]["data"]} == \
        {k: relay["buttons"][0][k] for k in ("label", "data")}
    api(sandbox, "send", {"person": per, "text": "God bedring", "reply_to": relay["id"]})
    sms = until(sandbox, amir, lambda c: any(m["from_service"] for m in c))
    assert [m["text"] for m in sms] == ["Hei, jeg er syk i dag", "Per: God bedring"]
    assert all(m["at"] and m["buttons"] == [] for m in sms)
    entries = api(sandbox, "log").json()["entries"]
    assert any(e["channel"] == "sms" and e["direction"] == "in" and e["youth_id"] == amir for e in entries)


def test_it_escalates_when_the_clock_passes_fifteen_minutes(sandbox):
    p = people(sandbox)
    oksana, per, kari = p["Oksana"]["id"], p["Per"]["id"], p["Kari"]["id"]
    api(sandbox, "send", {"person": oksana, "text": "Привіт, можна поговорити?"})
    until(sandbox, per, lambda c: any("Oksana" in m["text"] for m in c))  # her primary is Per
    before = api(sandbox, "clock").json()["now"]
    now = api(sandbox, "clock", {"advance": "16m"}).json()["now"]
    assert now > before
    until(sandbox, kari, lambda c: any("Oksana" in m["text"] and "15 minutter" in m["text"] for m in c))
    assert any(e["kind"] == "escalation" for e in api(sandbox, "log").json()["entries"])


def test_it_refuses_what_a_phone_would_never_send(sandbox):
    p = people(sandbox)
    assert api(sandbox, "send", {"person": 9999, "text": "x"}).status_code == 400
    assert api(sandbox, "send", {"person": p["Ola"]["id"], "text": "  "}).status_code == 400
    assert api(sandbox, "send", {"person": p["Amir"]["id"], "button": "take:1"}).status_code == 400
    assert api(sandbox, "clock", {"advance": "soon"}).status_code == 400
    assert api(sandbox, "clock", {"advance": "30d"}).status_code == 400


def test_it_marks_a_used_button_and_an_acute_message(sandbox):
    p = people(sandbox)
    ola, per = p["Ola"]["id"], p["Per"]["id"]
    api(sandbox, "send", {"person": ola, "text": "Jeg vil ta livet mitt"})
    relay = until(sandbox, per, lambda c: any(m["acute"] and m["buttons"] for m in c))
    message = [m for m in relay if m["acute"] and m["buttons"]][-1]
    assert api(sandbox, "send", {"person": per, "button": message["buttons"][0]["data"],
                                 "reply_to": message["id"]}).json() == {"ok": True}
    chat = until(sandbox, per, lambda c: any(b.get("used") for m in c for b in m["buttons"]) or
                 all(m["id"] != message["id"] or not m["buttons"] for m in c))
    assert chat


def test_it_opens_the_dashboard_as_the_demo_coordinator(sandbox):
    page = httpx.get(f"{sandbox.url}/sandbox")
    assert "koordinator@example.org" in page.text and "/sandbox/dashboard" in page.text
    with httpx.Client(base_url=sandbox.url) as http:
        link = http.get("/sandbox/dashboard")
        assert link.status_code == 303 and link.headers["location"] == "/dashboard"
        dashboard = http.get("/dashboard")
        assert dashboard.status_code == 200 and "Cora" in dashboard.text


def test_it_shows_the_page_in_the_language_asked_for(sandbox):
    assert "Prøv dette:" in httpx.get(f"{sandbox.url}/sandbox").text
    english = httpx.get(f"{sandbox.url}/sandbox", params={"lang": "en"}).text
    assert "Try this:" in english and "Prøv dette:" not in english and 'lang="en"' in english
    arabic = httpx.get(f"{sandbox.url}/sandbox", params={"lang": "ar"}).text
    assert 'dir="rtl"' in arabic and "جرّب هذا:" in arabic
    assert 'lang="nb"' in httpx.get(f"{sandbox.url}/sandbox", params={"lang": "xx"}).text
