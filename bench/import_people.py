"""`tettpa import people` with a county's roster: how long 1,000 rows take (goal: under 10 s).

    .venv/bin/python -m bench.import_people [--rows 1000] [--runs 3]

Writes a CSV as Excel saves it (BOM, `;`), with 5 % workers and coordinators, 65 % youths (each with a
primary and a secondary named by e-mail or by ref) and 30 % parents (named by the youth's ref), Norwegian
8-digit numbers with spaces; then runs the real command in this process (Typer's runner: the figure is the
import, not Python's start-up) against a fresh, migrated SQLite file, `--runs` times, and once more over
the same file (everyone is found, nobody created). Results on stdout and in bench/results/import_people.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from handlers.cli.main import app
from models import crypto

DATA_KEY = crypto.new_key()
RESULTS = Path(__file__).resolve().parent / "results"


def roster(rows: int) -> str:
    lines = ["ref;role;name;phone;email;language;unit;primary;secondary;youth;period_from;period_until"]
    workers = max(2, rows // 20)
    for n in range(workers):
        role = "coordinator" if n % 10 == 0 else "worker"
        lines.append(f"w{n};{role};Arbeider {n};9{n:07d};w{n}@ot.example;nb;;;;;;")
    youths = rows * 65 // 100
    for n in range(youths):
        primary = f"w{n % workers}" if n % 2 else f"w{n % workers}@ot.example"
        phone = f"{95_000_000 + n:08d}"
        lines.append(f"y{n};youth;Ungdom Nummer {n};{phone[:3]} {phone[3:5]} {phone[5:]};;{'nb' if n % 5 else 'uk'};;"
                     f"{primary};w{(n + 1) % workers};;2027-04-01;2027-10-01")
    for n in range(rows - workers - youths):
        lines.append(f"p{n};parent;Forelder {n};;;nb;;;;y{n % youths};;")
    return "\ufeff" + "\r\n".join(lines) + "\r\n"


def run(path: Path, database: Path) -> tuple[float, dict]:
    env = {"TETTPA_DATABASE_URL": f"sqlite:///{database}", "TETTPA_SECRET_KEY": "bench-secret-key-0123456789",
           "TETTPA_DATA_KEY": DATA_KEY, "TETTPA_TELEGRAM_TOKEN": "123456:BENCH-TOKEN"}
    runner = CliRunner()
    if not database.exists():
        assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    start = time.perf_counter()
    result = runner.invoke(app, ["import", "people", str(path), "--json"], env=env, catch_exceptions=False)
    elapsed = time.perf_counter() - start
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and not report["errors"], report["errors"][:3]
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "roster.csv"
        csv.write_text(roster(args.rows), encoding="utf-8")
        times = []
        for n in range(args.runs):
            elapsed, report = run(csv, Path(tmp) / f"tettpa-{n}.db")
            assert report["created"] == args.rows
            times.append(elapsed)
        again, report = run(csv, Path(tmp) / "tettpa-0.db")
        assert report["created"] == 0 and report["existing"] == args.rows
    figures = {"rows": args.rows, "median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2),
               "again_s": round(again, 2), "goal_s": 10.0, "cpu": platform.processor() or platform.machine(),
               "cores": os.cpu_count()}
    print(f"import of {args.rows} rows: median {figures['median_s']} s, max {figures['max_s']} s "
          f"(goal under 10 s); the same file again: {figures['again_s']} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_people.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
