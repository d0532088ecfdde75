"""What follow-up tasks add to a decision's cost: the one decision path with and
without them, paired in one run.

Each round logs the same decisions twice, each time into a fresh copy of a migrated
decision log with the shipped policies (retail_card, whose contact_customer and
plan_exit declare follow-ups and whose FUP rules read overdue_follow_up):

* without: ``decide`` then ``log`` as before follow-up existed: no follow-up facts
  read, no tasks opened;
* with: as the API does now: the customer's follow-up facts read from the tasks (one
  indexed query), then the decision logged with the tasks it asks for in the same
  transaction (a task opened for a new customer, updated for one seen before).

Each decision is committed on its own (as ``POST /v1/decisions`` does), with
VIGIL_SQLITE_SYNCHRONOUS (default NORMAL). The two run in turn for several rounds;
medians are reported, and the ratio with / without.

    python bench/followup.py [--decisions 1000] [--customers 500] [--rounds 3] [--json]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import store  # noqa: E402
from app.api.examples import DECISION_REQUEST  # noqa: E402
from app.engine.library import load_library  # noqa: E402
from app.service import decide, followup, policies  # noqa: E402
from app.service.decide import DecisionRequest, Pinned  # noqa: E402


def requests(count: int, customers: int) -> list[DecisionRequest]:
    out = []
    for n in range(count):
        snap = copy.deepcopy(DECISION_REQUEST["snapshot"])
        customer = f"C-{n % customers:06d}"
        snap["customer"].update({"id": customer, "account_manager": f"rm-{n % 40:03d}"})
        out.append(DecisionRequest("retail_card", customer, snap, client_request_id=f"bench-{n}"))
    return out


def one_pass(template: str, ruleset, work: list[DecisionRequest], with_tasks: bool, synchronous: str) -> float:
    """Seconds per decision, decide + log, each committed on its own."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "vigil.db")
        shutil.copyfile(template, path)
        db = store.connect(path, synchronous=synchronous)
        try:
            pinned = Pinned(ruleset)
            reader = followup.facts_reader(db) if with_tasks else None
            started = time.perf_counter()
            for request in work:
                decided = decide.decide(request, pinned, follow_up=reader)
                if with_tasks:
                    decide.log(db, [decided.row], [decided.follow_ups()])
                else:
                    decide.log(db, [decided.row])
            elapsed = time.perf_counter() - started
            opened = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
            assert (opened > 0) == with_tasks, "the pass did not do what it measures"
            return elapsed / len(work)
        finally:
            db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1000, help="decisions per pass")
    parser.add_argument("--customers", type=int, default=500, help="distinct customers (the rest update tasks)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of without and with")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    synchronous = os.environ.get("VIGIL_SQLITE_SYNCHRONOUS", "NORMAL")
    library = load_library(ROOT / "rulesets", ROOT / "schemas")
    ruleset = library.ruleset("retail_card")
    work = requests(args.decisions, args.customers)
    with tempfile.TemporaryDirectory() as tmp:
        template = str(Path(tmp) / "template.db")
        db = store.create(template)
        store.migrate(db)
        db.close()
        db = store.connect(template)
        policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
        db.close()
        one_pass(template, ruleset, work[:50], True, synchronous)  # warm up: compile, caches
        without, with_ = [], []
        for _ in range(args.rounds):
            without.append(one_pass(template, ruleset, work, False, synchronous))
            with_.append(one_pass(template, ruleset, work, True, synchronous))
    base, tasks = statistics.median(without), statistics.median(with_)
    ratio = tasks / base
    print(f"decide + log, {args.decisions} decisions over {args.customers} customers, "
          f"synchronous={synchronous}, median of {args.rounds} rounds")
    print(f"without follow-up: {base * 1e6:,.0f} us per decision")
    print(f"with follow-up (facts read, tasks opened or updated): {tasks * 1e6:,.0f} us per decision")
    print(f"ratio with / without: {ratio:.3f} (+{(tasks - base) * 1e6:,.0f} us per decision)")
    if args.json:
        print(json.dumps({"without_us": round(base * 1e6, 1), "with_us": round(tasks * 1e6, 1),
                          "ratio": round(ratio, 3), "decisions": args.decisions, "customers": args.customers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
