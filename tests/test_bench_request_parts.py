"""bench/request_parts.py keeps working: a short run times the bare endpoint, Vigil's whole
request and its parts, every request having been answered (the script checks), and the
parts of a request fit inside it."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_request_parts_bench_prints_each_part():
    out = subprocess.run([sys.executable, "bench/request_parts.py", "--n", "60", "--passes", "1", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads(out.stdout.splitlines()[-1])
    assert set(figures) == {"bare", "vigil", "decide", "row", "log", "around"}
    assert all(figures[part] > 0 for part in ("bare", "vigil", "decide", "row", "log"))
    assert figures["decide"] + figures["row"] + figures["log"] < figures["vigil"]
    parts = figures["decide"] + figures["row"] + figures["log"]
    assert abs(figures["around"] - (figures["vigil"] - parts)) < 0.5  # each figure is rounded to 0.1
