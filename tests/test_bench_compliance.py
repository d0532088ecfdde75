"""bench/compliance.py keeps working: a very short run times every page on both logs and
prints the ratios."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_compliance_bench_prints_each_page_on_both_logs():
    out = subprocess.run([sys.executable, "bench/compliance.py", "--rows", "1200", "--small", "300", "--repeat", "2",
                          "--index", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads(out.stdout.splitlines()[-1])
    assert (figures["rows"], figures["small_rows"]) == (1200, 300)
    for page in ("newest of one level", "a customer's history", "words of the explanation", "the second page"):
        for log in ("small", "big"):
            assert figures[log][page]["worst_ms"] >= figures[log][page]["median_ms"] > 0
        assert page in out.stdout
    assert figures["big"]["indexed"] == 1200
