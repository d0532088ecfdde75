"""What follow-up tasks add to a decision's cost: the one decision path with and
without them, paired in one run.

Each round logs the same decisions twice, each time into its own fresh copy of a migrated
decision log with the shipped policies, for each of two rulesets: retail_card on the
README's customer (a limit cut and a contact: one task; its rules do not read
follow-up facts) and personal_loan on generated borrowers (its contact_customer and
plan_exit declare follow-ups and its FUP rules read overdue_follow_up):

* without: ``decide`` then ``log`` as before follow-up existed: no follow-up facts
  read, no tasks opened;
* with: as the API does now: the customer's follow-up facts read from the tasks (one
  indexed query), then the decision logged with the tasks it asks for in the same
  transaction (a task opened for a new customer, updated for one seen before).

Each decision is committed on its own (as ``POST /v1/decisions`` does), with
VIGIL_SQLITE_SYNCHRONOUS (default NORMAL), and the log is checkpointed as a gunicorn
worker does it (a thread of its own, off the decisions' path). The two run in turn for
several rounds, decision by decision in turn (which goes first alternates), so that
what else the machine does falls on both alike; the medians over the rounds are
reported, with the median of the rounds' ratios with / without.

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
from app.store.db import SERVICE_AUTOCHECKPOINT_PAGES, Checkpointer  # noqa: E402
from app.api.examples import DECISION_REQUEST  # noqa: E402
from app.engine.library import load_library  # noqa: E402
from app.portfolio import synthetic  # noqa: E402
from app.service import decide, followup, policies  # noqa: E402
from app.service.decide import DecisionRequest, Pinned  # noqa: E402


def requests(ruleset_id: str, count: int, customers: int) -> list[DecisionRequest]:
    out = []
    borrowers = list(synthetic.snapshots(customers, seed=5)) if ruleset_id == "personal_loan" else None
    for n in range(count):
        if borrowers is None:
            snap = copy.deepcopy(DECISION_REQUEST["snapshot"])
        else:
            snap = copy.deepcopy(borrowers[n % customers])
        customer = f"C-{n % customers:06d}"
        snap["customer"].update({"id": customer, "account_manager": f"rm-{n % 40:03d}"})
        out.append(DecisionRequest(ruleset_id, customer, snap, client_request_id=f"bench-{n}"))
    return out


def one_round(template: str, ruleset, work: list[DecisionRequest], synchronous: str) -> tuple[float, float]:
    """Seconds per decision (decide + log, each committed on its own) without and with
    follow-up, measured decision by decision in turn (which goes first alternates), each
    into its own copy of the log: whatever else the machine does falls on both alike."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        dbs, checkpointers = [], []
        for name in ("without", "with"):
            path = str(Path(tmp) / f"{name}.db")
            shutil.copyfile(template, path)
            dbs.append(store.connect(path, synchronous=synchronous, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES))
            checkpointers.append(Checkpointer(path, idle=0.1))
        try:
            pinned = Pinned(ruleset)
            reader = followup.facts_reader(dbs[1])
            spent = [0.0, 0.0]
            clock = time.perf_counter
            for n, request in enumerate(work):
                for mode in ((0, 1) if n % 2 == 0 else (1, 0)):
                    started = clock()
                    if mode:
                        decided = decide.decide(request, pinned, follow_up=reader)
                        decide.log(dbs[1], [decided.row], [decided.follow_ups()])
                    else:
                        decided = decide.decide(request, pinned)
                        decide.log(dbs[0], [decided.row])
                    checkpointers[mode].written()
                    spent[mode] += clock() - started
            time.sleep(0.3)  # the checkpointers finish and close their connections
            opened = [db.execute("SELECT count(*) FROM tasks").fetchone()[0] for db in dbs]
            assert opened[0] == 0 < opened[1], "the passes did not do what they measure"
            return spent[0] / len(work), spent[1] / len(work)
        finally:
            for db in dbs:
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
    figures = {"decisions": args.decisions, "customers": args.customers}
    print(f"decide + log, {args.decisions} decisions over {args.customers} customers, "
          f"synchronous={synchronous}, medians of {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        template = str(Path(tmp) / "template.db")
        db = store.create(template)
        store.migrate(db)
        db.close()
        db = store.connect(template)
        policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
        db.close()
        for ruleset_id in ("retail_card", "personal_loan"):
            ruleset = library.ruleset(ruleset_id)
            work = requests(ruleset_id, args.decisions, args.customers)
            one_round(template, ruleset, work[:50], synchronous)  # warm up: compile, caches
            rounds = [one_round(template, ruleset, work, synchronous) for _ in range(args.rounds)]
            ratio = statistics.median(w / wo for wo, w in rounds)
            base, tasks = statistics.median(wo for wo, _ in rounds), statistics.median(w for _, w in rounds)
            print(f"{ruleset_id}: without follow-up {base * 1e6:,.0f} us per decision, with follow-up (facts read, "
                  f"tasks opened or updated) {tasks * 1e6:,.0f} us; ratio with / without: {ratio:.3f} "
                  f"(+{(tasks - base) * 1e6:,.0f} us per decision)")
            figures[ruleset_id] = {"without_us": round(base * 1e6, 1), "with_us": round(tasks * 1e6, 1),
                                   "ratio": round(ratio, 3)}
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
