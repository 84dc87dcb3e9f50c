"""What a month's PDF export does to the event loop, and what 2,000 wake-up plans cost it.

    .venv/bin/python -m bench.export_loop_lag [--entries 100000] [--runs 5] [--plans 2000] [--database-url URL]

Part 1, the export: the database of bench/dashboard_timeline.py (one youth with `--entries` entries over two
years, twenty others with 5,000 each, SQLite unless --database-url). The dashboard runs on an event loop
(Starlette through httpx's ASGI transport, the same loop), logged in as a coordinator; beside it on that loop
run what `tettpa serve` runs all the time: bot.loops.LoopLag (the tettpa_event_loop_lag_seconds gauge), and
a writer that commits a small write transaction every 50 ms through Service.write (as the intake and the
outbox do). A month's PDF export (about 4,000 entries) is requested `--runs` times. Printed: the export's
time, the event loop's worst lag during it (goal: under 100 ms) against its worst lag at rest, and how long
the writer's transactions took during the export (the export must not hold the write lock).

Part 2, the scheduler: `--plans` wake-up plans, the scheduler built as in `tettpa serve` and running as
leader for 20 s: the loop's worst lag (the old per-plan job sync cost 34-186 ms of loop time every 5 s).

Results go to stdout and bench/results/export_loop_lag-<db>.json; docs/PERFORMANCE.md has them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from starlette.applications import Starlette

from bench.dashboard_timeline import EMAIL, PASSWORD, build
from bot.loops import LoopLag
from handlers.web import auth as web_auth
from handlers.web import dashboard, dashboard_export
from models import kv

RESULTS = Path(__file__).parent / "results"


class Writer:
    """A small write transaction every `every` seconds, through a worker thread: how long each took."""

    def __init__(self, service, every: float = 0.05):
        self.service, self.every, self.took = service, every, []

    async def run(self) -> None:
        n = 0
        while True:
            n += 1
            began = time.perf_counter()
            await self.service.write(lambda session, n=n: kv.put(session, "bench_writer", str(n)))
            self.took.append((time.perf_counter(), time.perf_counter() - began))
            await asyncio.sleep(self.every)


async def _login(http: httpx.AsyncClient) -> None:
    form = (await http.get("/login")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    response = await http.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf": csrf})
    assert response.status_code == 303, response.text


def _worst(samples: list[tuple[float, float]], start: float, end: float) -> float:
    return max((lag for at, lag in samples if start <= at <= end), default=0.0)


async def export_part(service, youth: int, runs: int) -> dict:
    from types import SimpleNamespace

    app = Starlette(routes=dashboard.routes + dashboard_export.routes + web_auth.routes)
    app.state.runtime = SimpleNamespace(service=service)
    loop = asyncio.get_running_loop()
    lag = LoopLag(every=0.01, window=3600)
    samples: list[tuple[float, float]] = []
    record = lag.record
    lag.record = lambda value, now: (samples.append((time.perf_counter(), value)), record(value, now))
    writer = Writer(service)
    tasks = [loop.create_task(lag.run()), loop.create_task(writer.run())]
    year_ago = (datetime.now(UTC) - timedelta(days=365)).date()
    path = f"/dashboard/youth/{youth}/export.pdf?from={year_ago}&until={year_ago + timedelta(days=30)}"
    transport = httpx.ASGITransport(app=app)
    exports = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as http:
        await _login(http)
        response = await http.get(path)  # warm-up: fonts, templates
        assert response.status_code == 200, response.status_code
        rest_from = time.perf_counter()
        await asyncio.sleep(3)
        rest = (rest_from, time.perf_counter())
        for _ in range(runs):
            began = time.perf_counter()
            response = await http.get(path)
            ended = time.perf_counter()
            assert response.status_code == 200 and response.content.startswith(b"%PDF")
            exports.append((began, ended, len(response.content)))
            await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with service.reading() as session:
        from sqlalchemy import func, select

        from models.contact_log import ContactLog
        start = datetime.combine(year_ago, datetime.min.time(), tzinfo=service.settings.tz)
        entries = session.execute(select(func.count()).select_from(ContactLog).where(
            ContactLog.youth_id == youth, ContactLog.at >= start, ContactLog.at < start + timedelta(days=31))).scalar()
    lags = [_worst(samples, b, e) for b, e, _ in exports]
    writes = [max((took for at, took in writer.took if b <= at <= e + 0.2), default=0.0) for b, e, _ in exports]
    return {
        "entries_in_month": entries,
        "export_s": [round(e - b, 2) for b, e, _ in exports],
        "pdf_bytes": exports[-1][2],
        "loop_lag_during_export_max_ms": round(max(lags) * 1000, 1),
        "loop_lag_during_export_median_ms": round(statistics.median(lags) * 1000, 1),
        "loop_lag_at_rest_ms": round(_worst(samples, *rest) * 1000, 1),
        "write_during_export_max_ms": round(max(writes) * 1000, 1),
    }


async def scheduler_part(service, plans: int, seconds: float = 20.0) -> dict:
    from bot import roster
    from scheduling import jobs, wakeups
    from scheduling.scheduler import build_scheduler

    kw = {"now": service.now(), "secret_key": service.settings.secret_key}
    with service.tx() as session:
        worker = roster.add_worker(session, name="Vekker", **kw).person
        youths = [roster.add_youth(session, name=f"Vekket {i}", primary=worker.id, **kw).person for i in range(plans)]
        for i, youth in enumerate(youths):  # spread over the morning, none due now
            wakeups.add_plan(session, service, youth_id=youth.id, at=f"{5 + i % 4:02d}:{i % 60:02d}",
                             start=date.today() + timedelta(days=3))
    scheduler = build_scheduler(service)
    jobs.rebuild(scheduler, service)
    lag = LoopLag(every=0.01, window=3600)
    task = asyncio.get_running_loop().create_task(lag.run())
    scheduler.start()
    plan_job = scheduler.get_job("schedules:plan")
    began = time.perf_counter()
    await plan_job.func(*plan_job.args)  # the per-minute planning, once within the window
    plan_s = time.perf_counter() - began
    await asyncio.sleep(seconds)
    scheduler.shutdown(wait=False)
    task.cancel()
    return {"plans": plans, "seconds": seconds, "loop_lag_max_ms": round(lag.worst_ever * 1000, 1),
            "plan_job_s": round(plan_s, 3), "jobs": len(scheduler.get_jobs())}


def run(database_url: str, entries: int, runs: int, plans: int) -> dict:
    name = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    print(f"{name}: building the database ...", flush=True)
    service, youth = build(database_url, entries)
    export = asyncio.run(export_part(service, youth, runs))
    print(f"  PDF export of one month ({export['entries_in_month']} entries): {export['export_s']} s; event loop lag "
          f"during it max {export['loop_lag_during_export_max_ms']} ms (median of runs "
          f"{export['loop_lag_during_export_median_ms']} ms; at rest {export['loop_lag_at_rest_ms']} ms); "
          f"a write meanwhile took at most {export['write_during_export_max_ms']} ms", flush=True)
    sched = asyncio.run(scheduler_part(service, plans))
    print(f"  scheduler with {sched['plans']} plans, {sched['jobs']} jobs, {sched['seconds']:.0f} s as leader: "
          f"event loop lag max {sched['loop_lag_max_ms']} ms; the planning job took {sched['plan_job_s']} s "
          f"in a worker thread", flush=True)
    service.engine.dispose()
    return {"database": name, "entries_for_youth": entries, "runs": runs, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "export": export, "scheduler": sched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plans", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        report = run(args.database_url, args.entries, args.runs, args.plans)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            report = run(f"sqlite:///{tmp}/bench.db", args.entries, args.runs, args.plans)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"export_loop_lag-{report['database']}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
