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
    figures = json.loads(lines[-1])
    for ruleset_id in ("retail_card", "personal_loan"):
        assert any(line.startswith(f"{ruleset_id}: without follow-up") for line in lines)
        one = figures[ruleset_id]
        assert one["without_us"] > 0 and one["with_us"] > 0
        assert abs(one["ratio"] - one["with_us"] / one["without_us"]) < 0.01
