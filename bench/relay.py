"""Relay latency and throughput through the real service, beside a bare python-telegram-bot relay.

    .venv/bin/python -m bench.relay [--messages 1000] [--youths 100] [--workers 10] [--concurrent 20]
        [--throughput-youths 500] [--throughput-workers 50] [--no-latency] [--no-throughput] [--postgres]

Latency: `--concurrent` youths at a time each write, wait for the relay to reach the worker at the Telegram
stand-in, the worker answers it (Reply), and the youth waits for the answer; `--messages` in all, from
`--youths` youths to `--workers` workers. The stand-in runs in a process of its own, as Telegram is not
in the bot's (bench/remote_standin.py), and times are taken there, on its clock: from the youth's message
being queued as an update to the relay's sendMessage arriving, and from the worker's answer to the answer's
arrival. The same run drives a bare relay first: a minimal PTB bot (its own Updater long-polling,
concurrent updates, AIORateLimiter) that forwards each youth's text to the worker and the worker's Reply
back, through its own stand-in of the same kind; and a bare durable relay (bench/durable_relay.py), which
also writes what a relay that loses nothing must, in raw sqlite3: what durability alone costs here.

Latency is the relay's own cost, so both bots run with PTB's AIORateLimiter pacing nothing
(overall_max_rate=0): at 30 sends a second, any closed loop of youths and answers queues in the limiter
and the figure is the limiter's (measured: p50 665 ms for both bots with 20 youths at a time). Throughput
without limits likewise; with limits the service runs as configured (30/s) against a stand-in that
enforces Telegram's.

Throughput: `--throughput-youths` youths of `--throughput-workers` workers each write once, all at once;
the figure is relays reaching the workers per second, from the first to the last, with the stand-in
enforcing Telegram's limits (30/s in all, 1/s per chat, 429 with retry_after) and without; and the bare
relay the same way without limits, for what PTB alone does here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import tempfile
import threading
import uuid
from pathlib import Path

import bot.out.outbox
import bot.run.app
from bench.durable_relay import durable_bot
from bench.remote_standin import RemoteStandIn
from bot import roster
from bot.run.app import Runtime
from bot.service import Service
from bot.settings import Settings
from models import crypto
from models.db import make_engine
from models.migrate import upgrade

TOKEN = "777001:BENCH-RELAY"
WORKER_BASE, YOUTH_BASE = 1_000, 100_000
MARK = re.compile(r"\[([ms])(\d+)\]")
POSTGRES_URL = os.environ.get("TETTPA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results"


class _Unpaced:
    """Without Telegram's limits: bot.run.app's AIORateLimiter paces nothing (the outbox's gap between two
    sends to one chat is TETTPA_TELEGRAM_CHAT_GAP, set to 0 by _settings)."""

    def __init__(self, limits: bool):
        self.limits, self.original = limits, bot.run.app.AIORateLimiter

    def __enter__(self):
        if not self.limits:
            original = self.original
            bot.run.app.AIORateLimiter = lambda **kw: original(**{**kw, "overall_max_rate": 0})
        return self

    def __exit__(self, *exc):
        bot.run.app.AIORateLimiter = self.original


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _summary(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(_pct(ms, 0.99), 1),
            "max_ms": round(max(ms), 1)}


async def _drive(remote: RemoteStandIn, youths: list[int], worker_of, messages: int,
                 concurrent: int) -> tuple[list[float], list[float]]:
    """`concurrent` youths at a time write, and their worker answers each relay. Both intervals are read on
    the stand-in's clock: from the update queued to the text arriving at sendMessage."""
    there, back = [], []
    numbers = iter(range(messages))
    next_youth = iter(youths * (messages // len(youths) + 1))

    async def one_youth() -> None:
        for number in numbers:
            youth = next(next_youth)
            sent = await remote.user_sends(youth, f"Hei, kan du ringe? [m{number:05d}]")
            ((arrived, message),) = (await remote.wait(f"m{number:05d}")).values()
            there.append(arrived - sent)
            answered = await remote.user_sends(worker_of(youth), f"Ja, straks [s{number:05d}]",
                                               reply_to=message["message_id"])
            ((arrived, _),) = (await remote.wait(f"s{number:05d}")).values()
            back.append(arrived - answered)

    await asyncio.gather(*(one_youth() for _ in range(concurrent)))
    return there, back


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of this process so far: the event loop's thread (/proc) and all the others (the process's
    own total less the loop's, so threads that ended meanwhile still count)."""
    main = threading.main_thread().native_id
    with open(f"/proc/self/task/{main}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    loop = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    process = os.times()
    return {"event_loop": loop, "other_threads": process.user + process.system - loop}


async def _all_at_once(remote: RemoteStandIn, youths: list[int]) -> dict:
    """Every youth writes once, at once; when the relays arrived, from the first to the last, and the
    bot's CPU per relay from the writing to the last arrival (the stand-in's process not counted; a wider
    window than relays_per_s's, first to last arrival)."""
    before = _thread_cpu()
    start = await remote.send_many([(youth, f"Alle skriver samtidig [m{n:05d}]", None) for n, youth in enumerate(youths)])
    at = await remote.wait(*(f"m{n:05d}" for n in range(len(youths))), timeout=600)
    after = _thread_cpu()
    times = sorted(t for t, _ in at.values())
    span = times[-1] - times[0]
    return {"relays": len(youths), "first_after_s": round(times[0] - start, 2),
            "last_after_s": round(times[-1] - start, 2),
            "relays_per_s": round((len(youths) - 1) / span, 1) if span > 0 else None,
            "overall_per_s": round(len(youths) / (times[-1] - start), 1),
            # Ticks of /proc and of os.times() round apart: a thread kind with nothing to do can read -0.01.
            "cpu_ms_per_relay": {k: max(0.0, round((after[k] - before[k]) * 1000 / len(youths), 2)) for k in after}}


# -- the bare relays: PTB alone, and PTB with the least durable writes (bench/durable_relay.py) -------

@contextlib.asynccontextmanager
async def _standalone(kind: str, youths: int, workers: int):
    """The bare relay ("bare") or the bare durable relay ("durable") against a stand-in of its own:
    (the stand-in, the youths' chats, each youth's worker)."""
    youth_ids = [YOUTH_BASE + n for n in range(youths)]
    worker_of = lambda y: WORKER_BASE + (y - YOUTH_BASE) % workers  # noqa: E731
    async with RemoteStandIn(TOKEN, [*youth_ids, *(WORKER_BASE + n for n in range(workers))], limits=False) as remote:
        if kind == "bare":
            bot = _bare_bot(remote.url, worker_of)
        else:
            path = f"{tempfile.mkdtemp(prefix='tettpa-durable-')}/durable.db"
            bot = durable_bot(remote.url, TOKEN, path, {y: worker_of(y) for y in youth_ids})
        async with bot:
            yield remote, youth_ids, worker_of


async def standalone_latency(kind: str, messages: int, youths: int, workers: int, concurrent: int) -> dict:
    async with _standalone(kind, youths, workers) as (remote, youth_ids, worker_of):
        there, back = await _drive(remote, youth_ids, worker_of, messages, concurrent)
    return {"relay": _summary(there), "answer": _summary(back)}


async def standalone_throughput(kind: str, youths: int, workers: int) -> dict:
    """Every youth writing at once, without limits: what PTB alone does here ("bare"), and with the least
    durable writes ("durable")."""
    async with _standalone(kind, youths, workers) as (remote, youth_ids, _worker_of):
        await asyncio.sleep(1.0)
        return await _all_at_once(remote, youth_ids)


@contextlib.asynccontextmanager
async def _bare_bot(url: str, worker_of):
    """A minimal PTB bot (its own Updater long-polling, concurrent updates) that forwards a youth's text to
    the worker and the worker's Reply back."""
    from telegram import Update
    from telegram.ext import AIORateLimiter, Application, MessageHandler, filters

    relayed_from: dict[tuple[int, int], int] = {}  # (worker chat, message id) -> youth chat

    async def forward(update: Update, context) -> None:
        message = update.effective_message
        chat = message.chat_id
        if chat >= YOUTH_BASE:
            sent = await context.bot.send_message(worker_of(chat), message.text)
            relayed_from[(sent.chat_id, sent.message_id)] = chat
        elif message.reply_to_message is not None:
            youth = relayed_from.get((chat, message.reply_to_message.message_id))
            if youth is not None:
                await context.bot.send_message(youth, message.text)

    app = (Application.builder().token(TOKEN).base_url(f"{url}/bot")
           .base_file_url(f"{url}/file/bot")
           .rate_limiter(AIORateLimiter(max_retries=0, overall_max_rate=0))
           .concurrent_updates(True).build())
    app.add_handler(MessageHandler(filters.TEXT, forward))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


# -- the service -------------------------------------------------------------------------------------------

def _settings(database_url: str, telegram_url: str, *, limits: bool = True) -> Settings:
    return Settings(
        _env_file=None, database_url=database_url, telegram_token=TOKEN, telegram_api_url=telegram_url,
        secret_key="bench-secret-key-not-a-placeholder", data_key=crypto.new_key(), log_level="WARNING",
        escalation_after="1h", telegram_chat_gap="1s" if limits else "0s",
    )


def _roster(service: Service, youths: int, workers: int) -> None:
    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        ids = []
        for n in range(workers):
            worker = roster.add_worker(session, name=f"Arbeider Nummer{n}", **kw).person
            worker.telegram_user_id = worker.telegram_chat_id = WORKER_BASE + n
            ids.append(worker.id)
        session.flush()
        for n in range(youths):
            youth = roster.add_youth(session, name=f"Ung Nummer{n}", primary=ids[n % workers], **kw).person
            youth.telegram_user_id = youth.telegram_chat_id = YOUTH_BASE + n


class Served:
    """The real service (bot.run.app.Runtime: intake, relay, outbox, PTB) against a fresh stand-in."""

    def __init__(self, database_url: str, youths: int, workers: int, *, limits: bool):
        self.database_url, self.youths, self.workers, self.limits = database_url, youths, workers, limits
        self.youth_ids = [YOUTH_BASE + n for n in range(youths)]

    def worker_of(self, youth: int) -> int:
        return WORKER_BASE + (youth - YOUTH_BASE) % self.workers

    async def __aenter__(self):
        self.remote = await RemoteStandIn(TOKEN, [*self.youth_ids, *(WORKER_BASE + n for n in range(self.workers))],
                                          limits=self.limits).__aenter__()
        settings = _settings(self.database_url, self.remote.url, limits=self.limits)
        crypto.use_keys([settings.data_key])
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self.service = Service(settings=settings, engine=self.engine)
        _roster(self.service, self.youths, self.workers)
        self.unpaced = _Unpaced(self.limits).__enter__()
        self.runtime = Runtime(self.service)
        await self.runtime.start()
        return self

    async def __aexit__(self, *exc):
        await self.runtime.stop()
        self.unpaced.__exit__()
        self.engine.dispose()
        await self.remote.__aexit__(None, None, None)


async def served_latency(database_url: str, messages: int, youths: int, workers: int, concurrent: int) -> dict:
    async with Served(database_url, youths, workers, limits=False) as s:
        # A first message from each of a few youths outside the figures: connections, caches, PTB warm.
        there, back = await _drive(s.remote, s.youth_ids, s.worker_of, messages, concurrent)
    return {"relay": _summary(there), "answer": _summary(back)}


async def served_throughput(database_url: str, youths: int, workers: int, *, limits: bool) -> dict:
    async with Served(database_url, youths, workers, limits=limits) as s:
        await asyncio.sleep(1.0)
        result = await _all_at_once(s.remote, s.youth_ids)
        stats = await s.remote.stats()
    return {**result, "refused_429": stats["refused_429"], "refused_429_chat": stats["refused_429_chat"],
            "limits": limits,
            "sends_per_relay": round(stats["sends"] / youths, 2)}


async def _all(args, database_url: str) -> dict:
    db = database_url.split(":")[0].split("+")[0]
    report: dict = {"database": db}
    if not args.no_latency:
        report["bare"] = await standalone_latency("bare", args.messages, args.youths, args.workers, args.concurrent)
        report["load_after_bare"] = os.getloadavg()[0]
        report["durable"] = await standalone_latency("durable", args.messages, args.youths, args.workers,
                                                     args.concurrent)
        report["tettpa"] = await served_latency(database_url, args.messages, args.youths, args.workers,
                                                args.concurrent)
        report["load_after_tettpa"] = os.getloadavg()[0]
    if not args.no_throughput:
        for kind in ("bare", "durable"):
            report[f"{kind}_throughput_unlimited"] = await standalone_throughput(kind, args.throughput_youths,
                                                                                 args.throughput_workers)
        for limits in (True, False):
            url = _fresh(database_url)
            report[f"throughput_{'limited' if limits else 'unlimited'}"] = await served_throughput(
                url, args.throughput_youths, args.throughput_workers, limits=limits)
            report[f"load_throughput_{'limited' if limits else 'unlimited'}"] = os.getloadavg()[0]
    return report


_made: list[str] = []


def _fresh(database_url: str) -> str:
    """A new database of the same kind: a new SQLite file, or a new scratch PostgreSQL database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tempfile.mkdtemp(prefix='tettpa-relay-')}/bench.db"
    import psycopg

    name = f"tettpa_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _made.append(name)
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def _drop_made() -> None:
    if not _made:
        return
    import psycopg

    with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name in _made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu(result: dict) -> str:
    """A throughput run's CPU per relay as "event loop+other threads" (ms)."""
    return "+".join(str(v) for v in result["cpu_ms_per_relay"].values())


def print_goals(report: dict) -> None:
    db = report["database"]
    if "tettpa" in report:
        for part in ("relay", "answer"):
            b, t = report["bare"][part], report["tettpa"][part]
            print(f"GOAL {db} {part} latency: p50 {t['p50_ms']} ms vs bare {b['p50_ms']} ms "
                  f"({t['p50_ms'] / b['p50_ms']:.2f}x, goal <= 1.5x); p99 {t['p99_ms']} ms vs bare {b['p99_ms']} ms "
                  f"(+{t['p99_ms'] - b['p99_ms']:.1f} ms, goal <= +50 ms); n={t['n']}; "
                  f"load average {report['load_after_tettpa']:.1f}")
            if "durable" in report:
                d = report["durable"][part]
                print(f"     {db} {part} latency of the bare durable relay (bench/durable_relay.py, on SQLite, raw sqlite3, "
                      f"three transactions): p50 {d['p50_ms']} ms ({d['p50_ms'] / b['p50_ms']:.2f}x the bare relay), "
                      f"p99 {d['p99_ms']} ms; Tett pa {t['p50_ms'] / d['p50_ms']:.2f}x it")
    for name, goal in (("throughput_limited", "goal >= 28.5/s (95 % of 30/s)"),
                       ("throughput_unlimited", "goal >= 200/s")):
        if name in report:
            r = report[name]
            bare_note = ""
            if name == "throughput_unlimited" and "bare_throughput_unlimited" in report:
                bt = report["bare_throughput_unlimited"]
                bare_note = f"; the bare relay {bt['relays_per_s']} relays/s at {_cpu(bt)} ms of CPU a relay"
                if "durable_throughput_unlimited" in report:
                    dt = report["durable_throughput_unlimited"]
                    bare_note += f", the bare durable relay {dt['relays_per_s']} relays/s at {_cpu(dt)} ms"
                bare_note += f"; Tett pa at {_cpu(r)} ms (event loop + other threads)"
            print(f"GOAL {db} {name}: {r['relays_per_s']} relays/s ({goal}{bare_note}); {r['relays']} relays, last "
                  f"{r['last_after_s']} s after they wrote, 429s {r['refused_429']}, sends per relay "
                  f"{r['sends_per_relay']}; "
                  f"load average {report['load_' + name]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--youths", type=int, default=500)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--throughput-youths", type=int, default=500)
    parser.add_argument("--throughput-workers", type=int, default=50)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="also run against PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    urls = [] if args.no_sqlite else [_fresh("sqlite:")]
    try:
        if args.postgres:
            urls.append(_fresh(POSTGRES_URL))
        RESULTS.mkdir(exist_ok=True)
        for url in urls:
            report = asyncio.run(_all(args, url))
            (RESULTS / f"relay-{report['database']}.json").write_text(json.dumps(report, indent=2))
            print(json.dumps(report, indent=2))
            print_goals(report)
    finally:
        _drop_made()


if __name__ == "__main__":
    main()
