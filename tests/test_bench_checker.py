"""bench/checker.py keeps working: a short run prints the check times both ways, their
ratio, and what starting and replacing a checker cost."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_prints_check_times_and_ratio():
    out = subprocess.run([sys.executable, "bench/checker.py", "--rounds", "2", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("pool: a draft checked") for line in lines)
    assert any(line.startswith("ratio pool / in-process:") for line in lines)
    figures = json.loads(lines[-1])
    assert 0 < figures["pool"]["median_ms"] <= figures["pool"]["max_ms"]
    assert 0 < figures["in-process"]["median_ms"] <= figures["in-process"]["max_ms"]
    assert figures["ratio"] > 0 and figures["pool_start_ms"] > 0 and figures["replace_and_check_ms"] > 0
    assert 0 < figures["checker_rss_mb"] < figures["checker_vm_mb"]
