"""End to end through `tettpa serve`: the real PTB polls the Telegram stand-in over HTTP, and youth,
parent, two workers and an outsider talk to each other through it."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import Session, func, select

from models.conversations import Message
from models.db import make_engine
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn
from tests.e2e import Deployment
from tests.reliability import wait_until

KARI, PER, OLA, LISE, OUTSIDER = 501, 502, 601, 701, 999


@pytest.fixture
def telegram():
    stand_in = TelegramStandIn(token="424242:E2E-TOKEN", strict=True, bot_username="TettPaTestBot")
    for user_id, name, lang in ((KARI, "Kari", "nb"), (PER, "Per", "nb"), (OLA, "Ola", "nb"),
                                (LISE, "Lise", "nb"), (OUTSIDER, "Ukjent", "nb")):
        stand_in.add_user(user_id, name, language_code=lang)
    with BackgroundServer(stand_in.app) as server:
        stand_in.url = server.url
        yield stand_in
    assert stand_in.violations == [], "the service made requests the real Bot API would refuse"


@pytest.fixture
def deployment(request, tmp_path, database_url, telegram):
    """In this process, or a real `tettpa serve` for a test marked `process` (one that kills it)."""
    d = Deployment(tmp_path, database_url, telegram, telegram.url,
                   process=request.node.get_closest_marker("process") is not None)
    yield d
    d.stop()


def roster(d: Deployment) -> dict:
    kari = d.add("worker", "add", "--name", "Kari Nordmann", "--email", "kari@ot.example")
    per = d.add("worker", "add", "--name", "Per Hansen")
    ola = d.add("youth", "add", "--name", "Ola Berg", "--primary", str(kari["id"]), "--secondary", str(per["id"]))
    lise = d.add("parent", "add", "--youth", str(ola["id"]), "--name", "Lise Berg")
    return {"kari": kari, "per": per, "ola": ola, "lise": lise}


def _escalations_armed(d: Deployment) -> int:
    """Messages whose escalation is still to come (armed, not yet escalated), read from the database."""
    engine = make_engine(d.env["TETTPA_DATABASE_URL"])
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(Message).where(
                Message.escalate_at.is_not(None), Message.escalated_at.is_(None))).one()
    finally:
        engine.dispose()


def link_all(d: Deployment, tg: TelegramStandIn, people: dict) -> None:
    for key, user_id in (("kari", KARI), ("per", PER), ("ola", OLA), ("lise", LISE)):
        tg.user_sends(user_id, f"/start {people[key]['invite_code']}")
        tg.wait_sent(user_id, 1, timeout=5)


def test_it_prints_invites_as_json(deployment):
    people = roster(deployment)
    assert people["ola"]["invite_link"] == f"https://t.me/TettPaBot?start={people['ola']['invite_code']}"
    assert {p["id"] for p in people.values()} == {1, 2, 3, 4}


def test_it_relays_between_youth_parent_and_worker_end_to_end(deployment, telegram):
    tg = telegram
    people = roster(deployment)
    deployment.start()
    link_all(deployment, tg, people)
    assert "Ola" in tg.sent_to(OLA)[0]["text"]

    tg.user_sends(OLA, "Hei Kari, jeg forsov meg")
    (relayed,) = tg.wait_sent(KARI, 2, timeout=2)[1:]
    assert "Ola Berg" in relayed["text"] and "jeg forsov meg" in relayed["text"]

    tg.user_sends(KARI, "Ingen fare, kom når du kan", reply_to_message_id=relayed["message_id"])
    answer = tg.wait_sent(OLA, 2, timeout=2)[1]
    assert answer["text"] == "Kari: Ingen fare, kom når du kan"
    assert "501" not in json.dumps(answer)

    tg.user_sends(LISE, "Ola er syk i dag")
    from_parent = tg.wait_sent(KARI, 3, timeout=2)[2]
    assert "Lise Berg, forelder til Ola Berg" in from_parent["text"]

    tg.user_sends(OLA, photo=True, caption="timeplanen")
    copied = tg.wait_sent(KARI, 5, timeout=2)[3:]
    assert "timeplanen" in copied[0]["text"] and "photo" in copied[1]

    for kind in ("voice", "document", "sticker"):
        tg.user_sends(OLA, **{kind: True})
    copies = tg.wait_sent(KARI, 11, timeout=3)[5:]
    assert [k for m in copies for k in ("voice", "document", "sticker") if k in m] == ["voice", "document", "sticker"]

    tg.user_sends(OUTSIDER, "hei?")
    assert "/start" in tg.wait_sent(OUTSIDER, 1, timeout=2)[0]["text"]

    tg.user_sends(PER, "hei")
    assert "Svar" in tg.wait_sent(PER, 2, timeout=2)[1]["text"]
    assert all("hei?" not in m.get("text", "") for m in tg.sent_to(KARI) + tg.sent_to(PER))

    log = json.loads(deployment.cli("log", "export", "--format", "json").stdout)["entries"]
    kinds = [(e["party"], e["direction"], e["text"]) for e in log]
    assert ("youth", "in", "Hei Kari, jeg forsov meg") in kinds
    assert ("worker", "out", "Ingen fare, kom når du kan") in kinds
    assert ("parent", "in", "Ola er syk i dag") in kinds
    csv_text = deployment.cli("log", "export", "--format", "csv", "--youth", str(people["ola"]["id"])).stdout
    assert csv_text.splitlines()[0] == "at,youth_id,party,worker_id,channel,direction,kind,after_hours,text"
    assert len(csv_text.strip().splitlines()) == len(log) + 1


def test_it_refuses_a_wrong_or_used_code(deployment, telegram):
    people = roster(deployment)
    deployment.start()
    telegram.user_sends(OUTSIDER, "/start NOTACODE")
    assert "kode" in telegram.wait_sent(OUTSIDER, 1)[0]["text"]
    telegram.user_sends(OLA, f"/start {people['ola']['invite_code']}")
    telegram.wait_sent(OLA, 1)
    telegram.user_sends(OUTSIDER, f"/start {people['ola']['invite_code']}")
    assert "allerede brukt" in telegram.wait_sent(OUTSIDER, 2)[1]["text"]


def test_it_escalates_to_the_secondary_and_tells_who_took_it(deployment, telegram):
    tg = telegram
    deployment.env["TETTPA_ESCALATION_AFTER"] = "3s"
    people = roster(deployment)
    deployment.start()
    link_all(deployment, tg, people)
    tg.user_sends(OLA, "er det noen der?")
    tg.wait_sent(KARI, 2)
    escalated = tg.wait_sent(PER, 2, timeout=8)[1]
    assert "Ubesvart" in escalated["text"] and "er det noen der?" in escalated["text"]
    tg.user_presses(PER, escalated["message_id"], escalated["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    assert "Per har tatt denne." in tg.wait_sent(KARI, 3)[2]["text"]


@pytest.mark.process
def test_it_answers_health_and_serves_the_log_after_a_restart(deployment, telegram):
    tg = telegram
    people = roster(deployment)
    deployment.start()
    link_all(deployment, tg, people)
    deployment.settle()  # the last welcome has reached Telegram; its receipt may still be being recorded
    body = httpx.get(f"{deployment.url}/healthz").json()
    assert body["status"] == "ok" and body["telegram"] == "polling" and body["scheduler"] == "leader"
    assert body["outbox_backlog"] == 0 and body["database"] == "ok"
    metrics = httpx.get(f"{deployment.url}/metrics").text
    sent = [line for line in metrics.splitlines() if line.startswith("tettpa_messages_out_total ")]
    assert sent and int(float(sent[0].split()[1])) >= 4  # the four greetings
    assert "# TYPE tettpa_outbox_oldest_age_seconds gauge" in metrics
    deployment.kill()
    tg.user_sends(OLA, "skrevet mens tjenesten var nede")
    deployment.start()
    assert "skrevet mens tjenesten var nede" in tg.wait_sent(KARI, 2, timeout=5)[1]["text"]
    deployment.stop()
    deployment.start()
    tg.user_sends(OLA, "etter omstart")
    sent = tg.wait_sent(KARI, 3, timeout=5)
    assert [m["text"].count("skrevet mens") for m in sent].count(1) == 1  # not relayed twice


def test_it_registers_a_webhook_and_refuses_updates_without_its_secret(tmp_path, database_url, telegram):
    d = Deployment(tmp_path, database_url, telegram, telegram.url, telegram_updates="webhook")
    people = roster(d)
    d.start()
    try:
        wait_until(lambda: telegram.calls("setWebhook"), 5, "setWebhook")
        (_, params), = telegram.calls("setWebhook")
        assert params["url"] == f"{d.url}/telegram/webhook" and params["secret_token"]
        forged = {"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": OLA, "type": "private"},
                                                "from": {"id": OLA, "is_bot": False, "first_name": "x"}, "text": "hi"}}
        assert httpx.post(f"{d.url}/telegram/webhook", json=forged).status_code == 403
        assert httpx.post(f"{d.url}/telegram/webhook", json=forged,
                          headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}).status_code == 403
        telegram.user_sends(OLA, f"/start {people['ola']['invite_code']}")  # delivered by webhook
        assert "Ola" in telegram.wait_sent(OLA, 1, timeout=5)[0]["text"]
        d.settle()
        assert len(telegram.sent_to(OLA)) == 1  # the welcome only: the forged "hi" was never taken in
    finally:
        d.stop()


@pytest.mark.process
def test_it_escalates_once_across_a_restart(deployment, telegram):
    tg = telegram
    deployment.env["TETTPA_ESCALATION_AFTER"] = "4s"
    people = roster(deployment)
    deployment.start()
    link_all(deployment, tg, people)
    tg.user_sends(OLA, "hallo, noen?")
    tg.wait_sent(KARI, 2)
    # The relay is recorded as sent before the kill: a kill while it is in flight may repeat it (at once,
    # since the restarted process takes its dead predecessor's rows), and this test is about escalation.
    deployment.settle()
    deployment.kill()
    deployment.start()
    escalated = tg.wait_sent(PER, 2, timeout=15)[1]
    assert "hallo, noen?" in escalated["text"]
    deployment.settle()  # the escalation was queued once; nothing else is on its way
    assert _escalations_armed(deployment) == 0  # and none is armed to come again
    assert len(tg.sent_to(PER)) == 2 and len(tg.sent_to(KARI)) == 2
    log = json.loads(deployment.cli("log", "export", "--format", "json").stdout)["entries"]
    assert [e["kind"] for e in log].count("escalation") == 1


def test_it_moves_what_start_up_made_out_of_the_collectors_sight_in_its_own_process_only(service, monkeypatch):
    """`tettpa serve` freezes the heap once started (a full collection then scans only what came after); a
    runtime a test starts in its own process does not, or every test's objects would stay for good."""
    import gc

    import uvicorn

    from bot.run import app as app_module

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server: served.append(server.config.app.state.runtime))
    monkeypatch.setattr(app_module, "configure_logging", lambda level: None)  # the test process's logging stays
    app_module.serve(service)
    assert served[0].settles_heap is True
    assert app_module.Runtime(service).settles_heap is False

    gc.unfreeze()
    try:
        app_module.settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
