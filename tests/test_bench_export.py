"""bench/export.py keeps working: a very short run prints the memory growth of each export
and the verify times, and every generated decision is exported and verified."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_export_bench_prints_memory_and_verify_figures():
    out = subprocess.run([sys.executable, "bench/export.py", "--rows", "3000", "--small", "300", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("export csv: 300 rows: resident memory grew") for line in lines)
    assert any(line.startswith("export jsonl: 300 rows") for line in lines)
    assert any(line.startswith("verify 3,000 decisions:") for line in lines)
    figures = json.loads(lines[-1])
    for fmt in ("csv", "jsonl"):
        assert figures[fmt]["small"]["rows"] == 300 and figures[fmt]["all"]["rows"] == 3000
        assert figures[fmt]["all"]["rss_peak_mib"] >= figures[fmt]["all"]["rss_before_mib"] > 0
    assert (figures["verify_small_rows"], figures["verify_all_rows"]) == (300, 3000)
