"""Crash safety, for real: youths write by Telegram and SMS, workers answer, wake-ups and meeting reminders
fall due, while the test kills `tettpa serve` with SIGKILL at random moments and starts it again.

At the end every message reached its worker exactly once, every answer its youth exactly once, and every
wake-up and reminder went out exactly once. The one allowance is the one the issue makes: a send that was
in flight at a kill may arrive twice, at most TELEGRAM_WINDOW (4) per kill. The service keeps to that
because Twilio is asked, after a kill, what it took (so an SMS or a call never arrives twice) and Telegram
messages go in at most TELEGRAM_WINDOW lanes, one send at a time each (so a kill catches at most that many
in flight). The test checks that no SMS or call arrived twice, that each Telegram duplicate was queued
before a kill and sent after it, that no message came more often than the kills it lived through allow,
that no kill alone explains more than TELEGRAM_WINDOW repeats, and that there were no more duplicates than
TELEGRAM_WINDOW per kill in the round.

One round is TETTPA_TEST_CRASH_MESSAGES (default 6, `make soak` 10) messages from each of 20 youths (10 on
Telegram, 10 by SMS) to five workers (four on Telegram, one by SMS only), as many answers, 5 wake-ups and
4 reminders, and TETTPA_TEST_CRASH_KILLS (default 4) random kills in the first 40 s plus one kill across
the wake-ups' and reminders' time. TETTPA_TEST_CRASH_ROUNDS runs more rounds against the same service; TETTPA_TEST_CRASH_SEED replays a run (the seed is printed, and named in every
failure); TETTPA_TEST_CRASH_SIGNAL=SIGABRT with PYTHONFAULTHANDLER=1 kills with a stack dump in serve.log."""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot import roster
from bot.office_hours import public_holiday_name
from bot.out.outbox import TELEGRAM_WINDOW
from bot.service import Service
from models import crypto
from models.db import make_engine
from models.inbound import Inbound
from models.migrate import upgrade
from models.outbox import FAILED, Outbox
from scheduling import meetings, wakeups
from tests.conftest import TEST_DATA_KEY, make_settings
from tests.reliability import (
    SECRET,
    assert_not_logged,
    deployment,
    health,
    outside,
    sms,
    start_patiently,
    wait_until,
)

ROUNDS = int(os.environ.get("TETTPA_TEST_CRASH_ROUNDS", "1"))
KILLS = int(os.environ.get("TETTPA_TEST_CRASH_KILLS", "4"))
SEED = int(os.environ.get("TETTPA_TEST_CRASH_SEED") or random.SystemRandom().randrange(2**31))
# SIGKILL; to see where each killed process was, SIGABRT with PYTHONFAULTHANDLER=1 (stacks go to serve.log).
KILL_SIGNAL = getattr(signal, os.environ.get("TETTPA_TEST_CRASH_SIGNAL", "SIGKILL"))

TG_WORKERS = {501: "Kari Nordmann", 502: "Per Hansen", 503: "Anne Moe", 504: "Tor Vik"}
SMS_WORKER = ("Liv Strand", "+4795000001")
FIRST_NAMES = ["Ola", "Emma", "Noah", "Nora", "Jakob", "Sara", "Lucas", "Ella", "Filip", "Maja",
               "Henrik", "Ingrid", "Oskar", "Tiril", "Aksel", "Frida", "Magnus", "Ida", "Elias", "Selma"]
TG_YOUTHS = {601 + i: f"{FIRST_NAMES[i]} Berg" for i in range(10)}
SMS_YOUTHS = {f"+474100{i:04d}": f"{FIRST_NAMES[10 + i]} Lie" for i in range(10)}
# Messages per youth per round, 7 s apart: 6 make a round of 42 s, so the kills in its first 40 s all meet
# traffic; the soak sends 10 (70 s) a round.
PER_YOUTH = int(os.environ.get("TETTPA_TEST_CRASH_MESSAGES", "6"))
SPACING = 7.0  # seconds between one youth's messages, so no minute ever holds more than 10 of them
EVENT_AT = 22.0  # seconds into a round: wake-ups and reminders fall due, across a kill
WORDS = ["skolen", "bussen", "mamma", "trening", "lekser", "jobben", "timen", "prøven", "maten", "kvelden"]

MARK = re.compile(r"\[([msr])(\d{4})\]")


@dataclass
class People:
    workers: dict[int, dict] = field(default_factory=dict)  # person id -> {"name", "tg" | "phone"}
    youths: dict[int, dict] = field(default_factory=dict)  # person id -> {"name", "tg" | "phone", "worker"}
    codes: list[tuple[str, int]] = field(default_factory=list)  # (invite code, telegram user) to link


def populate(service: Service) -> People:
    """The roster, written straight into the service's database (the CLI takes seconds a call)."""
    people = People()
    kw = {"now": service.now(), "secret_key": SECRET}
    with service.tx() as session:
        workers = []
        for tg, name in TG_WORKERS.items():
            invited = roster.add_worker(session, name=name, **kw)
            people.workers[invited.person.id] = {"name": name, "tg": tg}
            people.codes.append((invited.code, tg))
            workers.append(invited.person.id)
        liv = roster.add_worker(session, name=SMS_WORKER[0], phone=SMS_WORKER[1], **kw).person
        people.workers[liv.id] = {"name": SMS_WORKER[0], "phone": SMS_WORKER[1]}
        workers.append(liv.id)
        youths = [("tg", tg, name) for tg, name in TG_YOUTHS.items()] + \
                 [("phone", phone, name) for phone, name in SMS_YOUTHS.items()]
        for index, (kind, address, name) in enumerate(youths):
            worker = workers[index % len(workers)]
            invited = roster.add_youth(session, name=name, primary=worker,
                                       phone=address if kind == "phone" else None, **kw)
            people.youths[invited.person.id] = {"name": name, kind: address, "worker": worker}
            if kind == "tg":
                people.codes.append((invited.code, address))
    return people


class Run:
    """One service under fire: traffic, workers answering, and a killer, each in its own thread."""

    def __init__(self, d, world, people: People, service: Service, rng: random.Random, label: str):
        self.d, self.world, self.people, self.service, self.rng = d, world, people, service, rng
        self.label = label
        self.sms_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="twilio")
        self.errors: list[BaseException] = []
        self.kills: list[tuple[float, float]] = []  # (killed at, answering again at), wall clock
        self.sent: dict[int, tuple[int, float]] = {}  # message number -> (youth id, sent at)
        self.answered: set[int] = set()
        self.next_number = 0
        self.woken_before: Counter = Counter()
        self.stop = threading.Event()

    # -- the people ---------------------------------------------------------------------------------

    def traffic(self, start: float, numbers: list[tuple[float, int, int]]) -> None:
        """Each youth writes at its times; an SMS is posted until the service has taken it."""
        for at, youth_id, number in numbers:
            time.sleep(max(0.0, start + at - time.time()))
            youth = self.people.youths[youth_id]
            text = f"[m{number:04d}] hei, det gjelder {self.rng.choice(WORDS)}"
            self.sent[number] = (youth_id, time.time())
            if "tg" in youth:
                self.world.tg.user_sends(youth["tg"], text)
            else:
                self.sms_pool.submit(self._sms, youth["phone"], text, f"SM{number:032d}")

    def _sms(self, phone: str, text: str, sid: str) -> None:
        try:
            response = sms(self.d.url, self.world, phone, text, sid=sid, patient=240)
            assert response.status_code == 200, response.status_code
        except BaseException as exc:  # reported by the test thread
            self.errors.append(exc)

    def workers_answer(self) -> None:
        """Each worker answers every relay once: Telegram workers with Reply, Liv with the SMS tag."""
        tg, twilio = self.world.tg, self.world.tw
        while not self.stop.is_set():
            for tg_id in TG_WORKERS:
                for message in tg.sent_to(tg_id):
                    for kind, number in MARK.findall(message.get("text", "")):
                        if kind == "m" and int(number) not in self.answered:
                            self.answered.add(int(number))
                            tg.user_sends(tg_id, f"svar [s{number}]", reply_to_message_id=message["message_id"])
            for body in twilio.sms_to(SMS_WORKER[1]):
                tag = re.match(r"#(\d+) ", body)
                for kind, number in MARK.findall(body):
                    if kind == "m" and tag and int(number) not in self.answered:
                        self.answered.add(int(number))
                        self.sms_pool.submit(self._sms, SMS_WORKER[1], f"#{tag.group(1)} svar [s{number}]",
                                             f"SM{9_000_000 + int(number):032d}")
            time.sleep(0.2)

    def killer(self, start: float, plan: list[tuple[float, float]]) -> None:
        for at, down in plan:
            time.sleep(max(0.0, start + at - time.time()))
            killed = time.time()
            self.d.stop(KILL_SIGNAL)
            time.sleep(down)
            start_patiently(self.d)
            self.kills.append((killed, time.time()))

    # -- a round --------------------------------------------------------------------------------------

    def round(self, number: int) -> dict:
        rng = self.rng
        start = time.time() + 1.0
        schedule = []
        for youth_id in self.people.youths:
            first = rng.uniform(0, SPACING)
            for k in range(PER_YOUTH):
                schedule.append((first + k * SPACING + rng.uniform(0, 0.4), youth_id, self.next_number))
                self.next_number += 1
        schedule.sort()
        numbers = [n for _, _, n in schedule]
        self.woken_before = Counter()
        self.woken_before = self.seen()["w"]  # wake-ups of earlier rounds
        due = math.ceil(start + EVENT_AT)  # a whole second: a wake-up's time has no fractions
        events = self.plan_events(due, number)
        plan = self.kill_plan(rng, due - start)
        print(f"[{self.label}] round {number}: seed {SEED}, kills at {[(round(a, 1), round(d, 1)) for a, d in plan]}")
        threads = [threading.Thread(target=self._guard(self.traffic), args=(start, schedule), name="traffic"),
                   threading.Thread(target=self._guard(self.killer), args=(start, plan), name="killer")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        self.raise_errors()
        try:
            wait_until(lambda: not self.missing(numbers, events), 240, "every relay, answer, wake-up and reminder",
                       interval=0.5)
        except AssertionError as exc:
            missing = self.missing(numbers, events)
            raise AssertionError(f"{exc}; missing {missing} (seed {SEED}); {self.diagnose(missing[:6])}") from None
        self.d.settle(120)  # everything stored is handled and every send done: no late duplicate can come
        return self.check(numbers, events, number, start)

    def kill_plan(self, rng: random.Random, event: float) -> list[tuple[float, float]]:
        """KILLS random moments in the first 40 s, at least 5 s apart, plus one across the event: the
        service dies shortly before the wake-ups' and reminders' time and is back only after it."""
        across = (event - rng.uniform(0.5, 1.5), rng.uniform(2.5, 3.5))
        moments: list[float] = []
        while len(moments) < KILLS:
            at = rng.uniform(2.0, 40.0)
            if all(abs(at - m) > 5.0 for m in [*moments, across[0]]):
                moments.append(at)
        return sorted([(m, rng.uniform(0.0, 2.0)) for m in moments] + [across])

    def plan_events(self, due: int, round_number: int) -> dict:
        """Wake-ups for five youths and meeting reminders for four, all due at `due`."""
        at = datetime.fromtimestamp(due, UTC)
        local = at.astimezone(self.service.settings.tz)
        youths = list(self.people.youths)
        woken = youths[round_number % 10:][:3] + youths[10 + round_number % 10:][:2]
        reminded = [y for y in youths[3:5] + youths[15:17]]
        reminder_marks = {}
        with self.service.tx() as session:
            for youth_id in woken:
                channel = "telegram" if "tg" in self.people.youths[youth_id] else "sms"
                wakeups.add_plan(session, self.service, youth_id=youth_id, at=local.strftime("%H:%M:%S"),
                                 days="daily", channel=channel, start=local.date(), end=local.date())
            for index, youth_id in enumerate(reminded):
                mark = 10 * round_number + index
                meetings.add_meeting(session, self.service, youth_id=youth_id,
                                     worker_id=self.people.youths[youth_id]["worker"], at=at + timedelta(minutes=10),
                                     place=f"kontoret [r{mark:04d}]", remind="10m")
                reminder_marks[mark] = youth_id
        holiday = public_holiday_name(local.date())
        return {"woken": {y: (0 if holiday else 1) for y in woken}, "reminders": reminder_marks,
                "holiday": holiday}

    # -- what arrived ---------------------------------------------------------------------------------

    def seen(self) -> dict[str, Counter]:
        """Every mark seen at the stand-ins, by kind: m (relays), s (answers), r (reminders), w (wake-ups)."""
        tg, twilio = self.world.tg, self.world.tw
        found = {"m": Counter(), "s": Counter(), "r": Counter(), "w": Counter(), "where": {}}
        inboxes = [(info, tg.sent_to(info["tg"]) if "tg" in info else twilio.wait_sms(info["phone"], 0))
                   for info in [*self.people.workers.values(), *self.people.youths.values()]]
        for person_id, info in self.people.youths.items():
            box = tg.sent_to(info["tg"]) if "tg" in info else twilio.wait_sms(info["phone"], 0)
            woken = sum((m.get("text") or m.get("body") or "").startswith("God morgen") for m in box)
            found["w"][person_id] = woken - self.woken_before[person_id]
        for info, box in inboxes:
            for message in box:
                text = message.get("text") or message.get("body") or ""
                for kind, number in MARK.findall(text):
                    found[kind][int(number)] += 1
                    found["where"].setdefault((kind, int(number)), []).append(info["name"])
        return found

    def missing(self, numbers: list[int], events: dict) -> list[str]:
        seen = self.seen()
        return ([f"[{kind}{n:04d}]" for n in numbers for kind in "ms" if not seen[kind][n]]
                + [f"[r{mark:04d}]" for mark in events["reminders"] if not seen["r"][mark]]
                + [f"wake-up {y}" for y, want in events["woken"].items() if seen["w"][y] < want])

    def check(self, numbers: list[int], events: dict, round_number: int, start: float) -> dict:
        seen = self.seen()
        where = seen["where"]
        copies: dict[str, int] = {}  # what arrived more than once -> how many times
        for n in numbers:
            youth = self.people.youths[self.sent[n][0]]
            worker = self.people.workers[youth["worker"]]["name"]
            assert set(where[("m", n)]) == {worker}, f"[m{n:04d}] went to {where[('m', n)]}, not {worker} (seed {SEED})"
            assert set(where[("s", n)]) == {youth["name"]}, f"answer [s{n:04d}] went to {where[('s', n)]}"
            copies.update({f"[{kind}{n:04d}]": seen[kind][n] for kind in "ms" if seen[kind][n] > 1})
        for mark, youth_id in events["reminders"].items():
            assert set(where[("r", mark)]) == {self.people.youths[youth_id]["name"]}
            copies.update({f"[r{mark:04d}]": seen["r"][mark]} if seen["r"][mark] > 1 else {})
        for youth_id, want in events["woken"].items():
            assert seen["w"][youth_id] >= want, f"no wake-up for {youth_id} (seed {SEED})"
            copies.update({f"wake:{youth_id}": seen["w"][youth_id]} if seen["w"][youth_id] > max(want, 1) else {})
        in_flight = self.in_flight_at_kills(start)
        kills = sum(k >= start for k, _ in self.kills)
        figures = {"round": round_number, "seed": SEED, "messages": len(numbers), "answers": len(numbers),
                   "wakeups": sum(events["woken"].values()), "reminders": len(events["reminders"]),
                   "kills": kills, "in_flight_at_kills": len(in_flight), "duplicates": sorted(copies),
                   "holiday": events["holiday"]}
        print(f"[{self.label}] {json.dumps(figures)}")
        windows = []
        alone: dict[datetime, int] = defaultdict(int)  # kill -> the repeats only it can have caused
        kill_times = [datetime.fromtimestamp(k, UTC) for k, _ in self.kills if k >= start]
        for what, count in copies.items():
            rows = [row for row in in_flight if what in row["text"]]
            assert rows, f"{what} arrived {count} times but its send was not in flight at a kill (seed {SEED}): " \
                         f"{in_flight}"
            assert all(row["channel"] == "telegram" for row in rows), \
                f"{what} arrived {count} times by {rows[0]['channel']}: Twilio should have been asked (seed {SEED})"
            created, sent = min(r["created_at"] for r in rows), min(r["sent_at"] for r in rows)
            caught = [k for k in kill_times if created <= k <= sent]
            # A kill repeats a send in flight once: a send caught by two kills may come three times, never
            # more often than the kills it lived through.
            assert count - 1 <= len(caught), f"{what} arrived {count} times across {len(caught)} kills (seed {SEED})"
            windows.append((sent, created, what, count))
            if len(caught) == 1:
                alone[caught[0]] += count - 1
        # Each kill repeats at most the TELEGRAM_WINDOW Telegram sends in flight: counted for each kill that
        # alone explains its repeats, and over the round.
        assert all(n <= TELEGRAM_WINDOW for n in alone.values()), \
            f"a kill repeated more than {TELEGRAM_WINDOW} sends (seed {SEED}): {dict(alone)} {windows}"
        extra = sum(count - 1 for count in copies.values())
        figures["repeats_per_kill_max"] = max(alone.values(), default=0)
        print(f"[{self.label}] repeats: {extra} for {kills} kills, at most {figures['repeats_per_kill_max']} by one kill")
        assert extra <= kills * TELEGRAM_WINDOW, \
            f"{extra} duplicates for {kills} kills of at most {TELEGRAM_WINDOW} (seed {SEED}): {windows}"
        self.check_store()
        return figures

    def diagnose(self, marks: list[str]) -> str:
        """Where the missing ones are stuck: their inbound and outbox rows as the database has them."""
        now = datetime.now(UTC)
        found = []
        with self.service.tx() as session:
            for item in session.exec(select(Inbound)).all():
                body = item.payload
                for mark in marks:
                    if mark.replace("[s", "[m") in body or mark in body:
                        found.append(f"inbound {item.id} {item.key} processed={item.processed_at} "
                                     f"attempts={item.attempts} error={item.error}")
            for row in session.exec(select(Outbox)).all():
                text = json.loads(row.payload).get("text") or ""
                for mark in marks:
                    if mark in text or mark.replace("[s", "[m") in text:
                        found.append(f"outbox {row.id} {row.key} {row.status} attempts={row.attempts} "
                                     f"due={row.due_at} lease={row.lease_until} error={row.error}")
        found.append(f"now={now} kills={[datetime.fromtimestamp(k, UTC).isoformat() for k, _ in self.kills[-6:]]}")
        found.append(f"pending at Telegram: {len(self.world.tg.pending_updates())}")
        return "\n".join(found)

    def in_flight_at_kills(self, since: float) -> list[dict]:
        """Sends queued before a kill of this round and recorded as sent only after it, taken again by the
        next process: what a kill may have caught in flight. Each with its text (and, for wake-ups,
        "wake:<youth id>"), channel, and when it was queued and sent."""
        kills = [datetime.fromtimestamp(k, UTC) for k, _ in self.kills if k >= since]
        found = []
        with self.service.tx() as session:
            for row in session.exec(select(Outbox).where(Outbox.attempts > 1)).all():
                if row.sent_at and any(row.created_at <= k <= row.sent_at for k in kills):
                    text = json.loads(row.payload).get("text") or ""
                    if row.key.startswith("wake:"):
                        text += f" wake:{row.person_id}"
                    found.append({"text": text, "channel": row.channel, "created_at": row.created_at,
                                  "sent_at": row.sent_at})
        return found

    def check_store(self) -> None:
        """Nothing left behind: every inbound item handled, nothing failed, no update left at Telegram."""
        with self.service.tx() as session:
            unhandled = session.exec(select(Inbound).where(Inbound.processed_at.is_(None))).all()
            failed = session.exec(select(Outbox).where(Outbox.status == FAILED)).all()
            assert unhandled == [], f"inbound items never handled: {[(i.key, i.error) for i in unhandled]}"
            assert failed == [], f"sends given up: {[(o.key, o.error) for o in failed]}"
        assert self.world.tg.pending_updates() == []
        assert health(self.d)["outbox_backlog"] == 0

    # -- plumbing -------------------------------------------------------------------------------------

    def _guard(self, fn):
        def run(*args):
            try:
                fn(*args)
            except BaseException as exc:
                self.errors.append(exc)
        return run

    def raise_errors(self) -> None:
        if self.errors:
            raise AssertionError(f"a helper thread failed (seed {SEED}): {self.errors[0]!r}") from self.errors[0]


def test_it_delivers_every_message_answer_wakeup_and_reminder_once_across_random_kills(tmp_path, database_url):
    label = database_url.split(":", 1)[0]
    rng = random.Random(f"{SEED}:{label}")
    print(f"[{label}] crash test seed {SEED} (replay with TETTPA_TEST_CRASH_SEED={SEED})")
    crypto.use_keys([TEST_DATA_KEY])
    engine = make_engine(database_url)
    upgrade(engine)
    service = Service(settings=make_settings(database_url, secret_key=SECRET), engine=engine)
    users = {**{tg: name.split()[0] for tg, name in TG_WORKERS.items()},
             **{tg: name.split()[0] for tg, name in TG_YOUTHS.items()}}
    with outside(users) as world:
        d = deployment(tmp_path, database_url, world, process=True)  # killed with SIGKILL: a real process
        people = populate(service)
        d.start()
        run = Run(d, world, people, service, rng, label)
        answering = threading.Thread(target=run._guard(run.workers_answer), name="workers", daemon=True)
        try:
            for tg_code, tg_id in people.codes:
                world.tg.user_sends(tg_id, f"/start {tg_code}")
            for _, tg_id in people.codes:
                world.tg.wait_sent(tg_id, 1, timeout=30)
            answering.start()
            totals = Counter()
            for number in range(ROUNDS):
                if number:
                    time.sleep(SPACING)  # one youth's last message of a round and its first of the next
                figures = run.round(number)
                totals.update({k: v for k, v in figures.items() if isinstance(v, int) and k not in ("round", "seed")})
                totals["duplicates"] += len(figures["duplicates"])
            print(f"[{label}] totals over {ROUNDS} round(s): {dict(totals)}")
            run.raise_errors()
            # Through all the restarts the log kept to its promise: no message text, no phone number.
            assert_not_logged(d, *SMS_YOUTHS, SMS_WORKER[1], "det gjelder", "svar [s", "kontoret [r")
        finally:
            run.stop.set()
            answering.join(10)
            run.sms_pool.shutdown(wait=False, cancel_futures=True)
            d.stop()
            engine.dispose()

