"""`make bench`: run every benchmark in turn; each writes its figures (see docs/PERFORMANCE.md)."""

import runpy
import sys

BENCHMARKS = ["bench.wakeup_burst", "bench.dashboard_timeline", "bench.export_loop_lag", "bench.import_people"]

if __name__ == "__main__":
    for name in sys.argv[1:] or BENCHMARKS:
        print(f"== {name}", flush=True)
        runpy.run_module(name, run_name="__main__")
