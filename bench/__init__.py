"""Benchmarks: `.venv/bin/python -m bench.<name>`; results are written up in docs/PERFORMANCE.md."""
