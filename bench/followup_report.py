"""What the evaluation of follow-up costs as the tasks grow: a page of the report and the
whole export, for a 30-day period and for a year, per owner and per branch.

A fresh migrated database gets ``--tasks`` tasks (200 owners, 20 branches, three levels,
opened at random over a year, a fifth still open, a fifth waived, the rest done after
1 to 400 hours), written straight into the tasks table in one transaction. Then the
service's report (``app.service.followup_report``: a page of 100 groups and the totals)
and its CSV export are timed in this process, ``--repeat`` times each; medians are
printed. The 30-day figures against the year's show how the cost follows the tasks in
the period (read through the tasks_by_opening index), not all the tasks.

    python bench/followup_report.py [--tasks 100000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from app import store  # noqa: E402
from app.core import clock  # noqa: E402
from app.service import followup_report  # noqa: E402
from app.store import times  # noqa: E402

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
COLUMNS = ("id", "customer_id", "action", "ruleset_id", "role", "level", "owner", "owner_id", "queue", "branch",
           "status", "still_asked", "opened_at", "due_at", "updated_at", "decision_id", "last_decision_id", "rules",
           "evidence_asked", "done_at")


def fill(db, n: int, rng: random.Random) -> None:
    rows = []
    for i in range(n):
        opened = START + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
        level, days = rng.choice((("yellow", 15), ("orange", 5), ("red", 2)))
        status = rng.choice(("open", "done", "done", "done", "waived"))
        done = times.iso(opened + dt.timedelta(hours=rng.randrange(1, 400))) if status != "open" else None
        owner = f"rm-{rng.randrange(200):04d}"
        rows.append((str(uuid.uuid4()), f"C-{i}", "contact_customer", "retail_card", "relationship_manager", level,
                     owner, owner, None, f"B-{rng.randrange(20):03d}", status, 1, times.iso(opened),
                     times.iso(opened + dt.timedelta(days=days)), times.iso(opened), f"d-{i}", f"d-{i}", "[]",
                     '{"evidence": ["note"], "outcomes": []}', done))
    with db.conn:
        db.conn.executemany(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                            rows)


def timed(run, repeat: int) -> float:
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        took.append(time.perf_counter() - started)
    return statistics.median(took) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = store.create(os.path.join(tmp, "vigil.db"))
        store.migrate(db)
        fill(db, args.tasks, random.Random(1))
        clock.configure(fixed=START + dt.timedelta(days=370))
        print(f"{args.tasks:,} tasks over a year; medians of {args.repeat} runs, in ms; load average "
              f"{os.getloadavg()[0]:.1f}")
        print("period    by      opened   page (100 groups + totals)   export (CSV, every row)")
        for label, since, until in (("30 days", START + dt.timedelta(days=100), START + dt.timedelta(days=130)),
                                    ("a year", START, START + dt.timedelta(days=366))):
            for by in ("owner", "branch"):
                opened = followup_report.report(db, by, since, until).totals.total.opened
                page = timed(lambda: followup_report.report(db, by, since, until, limit=100), args.repeat)
                export = timed(lambda: sum(len(c) for c in followup_report.export(db, by, since, until, "csv").chunks),
                               args.repeat)
                print(f"{label:9} {by:7} {opened:7,}   {page:10.0f}                   {export:10.0f}")
        clock.configure()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
