"""bench/followup.py keeps working: a very short run prints both costs and their ratio."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_followup_prints_both_costs_and_the_ratio():
    out = subprocess.run([sys.executable, "bench/followup.py", "--decisions", "40", "--customers", "20",
                          "--rounds", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("without follow-up:") for line in lines)
    assert any(line.startswith("with follow-up") for line in lines)
    figures = json.loads(lines[-1])
    assert figures["without_us"] > 0 and figures["with_us"] > 0
    assert abs(figures["ratio"] - figures["with_us"] / figures["without_us"]) < 0.01
