"""bench/followup_report.py keeps working: a very short run prints a page's and an export's
cost for each period and grouping, counting every task in the year."""

import subprocess
import sys

from tests.conftest import ROOT


def test_bench_followup_report_prints_each_period_and_grouping():
    out = subprocess.run([sys.executable, "bench/followup_report.py", "--tasks", "500", "--repeat", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[2:]]
    assert [" ".join(r[:3]) for r in rows] == ["30 days owner", "30 days branch", "a year owner", "a year branch"]
    year = rows[2:]
    assert all(r[3] == "500" for r in year)  # every task was opened in the year
    assert all(float(r[4]) > 0 and float(r[5]) > 0 for r in year)
