"""bench/log_write.py keeps working: a short run prints the write latencies with each way
of checkpointing and the rates with and without group commit, every variant having
logged every decision with its chain intact (the script checks both)."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_log_write_bench_prints_latencies_and_rates():
    out = subprocess.run([sys.executable, "bench/log_write.py", "--n", "300", "--threads", "3", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.startswith("  one thread, checkpoint by") for line in lines) == 2
    assert sum(line.startswith("  3 threads, ") for line in lines) == 2
    figures = json.loads(lines[-1])
    for name in ("checkpoint by the committing write (SQLite's default)",
                 "checkpoint by the Checkpointer thread (the service)"):
        one = figures[name]
        assert 0 < one["50"] <= one["99"] <= one["99.9"] <= one["100"]
    alone, grouped = figures["a transaction per decision"], figures["group commit (the service)"]
    assert alone["transactions"] == 300
    assert 0 < grouped["transactions"] <= 300
    assert alone["per_second"] > 0 and grouped["per_second"] > 0


def test_log_write_bench_path_prints_cpu_per_decision():
    out = subprocess.run([sys.executable, "bench/log_write.py", "--path", "--n", "200", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("  CPU per decision: row ")
    figures = json.loads(lines[-1])
    assert 0 < figures["content_hash"] < figures["record"] < figures["total"]
    assert 0 < figures["row"] < figures["total"]
