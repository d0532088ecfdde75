"""How long checking a draft takes through the pool of checker processes, against doing
the same work in the calling thread (what the service did before the pool).

    python bench/checker.py [--rounds 15] [--json]

On a fresh, migrated database holding the shipped policies, each round checks the
shipped retail_card ruleset with one changed parameter (a new document every round, so
nothing is reused from the round before), both ways, in turn:

* pool: ``policies.check_draft`` (read, check and compile in a checker, with its
  durable_rules handle made), then its 32 scenarios run in a checker as the console
  runs them (``policies._outcomes_check``; the compiled draft is reused, as it is when
  the console checks a draft and then runs its scenarios);
* in-process: the same two jobs called in this thread.

It prints the median and worst wall time of each over the rounds, the ratio pool /
in-process (paired within a round), what starting the pool and replacing a checker cost,
and the memory a waiting checker holds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import store  # noqa: E402
from app.service import checker, policies  # noqa: E402


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _status(pid: int) -> dict:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.split(":", 1) for line in fh if ":" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    args = parser.parse_args()

    document = (ROOT / "rulesets" / "retail_card.yaml").read_text()
    scenarios = (ROOT / "rulesets" / "retail_card.scenarios.yaml").read_text()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-checker-") as tmp:
        path = str(Path(tmp) / "vigil.db")
        db = store.create(path)
        store.migrate(db)
        db.close()
        db = store.connect(path)
        policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
        contracts = policies.contract_for(db, policies.parse_document(document, "bench"), "bench")
        checker.configure(checker.Settings())
        started = time.perf_counter()
        checker.start()
        start_ms = _ms(started)
        (pid,) = checker.pool().pids()
        waiting = _status(pid)
        times: dict[str, list[float]] = {"pool": [], "in-process": []}
        tests = policies.parse_document(scenarios, "scenarios")
        for n in range(args.rounds):
            text = document.replace("percent: 30", f"percent: {31 + n % 60}")
            source = f"retail_card@{n + 2}"
            started = time.perf_counter()
            checked = policies.check_draft(db, "retail_card", n + 2, text, scenarios)
            results = checker.run(policies._outcomes_check, contracts, _document(text, n + 2), source, tests)
            times["pool"].append(_ms(started))
            assert checked.rules > 0 and results["passed"] > 0
            started = time.perf_counter()
            read = policies._read_check("retail_card", text, scenarios, n + 2)
            policies._compile_check(contracts, read.document, source)
            policies._outcomes_check(contracts, _document(text, n + 2), source, tests)
            times["in-process"].append(_ms(started))
            checker._rulesets.clear()  # the next round compiles afresh, as in the checker
        # Replacing a checker: stop it as the kernel would, and time the next check.
        os.kill(checker.pool().pids()[0], 9)
        time.sleep(0.2)
        started = time.perf_counter()
        policies.check_draft(db, "retail_card", 2, document, scenarios)
        replace_ms = _ms(started)
        checker.shutdown()
        db.close()
    figures = {"rounds": args.rounds, "pool_start_ms": round(start_ms, 1), "replace_and_check_ms": round(replace_ms, 1),
               "checker_rss_mb": round(int(waiting["VmRSS"].split()[0]) / 1024, 1),
               "checker_vm_mb": round(int(waiting["VmSize"].split()[0]) / 1024, 1)}
    for name, samples in times.items():
        figures[name] = {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}
        print(f"{name}: a draft checked and its scenarios run: median {statistics.median(samples):.1f} ms, "
              f"worst {max(samples):.1f} ms")
    ratios = [p / i for p, i in zip(times["pool"], times["in-process"])]
    figures["ratio"] = round(statistics.median(ratios), 2)
    print(f"ratio pool / in-process: {figures['ratio']:.2f} (median of the rounds' ratios)")
    print(f"pool start: {start_ms:.0f} ms; a killed checker replaced and a check answered: {replace_ms:.0f} ms")
    print(f"a waiting checker: {figures['checker_rss_mb']} MiB resident, {figures['checker_vm_mb']} MiB address space")
    if args.json:
        print(json.dumps(figures))


def _document(text: str, number: int) -> dict:
    document = policies.parse_document(text, "bench")
    document["version"] = number
    return document


if __name__ == "__main__":
    main()
