"""Two `tettpa serve` processes on one PostgreSQL database, behind a load balancer: Telegram in webhook
mode posts to the balancer (a small round-robin proxy on 127.0.0.1 run by the test), Twilio posts its
webhooks to one process and then the other. Every message is delivered once, exactly one process runs
the scheduler, and when that one is killed (or frozen) the other takes over well within a minute, and
escalations and wake-ups still go out exactly once."""

from __future__ import annotations

import itertools
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduling import wakeups
from standins import twilio as tw
from standins.server import BackgroundServer
from tests.e2e import Deployment
from tests.reliability import (
    SERVICE_NUMBER,
    Outside,
    Roster,
    deployment,
    health,
    link,
    outside,
    start_patiently,
    texts,
    wait_until,
)

KARI, PER, OLA, EMMA = 501, 502, 601, 602
NORA_PHONE, JAKOB_PHONE, PER_PHONE = "+4741234567", "+4745678901", "+4794567890"
ESCALATION = 3  # seconds (TETTPA_ESCALATION_AFTER)


class Balancer:
    """Round-robin HTTP proxy: each request goes to the next process; one that does not answer is skipped."""

    def __init__(self):
        self.targets: list[str] = []
        self.served: dict[str, int] = {}  # target -> requests it answered
        self.turn = itertools.count()
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        with self.lock:
            first = next(self.turn)
        async with httpx.AsyncClient(timeout=10) as client:
            for i in range(len(self.targets)):
                target = self.targets[(first + i) % len(self.targets)]
                try:
                    answer = await client.request(request.method, f"{target}{request.url.path}",
                                                  params=request.query_params, content=body, headers=headers)
                except httpx.HTTPError:
                    continue
                with self.lock:
                    self.served[target] = self.served.get(target, 0) + 1
                return Response(answer.content, status_code=answer.status_code,
                                media_type=answer.headers.get("content-type"))
        return Response("no process answers", status_code=502)


@pytest.fixture
def postgres_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("two processes share one database only on PostgreSQL (SQLite is for one process)")
    return database_url


@pytest.fixture
def pair(tmp_path, postgres_url):
    """Processes A and B behind the balancer, with Kari and Per (Telegram), Ola (Kari first, Per second:
    escalates after 3 s), Emma (Telegram), Nora and Jakob (SMS), and Per also by phone."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with outside({KARI: "Kari", PER: "Per", OLA: "Ola", EMMA: "Emma"}) as world:
        balancer = Balancer()
        with BackgroundServer(balancer.app) as proxy:
            # The scheduler lease shortened from 30 s (renewed every 10 s) so the freeze test waits 10 s, not
            # 30 s, for the frozen holder's lease to run out; a renewal every 2 s still leaves 8 s of slack.
            settings = {"telegram_updates": "webhook", "escalation_after": f"{ESCALATION}s",
                        "scheduler_lease": "10s", "scheduler_lease_renew": "2s"}
            a = deployment(tmp_path / "a", postgres_url, world, public_url=proxy.url, process=True, **settings)
            b = deployment(tmp_path / "b", postgres_url, world, public_url=proxy.url, process=True, **settings)
            world.tw.callback_rewrite = None  # the stand-in reaches the balancer itself
            balancer.targets = [a.url, b.url]
            people = Roster(postgres_url)
            kari = people.worker("Kari Nordmann")
            per = people.worker("Per Hansen", PER_PHONE)
            ola = people.youth("Ola Berg", kari, secondary=per)
            emma = people.youth("Emma Moe", kari)
            people.youth("Nora Lie", kari, phone=NORA_PHONE)
            people.youth("Jakob Vik", per, phone=JAKOB_PHONE)
            a.start()
            b.start()
            try:
                link(a, world.tg, [(kari, KARI), (per, PER), (ola, OLA), (emma, EMMA)])
                yield Pair(world, a, b, proxy.url, people, {"ola": ola["id"], "emma": emma["id"]}, balancer)
            finally:
                a.stop()
                b.stop()
                people.close()


@dataclass
class Pair:
    world: Outside
    a: Deployment
    b: Deployment
    public: str
    people: Roster
    ids: dict[str, int]
    balancer: Balancer

    def wake(self, youth: str, seconds: float) -> None:
        """A daily wake-up for the youth, due in about `seconds` (as `tettpa wakeup add` makes it)."""
        service = self.people.service
        due = datetime.fromtimestamp(int(time.time() + seconds) + 1, UTC).astimezone(service.settings.tz)
        with service.tx() as session:
            wakeups.add_plan(session, service, youth_id=self.ids[youth], at=due.strftime("%H:%M:%S"),
                             days="daily", start=due.date(), end=due.date())


turns = itertools.count()


def sms_to_either(processes: list[Deployment], world, public: str, from_: str, body: str, sid: str) -> None:
    """Twilio posts to one process, then the next; a process that is down is passed over (same MessageSid)."""
    start = next(turns)

    def taken() -> bool:
        for i in range(len(processes)):
            d = processes[(start + i) % len(processes)]
            try:
                response = tw.inbound_sms(f"{d.url}/twilio/sms", f"{public}/twilio/sms", world.tw.auth_token,
                                          from_=from_, to=SERVICE_NUMBER, body=body, message_sid=sid,
                                          account_sid=world.tw.account_sid)
                if response.status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        return False

    wait_until(taken, 60, f"a process to take {sid}", interval=0.2)


def leaders(*processes: Deployment) -> list[str]:
    found = []
    for d in processes:
        if d.process is None:
            continue
        try:
            found.append(health(d)["scheduler"])
        except httpx.HTTPError:
            found.append("down")
    return found


def handled(d: Deployment) -> int:
    """Inbound items this process has handled since it started (its /metrics counter)."""
    metrics = httpx.get(f"{d.url}/metrics", timeout=5).text
    (line,) = [x for x in metrics.splitlines() if x.startswith("tettpa_messages_in_total ")]
    return int(float(line.split()[1]))


def count(world, chat: int, text: str) -> int:
    return sum(text in t for t in texts(world.tg.sent_to(chat)))


def sms_count(world, number: str, text: str) -> int:
    return sum(text in body for body in world.tw.sms_to(number))


def is_holiday_today() -> bool:
    from zoneinfo import ZoneInfo

    from bot.office_hours import public_holiday_name

    return public_holiday_name(datetime.now(ZoneInfo("Europe/Oslo")).date()) is not None


def traffic(world, processes, public, label: str, n: int = 4) -> list[str]:
    """Emma (Telegram) and Nora and Jakob (SMS) write n messages each; the workers answer each once."""
    tg = world.tg
    marks = []
    for i in range(n):
        for who in ("emma", "nora", "jakob"):
            mark = f"[{label}-{who}-{i}]"
            marks.append(mark)
            if who == "emma":
                tg.user_sends(EMMA, f"hei {mark}")
            else:
                phone = NORA_PHONE if who == "nora" else JAKOB_PHONE
                sms_to_either(processes, world, public, phone, f"hei {mark}", "SM" + uuid.uuid5(uuid.NAMESPACE_URL,
                                                                                             mark).hex)
    # Kari has Emma and Nora (Telegram); Per has Jakob (Telegram too, since he linked it).
    for mark in marks:
        worker = PER if "jakob" in mark else KARI
        wait_until(lambda m=mark, w=worker: count(world, w, m), 90, f"{mark} at its worker")
        relay = next(m for m in tg.sent_to(worker) if mark in m.get("text", ""))
        tg.user_sends(worker, f"svar {mark}", reply_to_message_id=relay["message_id"])
    return marks


def check_once(world, marks: list[str]) -> None:
    tg = world.tg
    for mark in marks:
        worker = PER if "jakob" in mark else KARI
        youth_count = (count(world, EMMA, f"svar {mark}") if "emma" in mark
                       else sms_count(world, NORA_PHONE if "nora" in mark else JAKOB_PHONE, f"svar {mark}"))
        assert count(world, worker, mark) == 1, f"{mark} reached its worker {count(world, worker, mark)} times"
        assert youth_count == 1, f"the answer to {mark} reached the youth {youth_count} times"
    assert not any("Svar på en videresendt melding" in t for t in texts(tg.sent_to(KARI)) + texts(tg.sent_to(PER)))


def wait_answers(world, marks: list[str]) -> None:
    for mark in marks:
        if "emma" in mark:
            wait_until(lambda m=mark: count(world, EMMA, f"svar {m}"), 90, f"the answer to {mark}")
        else:
            phone = NORA_PHONE if "nora" in mark else JAKOB_PHONE
            wait_until(lambda m=mark, p=phone: sms_count(world, p, f"svar {m}"), 90, f"the answer to {mark}")


def test_it_delivers_once_from_two_processes_and_hands_the_scheduler_over_when_its_holder_dies(pair):
    world, a, b, public = pair.world, pair.a, pair.b, pair.public
    tg = world.tg
    processes = [a, b]
    wait_until(lambda: sorted(leaders(a, b)) == ["leader", "standby"], 30, "one leader and one standby")

    # Messages in through either process, answers back, each once; both processes took their share.
    marks = traffic(world, processes, public, "før")
    wait_answers(world, marks)
    assert handled(a) > 0 and handled(b) > 0
    assert pair.balancer.served.get(a.url, 0) > 0 and pair.balancer.served.get(b.url, 0) > 0  # webhooks to both

    # Escalation: Ola writes, nobody answers; Per gets it once after 3 s, marked.
    for i in range(3):
        tg.user_sends(OLA, f"er det noen der [esk-før-{i}]")
    for i in range(3):
        wait_until(lambda i=i: count(world, PER, f"[esk-før-{i}]"), 30, "the escalation at Per")
    # A wake-up for Emma in a few seconds: the leader sends it, once.
    holiday = is_holiday_today()
    pair.wake("emma", 6)

    # Kill the scheduler's holder; the other takes over.
    (leader,) = [d for d in processes if health(d)["scheduler"] == "leader"]
    (other,) = [d for d in processes if d is not leader]
    killed = time.monotonic()
    leader.kill()
    wait_until(lambda: health(other)["scheduler"] == "leader", 60, "the other process to take the scheduler")
    takeover = time.monotonic() - killed
    print(f"scheduler taken over {takeover:.1f} s after the leader was killed")
    assert takeover < 60

    # While one process is down, everything still arrives once; escalations and a wake-up too.
    marks_after = traffic(world, processes, public, "etter")
    for i in range(3):
        tg.user_sends(OLA, f"fortsatt ingen svar [esk-etter-{i}]")
    pair.wake("ola", 8)
    for i in range(3):
        wait_until(lambda i=i: count(world, PER, f"[esk-etter-{i}]"), 90, "the escalation at Per")
    wait_answers(world, marks_after)

    # The killed process comes back as a standby: still exactly one leader.
    start_patiently(leader)
    wait_until(lambda: sorted(leaders(a, b)) == ["leader", "standby"], 30, "one leader again")
    assert health(other)["scheduler"] == "leader"
    if not holiday:
        wait_until(lambda: count(world, EMMA, "God morgen") and count(world, OLA, "God morgen"), 60, "wake-ups")
    a.settle(90)
    b.settle(90)  # every update and SMS handled, every send done: nothing more is on its way

    check_once(world, marks + marks_after)
    for tag in [f"[esk-før-{i}]" for i in range(3)] + [f"[esk-etter-{i}]" for i in range(3)]:
        assert count(world, KARI, tag) == 1 and count(world, PER, tag) == 1, f"{tag} not escalated exactly once"
    assert all("Ubesvart" in t for t in texts(tg.sent_to(PER)) if "[esk-" in t)
    expected = 0 if holiday else 1
    assert count(world, EMMA, "God morgen") == expected and count(world, OLA, "God morgen") == expected
    assert tg.pending_updates() == []


def test_it_keeps_one_scheduler_when_its_holder_freezes_and_wakes_up_again(pair):
    """SIGSTOP: the holder is alive (its pid exists) but silent, so the other must wait out the lease TTL.
    When the frozen one resumes, it must stand down rather than run a second scheduler."""
    world, a, b = pair.world, pair.a, pair.b
    tg = world.tg
    wait_until(lambda: sorted(leaders(a, b)) == ["leader", "standby"], 30, "one leader and one standby")
    (leader,) = [d for d in (a, b) if health(d)["scheduler"] == "leader"]
    (other,) = [d for d in (a, b) if d is not leader]
    holiday = is_holiday_today()
    # Due while the leader is frozen: only the process that takes over can send it.
    pair.wake("emma", 12)
    frozen = time.monotonic()
    leader.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: health(other)["scheduler"] == "leader", 60, "the other process to take the scheduler")
        takeover = time.monotonic() - frozen
        print(f"scheduler taken over {takeover:.1f} s after the leader froze")
        assert takeover < 60
        tg.user_sends(OLA, "mens den ene sover [esk-frossen]")
        wait_until(lambda: count(world, PER, "[esk-frossen]"), 90, "the escalation at Per")
    finally:
        leader.process.send_signal(signal.SIGCONT)
    # The woken process notices it lost the lease at its next renewal and stands down.
    wait_until(lambda: sorted(leaders(a, b)) == ["leader", "standby"], 30, "the woken process to stand down")
    assert health(other)["scheduler"] == "leader"
    if not holiday:
        wait_until(lambda: count(world, EMMA, "God morgen"), 60, "the wake-up")
    a.settle(90)
    b.settle(90)  # every update and SMS handled, every send done: nothing more is on its way
    assert count(world, EMMA, "God morgen") == (0 if holiday else 1)
    assert count(world, KARI, "[esk-frossen]") == 1 and count(world, PER, "[esk-frossen]") == 1
