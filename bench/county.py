"""A county on one small machine: footprint of `tettpa serve` and the dashboard at that size.

    .venv/bin/python -m bench.county [--youths 5000] [--workers 100] [--plans 20000] [--entries 1000000]
        [--heavy 100000] [--idle 30] [--runs 20] [--database-url URL] [--workdir DIR]

Builds a database of `--workers` workers, `--youths` youths, `--plans` wake-up plans (spread over the
youths, weekdays, in the three hours that ended three hours before the run: none due during it) and
`--entries` contact-log entries over two years, of which `--heavy` belong to one youth (a month of his is about 4,100 entries: the heavy PDF) and the rest are spread over the
others. Then it starts the real `tettpa serve` on it (a subprocess, Telegram stand-in over HTTP) and
measures: start-up (process start to /healthz answering), CPU while idle for `--idle` seconds (nothing
due), and the dashboard over HTTP as a coordinator (server time from the Server-Timing header): the
overview, the heavy youth's and a typical youth's timeline, and a month's PDF of each. Peak memory is
the process's VmHWM at the end (the PDF is made in a spawned worker process of its own: its peak too).
Entries are inserted with their texts encrypted once per distinct text (the same Fernet tokens reused),
which is what makes a million rows quick to build; the service decrypts them as any others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
from sqlalchemy import Column, MetaData, Table, Text, insert

from bench.dashboard_timeline import EMAIL, MIX, PASSWORD, TEXTS
from bot import roster
from bot.office_hours import is_after_hours
from bot.service import Service
from bot.settings import Settings
from models import crypto
from models.contact_log import ContactLog
from models.db import make_engine
from models.migrate import upgrade
from models.schedules import WakeupPlan
from standins.server import BackgroundServer
from standins.telegram import TelegramStandIn

TOKEN = "777002:BENCH-COUNTY"
SECRET = "bench-secret-key-not-a-placeholder"
RESULTS = Path(__file__).parent / "results"
TETTPA = str(Path(sys.executable).parent / "tettpa")


def build(database_url: str, youths: int, workers: int, plans: int, entries: int, heavy: int,
          data_key: str) -> tuple[int, int]:
    """The county's database; (the heavy youth's id, a typical youth's id)."""
    settings = Settings(_env_file=None, database_url=database_url, telegram_token=TOKEN, secret_key=SECRET,
                        data_key=data_key, log_level="WARNING")
    crypto.use_keys([data_key])
    engine = make_engine(database_url)
    upgrade(engine)
    service = Service(settings=settings, engine=engine)
    kw = {"now": service.now(), "secret_key": SECRET}
    started = time.perf_counter()
    with service.tx() as session:
        coordinator = roster.add_worker(session, name="Cora Koordinator", email=EMAIL, role="coordinator", **kw).person
        roster.set_password(session, worker_id=coordinator.id, password=PASSWORD)
        worker_ids = [roster.add_worker(session, name=f"Arbeider Nummer{n}", **kw).person.id for n in range(workers)]
    youth_ids: list[int] = []
    for start in range(0, youths, 500):
        with service.tx() as session:
            for n in range(start, min(youths, start + 500)):
                youth = roster.add_youth(session, name=f"Ung Nummer{n}", primary=worker_ids[n % workers], **kw).person
                youth.telegram_user_id = youth.telegram_chat_id = 100_000 + n
                session.flush()
                youth_ids.append(youth.id)
    print(f"  {workers} workers and {youths} youths in {time.perf_counter() - started:.0f} s", flush=True)
    now = datetime.now(UTC)
    rng = random.Random(15)
    # Three hours of the clock that ended three hours before now, so nothing is due while the service is
    # measured idle (the plans were at 06:00-08:59: run then on a weekday, the service was sending their
    # wake-ups and "idle" was 6.5 % of a core). Today's are past, tomorrow's are planned at start-up, as for
    # a run in the evening; a run between 00:00 and 05:59 plans today's as well.
    first_hour = (datetime.now(service.settings.tz).hour - 6) % 24
    plan_rows = [{
        "youth_id": youth_ids[i % youths],
        "time_of_day": dtime((first_hour + rng.randrange(3)) % 24, rng.randrange(60)).isoformat(timespec="seconds"),
        "days": "mon-fri", "channel": "telegram", "active": True, "created_at": now, "updated_at": now,
    } for i in range(plans)]
    with service.tx() as session:
        session.execute(insert(WakeupPlan), plan_rows)
    # Contact log: the text column as plain text, holding tokens encrypted once per distinct text.
    tokens = [crypto.encrypt(t) for t in TEXTS]
    columns = [Column(c.name, Text if c.name == "text" else c.type) for c in ContactLog.__table__.columns
               if c.name != "id"]
    plain = Table("contact_log", MetaData(), *columns)
    weights = [m[0] for m in MIX]
    span, started = timedelta(days=730), time.perf_counter()
    others = youth_ids[1:]
    per_other = (entries - heavy) / max(1, len(others))

    def rows():
        for i in range(heavy):
            yield youth_ids[0], now - span + span * (i / heavy)
        for i in range(entries - heavy):
            yield others[int(i / per_other) % len(others)], now - span * rng.random()

    batch = []
    for youth_id, at in rows():
        _, kind, channel, party, direction = rng.choices(MIX, weights)[0]
        batch.append({"at": at, "youth_id": youth_id, "party": party, "channel": channel, "direction": direction,
                      "kind": kind, "worker_id": worker_ids[0] if party in ("worker", "system") else None,
                      "after_hours": is_after_hours(at, settings.office, settings.tz),
                      "text": rng.choice(tokens), "text_purged": False})
        if len(batch) == 20_000:
            with service.tx() as session:
                session.execute(insert(plain), batch)
            batch = []
    if batch:
        with service.tx() as session:
            session.execute(insert(plain), batch)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    print(f"  {plans:,} plans and {entries:,} entries in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()
    return youth_ids[0], youth_ids[len(youth_ids) // 2]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _server_ms(response: httpx.Response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1].split(",")[0].split(";")[0])


def measure(http: httpx.Client, path: str, runs: int) -> dict:
    for _ in range(2):
        response = http.get(path, timeout=120)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    server = sorted(_server_ms(http.get(path, timeout=120)) for _ in range(runs))
    return {"path": path, "median_ms": round(statistics.median(server), 1),
            "p95_ms": round(server[min(len(server) - 1, int(0.95 * len(server)))], 1), "max_ms": round(server[-1], 1)}


def serve(database_url: str, data_key: str, heavy_id: int, typical_id: int, idle: int, runs: int,
          workdir: Path) -> dict:
    stand_in = TelegramStandIn(token=TOKEN, strict=False, bot_username="TettPaCountyBot")
    with BackgroundServer(stand_in.app) as tg:
        port = 20000 + os.getpid() % 20000
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("TETTPA_")},
               "TETTPA_DATABASE_URL": database_url, "TETTPA_HTTP_PORT": str(port), "TETTPA_SECRET_KEY": SECRET,
               "TETTPA_PUBLIC_URL": f"http://127.0.0.1:{port}", "TETTPA_DATA_KEY": data_key,
               "TETTPA_LOG_LEVEL": "WARNING", "TETTPA_TELEGRAM_TOKEN": TOKEN, "TETTPA_TELEGRAM_API_URL": tg.url}
        url = f"http://127.0.0.1:{port}"
        log = (workdir / "serve.log").open("ab")
        started = time.perf_counter()
        process = subprocess.Popen([TETTPA, "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                assert process.poll() is None, (workdir / "serve.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            startup = time.perf_counter() - started
            peak_started = _peak_mb(process.pid)
            time.sleep(5)  # the first planning round and sweeps settle
            cpu0, t0 = _cpu_seconds(process.pid), time.perf_counter()
            load_idle = os.getloadavg()[0]
            per_second = []  # CPU share of each second: a tail of start-up work shows here, a spin everywhere
            for _ in range(idle):
                before = _cpu_seconds(process.pid)
                time.sleep(1)
                per_second.append(round((_cpu_seconds(process.pid) - before) * 100, 1))
            idle_share = (_cpu_seconds(process.pid) - cpu0) / (time.perf_counter() - t0)
            with httpx.Client(base_url=url, follow_redirects=False) as http:
                form = http.get("/login").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
                response = http.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf": csrf})
                assert response.status_code == 303, response.text[:500]
                month = (datetime.now(UTC) - timedelta(days=365)).date()
                span = f"from={month}&until={month + timedelta(days=30)}"
                cases = {
                    "overview /dashboard": "/dashboard",
                    "timeline, heavy youth": f"/dashboard/youth/{heavy_id}",
                    "timeline, typical youth": f"/dashboard/youth/{typical_id}",
                    "PDF, a month of the heavy youth": f"/dashboard/youth/{heavy_id}/export.pdf?{span}",
                    "PDF, a month of a typical youth": f"/dashboard/youth/{typical_id}/export.pdf?{span}",
                }
                results = {label: measure(http, path, max(3, runs // 4) if "PDF" in label else runs)
                           for label, path in cases.items()}
            load_dash = os.getloadavg()[0]
            children = {pid: _peak_mb(pid) for pid in _children(process.pid)}
            peak = _peak_mb(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return {"startup_s": round(startup, 2), "peak_mb_at_start": round(peak_started, 1), "peak_mb": round(peak, 1),
            "children_peak_mb": {str(k): round(v, 1) for k, v in children.items()},
            "idle_cpu_share": round(idle_share, 4), "idle_cpu_percent_per_second": per_second, "idle_seconds": idle, "load_idle": load_idle,
            "load_dashboard": load_dash, "dashboard": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--youths", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--plans", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--heavy", type=int, default=100_000)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url")
    parser.add_argument("--workdir", help="keep the county here, and use it again when it is there already "
                                          "(SQLite: its wake-up rows are then the ones the last run planned)")
    args = parser.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tettpa-county-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{workdir / 'county.db'}"
    kept = workdir / "county.json"
    if args.workdir and kept.exists():
        data_key, heavy_id, typical_id = json.loads(kept.read_text())
        print(f"using the county in {workdir}", flush=True)
    else:
        data_key = crypto.new_key()
        print(f"building {args.youths} youths, {args.workers} workers, {args.plans} plans, {args.entries:,} "
              "entries", flush=True)
        heavy_id, typical_id = build(database_url, args.youths, args.workers, args.plans, args.entries, args.heavy,
                                     data_key)
        if args.workdir:
            kept.write_text(json.dumps([data_key, heavy_id, typical_id]))
    report = serve(database_url, data_key, heavy_id, typical_id, args.idle, args.runs, workdir)
    report.update({"sizes": vars(args), "database": database_url.split(":")[0].split("+")[0],
                   "cpus": os.cpu_count(), "at": datetime.now(UTC).isoformat(timespec="seconds")})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"county-{report['database']}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    d = report["dashboard"]
    print(f"GOAL footprint: peak memory {report['peak_mb']} MB (goal < 250 MB; PDF worker process "
          f"{report['children_peak_mb']}); start-up {report['startup_s']} s (goal < 5 s); idle "
          f"{report['idle_cpu_share'] * 100:.2f} % of a core (goal < 2 %); load average {report['load_idle']:.1f}")
    for label, r in d.items():
        goal = "1000" if "PDF" in label else "200"
        print(f"GOAL dashboard {label}: median {r['median_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms "
              f"server time (goal < {goal} ms); load average {report['load_dashboard']:.1f}")


if __name__ == "__main__":
    main()
