"""bench/request_parts.py keeps working: a short run times the bare endpoint, Vigil's whole
request and its parts inside it, every request having been answered (the script checks),
and the parts add up to no more than the whole."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_request_parts_bench_prints_each_part():
    out = subprocess.run([sys.executable, "bench/request_parts.py", "--n", "60", "--passes", "1", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads(out.stdout.splitlines()[-1])
    parts = ("auth", "body", "decide", "row", "write", "finish")
    assert set(figures) == {"bare", "vigil", "background", "rest", *parts}
    assert all(figures[name] > 0 for name in ("bare", "vigil", *parts))
    assert figures["background"] >= 0
    # the parts are timed inside the whole requests, so they fit in them
    assert sum(figures[name] for name in parts) < figures["vigil"]
    assert abs(figures["rest"] - (figures["vigil"] - sum(figures[name] for name in parts))) < 1.0  # rounding
