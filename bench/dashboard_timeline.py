"""The dashboard's timeline of one youth with 100,000 contact-log entries: server time per page.

    .venv/bin/python -m bench.dashboard_timeline [--entries 100000] [--runs 30] [--database-url URL] [--postgres]

Builds a database with one youth who has `--entries` entries over about two years (every kind and
channel, a third after hours) and twenty other youths with 5,000 each, logs in as a coordinator through
the real login form, and requests the youth's page the ways a person does: the newest page, a page deep
in the past, filtered by a common and a rare kind, by a channel, by a month, and by a kind the youth has
none of (the whole log has to be passed over). Also the overview and a month's CSV and PDF export.

The figure is the server's own time for the request (the page's Server-Timing header: session check,
queries, decrypting the rows shown, the charts, rendering, the access-log write), median / 95th
percentile / max over `--runs` requests after three warm-ups. Without --database-url a temporary SQLite
file is used; --postgres also runs against TETTPA_TEST_POSTGRES_URL (a scratch database, dropped after).
Results go to stdout and bench/results/dashboard_timeline-<db>.json; docs/PERFORMANCE.md has them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import insert, select
from starlette.applications import Starlette

from bot import roster
from bot.office_hours import is_after_hours
from bot.service import Service
from bot.settings import Settings
from handlers.web import auth as web_auth
from handlers.web import dashboard, dashboard_export
from models import crypto
from models.contact_log import ContactLog
from models.db import make_engine
from models.migrate import upgrade

PASSWORD = "bench-passord-langt-nok"
EMAIL = "koordinator@bench.example"
RESULTS = Path(__file__).parent / "results"
POSTGRES_URL = os.environ.get("TETTPA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# What a youth's log is made of, roughly: (weight, kind, channel, party, direction).
MIX = [
    (40, "message", "telegram", "youth", "in"), (20, "message", "telegram", "worker", "out"),
    (6, "message", "sms", "parent", "in"), (5, "auto_reply", "telegram", "system", "out"),
    (3, "escalation", "telegram", "system", "out"), (8, "wakeup", "telegram", "system", "out"),
    (5, "wakeup", "telegram", "youth", "in"), (2, "wakeup", "sms", "system", "none"),
    (3, "reminder", "telegram", "system", "out"), (2, "call", "call", "youth", "in"),
    (4, "note", "manual", "worker", "none"), (2, "note", "meeting", "worker", "none"),
]
TEXTS = [
    "Hei, jeg forsov meg i dag. Kommer til andre time.", "Ok, fint at du sier fra! Vi snakkes i morgen.",
    "Ola er syk i dag og blir hjemme.", "Takk for meldingen! Kari svarer fra i morgen kl. 08:00.",
    "Ringte fra egen telefon, snakket om fravær og planen for uka. Avtalt møte på torsdag.",
    "Vekking 06:45 bekreftet kl. 06:47 (Telegram)", "Påminnelse: møte torsdag kl. 14:00 på kafeen",
]


def _settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, telegram_token="1:BENCH",
                    secret_key="bench-secret-key-not-a-placeholder", data_key=crypto.new_key(), log_level="WARNING")


def _rows(youth_id: int, count: int, end: datetime, span: timedelta, settings: Settings, rng: random.Random,
          worker_id: int):
    weights = [m[0] for m in MIX]
    step = span / count
    for i in range(count):
        at = end - span + step * i + timedelta(seconds=rng.randint(0, 59))
        _, kind, channel, party, direction = rng.choices(MIX, weights)[0]
        yield {
            "at": at, "youth_id": youth_id, "party": party, "channel": channel, "direction": direction,
            "kind": kind, "worker_id": worker_id if party in ("worker", "system") else None,
            "after_hours": is_after_hours(at, settings.office, settings.tz), "text": rng.choice(TEXTS),
        }


def build(database_url: str, entries: int) -> tuple[Service, int]:
    settings = _settings(database_url)
    crypto.use_keys([settings.data_key])
    engine = make_engine(database_url)
    upgrade(engine)
    service = Service(settings=settings, engine=engine)
    kw = {"now": service.now(), "secret_key": settings.secret_key}
    with service.tx() as session:
        coordinator = roster.add_worker(session, name="Cora Koordinator", email=EMAIL, role="coordinator", **kw).person
        roster.set_password(session, worker_id=coordinator.id, password=PASSWORD)
        kari = roster.add_worker(session, name="Kari Nordmann", **kw).person
        youth = roster.add_youth(session, name="Ola Berg", primary=kari.id, **kw).person
        others = [roster.add_youth(session, name=f"Ungdom {i}", primary=kari.id, **kw).person for i in range(20)]
        youth_id, other_ids, kari_id = youth.id, [o.id for o in others], kari.id
    rng = random.Random(6)
    now = datetime.now(UTC)
    plan = [(youth_id, entries)] + [(other, 5_000) for other in other_ids]
    started = time.perf_counter()
    for target, count in plan:
        batch = []
        for row in _rows(target, count, now, timedelta(days=730), settings, rng, kari_id):
            batch.append(row)
            if len(batch) == 5_000:
                with service.tx() as session:
                    session.execute(insert(ContactLog), batch)
                batch = []
        if batch:
            with service.tx() as session:
                session.execute(insert(ContactLog), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"  built {sum(c for _, c in plan):,} entries in {time.perf_counter() - started:.0f} s")
    return service, youth_id


def _client(service: Service):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from starlette.testclient import TestClient

    app = Starlette(routes=dashboard.routes + dashboard_export.routes + web_auth.routes)
    app.state.runtime = SimpleNamespace(service=service)
    http = TestClient(app, follow_redirects=False)
    form = http.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    response = http.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf": csrf})
    assert response.status_code == 303, response.text
    return http


def _server_ms(response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def measure(http, path: str, runs: int) -> dict:
    for _ in range(3):
        response = http.get(path)
        assert response.status_code == 200, (path, response.status_code)
    server, wall = [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(path)
        wall.append((time.perf_counter() - started) * 1000)
        server.append(_server_ms(response))
    server.sort()
    return {
        "path": path, "rows": len(re.findall(r'<li class="entry', response.text)),
        "median_ms": round(statistics.median(server), 1),
        "p95_ms": round(server[min(len(server) - 1, int(0.95 * len(server)))], 1),
        "max_ms": round(server[-1], 1), "wall_median_ms": round(statistics.median(wall), 1),
    }


def run(database_url: str, entries: int, runs: int) -> dict:
    name = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    print(f"{name}: building the database ...")
    service, youth = build(database_url, entries)
    http = _client(service)
    with service.tx() as session:
        ids = list(session.execute(
            select(ContactLog.id).where(ContactLog.youth_id == youth).order_by(ContactLog.at, ContactLog.id)
        ).scalars())
    middle = ids[len(ids) // 2]
    year_ago = (datetime.now(UTC) - timedelta(days=365)).date()
    base = f"/dashboard/youth/{youth}"
    cases = {
        "newest page": base,
        "page in the middle (cursor)": f"{base}?at={middle}",
        "kind=message": f"{base}?kind=message",
        "kind=call (2 %)": f"{base}?kind=call",
        "channel=sms": f"{base}?channel=sms",
        "one month a year ago": f"{base}?from={year_ago}&until={year_ago + timedelta(days=30)}",
        "kind=opt_out (none: the whole log passed over)": f"{base}?kind=opt_out",
        "overview (/dashboard)": "/dashboard",
        "entries behind a figure (a week, 21 youths)": f"/dashboard/entries?kind=message&from={year_ago}"
                                                       f"&until={year_ago + timedelta(days=6)}",
        "CSV export, one month": f"{base}/export.csv?from={year_ago}&until={year_ago + timedelta(days=30)}",
        "PDF export, one month": f"{base}/export.pdf?from={year_ago}&until={year_ago + timedelta(days=30)}",
    }
    results = {}
    for label, path in cases.items():
        # A PDF of a month of this log takes seconds: a few runs say enough.
        results[label] = measure(http, path, min(runs, 5) if "PDF" in label else runs)
        r = results[label]
        print(f"  {label:48} median {r['median_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
              f"max {r['max_ms']:7.1f} ms  ({r['rows']} rows)")
    service.engine.dispose()
    return {"database": name, "entries_for_youth": entries, "runs": runs, "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"), "results": results}


def _postgres(entries: int, runs: int) -> dict:
    import psycopg

    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"tettpa_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}", entries, runs)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url")
    parser.add_argument("--postgres", action="store_true", help="also run against PostgreSQL")
    args = parser.parse_args()
    reports = []
    if args.database_url:
        reports.append(run(args.database_url, args.entries, args.runs))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            reports.append(run(f"sqlite:///{tmp}/bench.db", args.entries, args.runs))
    if args.postgres:
        reports.append(_postgres(args.entries, args.runs))
    RESULTS.mkdir(exist_ok=True)
    for report in reports:
        (RESULTS / f"dashboard_timeline-{report['database']}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
