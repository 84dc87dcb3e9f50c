"""`make bench`: the five benchmarks of issue 15 in turn, each printing its figures beside its goal (lines
starting with GOAL) and writing them to bench/results/ (see docs/PERFORMANCE.md). Sizes are each
benchmark's defaults, chosen so the whole run takes under 10 minutes on the 2-core development machine.

    .venv/bin/python -m bench                      # the five goals
    .venv/bin/python -m bench bench.dashboard_timeline bench.export_loop_lag bench.import_people   # others
"""

import runpy
import sys
import time

# 3: wake-up burst; 1 and 2: relay latency and throughput; 4 and 5: a county's footprint and dashboard.
BENCHMARKS = ["bench.wakeup_burst", "bench.relay", "bench.county"]
OTHERS = ["bench.dashboard_timeline", "bench.export_loop_lag", "bench.import_people"]

if __name__ == "__main__":
    started = time.monotonic()
    failed = []
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"== {name}", flush=True)
        sys.argv = [name]
        try:
            runpy.run_module(name, run_name="__main__")
        except SystemExit as exc:
            if exc.code:
                failed.append(name)
        print(f"== {name} done at {time.monotonic() - started:.0f} s", flush=True)
    print(f"== all done in {time.monotonic() - started:.0f} s{'; failed: ' + ', '.join(failed) if failed else ''}")
    raise SystemExit(1 if failed else 0)
