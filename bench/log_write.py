"""The decision log's write path on its own: what one logged decision costs and how long
its write can take, with and without the levers the service uses.

    python bench/log_write.py [--n 5000] [--threads 4] [--json]
    python bench/log_write.py --path [--n 5000] [--json]

On a fresh, migrated log, with rows the size of a real decision (one made by the
service on the README's example, logged again under new ids):

* one thread, each decision in its own transaction, as SQLite checkpoints by default
  (the commit that fills 1,000 pages of write-ahead log copies it into the database and
  syncs it), and as the service does (its connections leave that to a Checkpointer
  thread): latency of each write, p50/p99/p99.9/max;
* ``--threads`` threads at once, each decision in its own transaction, and the same
  threads through one GroupCommit: decisions per second, transactions, and CPU time per
  decision of this process.

Both variants of each comparison run in turn in the same process, so other work on the
machine falls on both alike.

``--path`` measures instead what one decision costs from the moment it is made to the
moment it is committed, in one thread, as ``POST /v1/decisions`` pays it: the README's
delinquent customer and a clean one in turn (so every other decision asks again for a
follow-up task already open), each decided by the service (not timed), then its log row
built (``Decided.row``), its content hash worked out, and ``decision_log.record`` called
with its follow-up tasks, one transaction per decision. It prints the CPU time of this
process per decision for each step, the median of several passes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import store  # noqa: E402
from app.store import chain, decision_log  # noqa: E402
from app.store.db import SERVICE_AUTOCHECKPOINT_PAGES, Checkpointer  # noqa: E402
from app.store.group_commit import GroupCommit  # noqa: E402


def real_decision() -> decision_log.Decision:
    """One decision made and logged by the service, through its API, on the README's example."""
    from app import create_app
    from app.api import examples
    from app.service import policies
    from app.store import keys
    from app.store.audit import Actor

    path = str(Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "vigil.db")
    db = store.create(path)
    store.migrate(db)
    db.close()
    db = store.connect(path)
    policies.import_files(db, ROOT / "rulesets", ROOT / "schemas")
    _, token = keys.create_key(db, name="bench", owner="bench", roles=["decide"], actor=Actor("bench"))
    db.close()
    app = create_app({"VIGIL_DATABASE": path, "VIGIL_LOG_LEVEL": "WARNING"})
    body = {k: v for k, v in examples.DECISION_REQUEST.items() if k != "client_request_id"}
    answer = app.test_client().post("/v1/decisions", json=body, headers={"Authorization": f"Bearer {token}"})
    if answer.status_code != 201:
        raise SystemExit(f"the example decision failed: {answer.status_code} {answer.get_data(as_text=True)}")
    db = store.connect(path)
    try:
        return decision_log.get(db, answer.get_json()["decision_id"])
    finally:
        db.close()


def fresh_log() -> str:
    path = str(Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "vigil.db")
    db = store.create(path)
    store.migrate(db)
    db.close()
    return path


def copies(template: decision_log.Decision, n: int) -> list[decision_log.Decision]:
    return [replace(template, id=str(uuid.uuid4()), client_request_id=None) for _ in range(n)]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def one_thread(template, n: int, service: bool) -> dict:
    path = fresh_log()
    db = store.connect(path, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES if service else None)
    checkpointer = Checkpointer(path) if service else None
    latencies = []
    try:
        for row in copies(template, n):
            started = time.perf_counter()
            decision_log.record(db, [row])
            latencies.append(time.perf_counter() - started)
            if checkpointer is not None:
                checkpointer.written()
        assert decision_log.count(db) == n and chain.verify(db).ok
    finally:
        db.close()
    return {p: round(percentile(latencies, p) * 1000, 3) for p in (50, 99, 99.9, 100)}


def many_threads(template, n: int, threads: int, grouped: bool) -> dict:
    path = fresh_log()
    group = GroupCommit(decision_log.record)
    rows = copies(template, n)
    per_thread = [rows[i::threads] for i in range(threads)]
    errors: list[BaseException] = []
    transactions = [0]

    def writer(mine) -> None:
        db = store.connect(path, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES)
        try:
            for row in mine:
                if grouped:
                    group.write(db, [row])
                else:
                    decision_log.record(db, [row])
                    transactions[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    checkpointer = Checkpointer(path)
    ticking = threading.Event()

    def tick() -> None:  # the service wakes its checkpointer after every commit
        while not ticking.wait(0.01):
            checkpointer.written()

    ticker = threading.Thread(target=tick)
    ticker.start()
    pool = [threading.Thread(target=writer, args=(mine,)) for mine in per_thread]
    cpu, started = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ticking.set()
    ticker.join()
    if errors:
        raise SystemExit(f"a writer failed: {errors[0]!r}")
    db = store.connect(path)
    try:
        assert decision_log.count(db) == n and chain.verify(db).ok
    finally:
        db.close()
    return {"per_second": round(n / elapsed), "transactions": group.transactions if grouped else transactions[0],
            "cpu_ms_per_decision": round(cpu * 1000 / n, 4)}


def decided_pairs(n: int):
    """``n`` decisions made by the service (in turn the README's delinquent customer and a
    clean one), not yet logged, on a fresh log with the shipped rulesets."""
    from bench.api import workload
    from app.engine import load_library
    from app.service import decide, followup

    path = fresh_log()
    db = store.connect(path, autocheckpoint=SERVICE_AUTOCHECKPOINT_PAGES)
    delinquent, clean = (json.loads(body) for body in workload())  # bench/api.py's two customers
    policies = decide.Pinned(load_library(ROOT / "rulesets", ROOT / "schemas").ruleset("retail_card"))
    facts = followup.facts_reader(db)
    requests = [decide.DecisionRequest.from_item(body, caller="bench") for body in (delinquent, clean)]

    def made(count: int) -> list:
        return [decide.decide(requests[i % 2], policies, follow_up=facts) for i in range(count)]

    return db, made


def write_path(n: int, passes: int = 5) -> dict:
    """CPU time per decision (us) of building its row, its content hash and record()."""
    db, made = decided_pairs(n)
    figures: dict[str, list[float]] = {"row": [], "content_hash": [], "record": [], "total": []}
    try:
        for row in (d.row for d in made(50)):  # warm: open the tasks, fill the caches
            decision_log.record(db, [row])
        for _ in range(passes):
            batch = made(n)
            started = time.process_time()
            rows = [d.row for d in batch]
            built = time.process_time()
            for row in rows:
                chain.record_hash(row.__dict__)
            hashed = time.process_time()
            follow_ups = [d.follow_ups() for d in batch]
            asked = time.process_time()
            for row, follow_up in zip(rows, follow_ups):
                decision_log.record(db, [row], [follow_up])
            written = time.process_time()
            figures["row"].append((built - started) / n * 1e6)
            figures["content_hash"].append((hashed - built) / n * 1e6)
            figures["record"].append((written - asked) / n * 1e6)
            figures["total"].append((built - started + written - asked) / n * 1e6)
        assert chain.verify(db).ok
    finally:
        db.close()
    return {k: round(sorted(v)[len(v) // 2], 1) for k, v in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="decisions per variant")
    parser.add_argument("--threads", type=int, default=4, help="writing threads (the service's VIGIL_THREADS)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--path", action="store_true",
                        help="CPU per decision of building its row and recording it, one thread")
    args = parser.parse_args()

    if args.path:
        figures = write_path(args.n)
        print(f"{args.n} decisions, two customers in turn, one thread, a transaction per decision, "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"  CPU per decision: row {figures['row']:.1f} us (its content hash alone "
              f"{figures['content_hash']:.1f} us), record {figures['record']:.1f} us (content hash included), "
              f"row + record {figures['total']:.1f} us")
        if args.json:
            print(json.dumps(figures))
        return 0

    template = real_decision()
    size = sum(len(getattr(template, c) or "") for c in ("snapshot", "result", "trail", "response"))
    print(f"{args.n} decisions of {size:,} bytes of logged text each, fresh log per variant, "
          f"synchronous=NORMAL, load average {os.getloadavg()[0]:.2f}")
    figures = {}
    for name, service in (("checkpoint by the committing write (SQLite's default)", False),
                          ("checkpoint by the Checkpointer thread (the service)", True)):
        figures[name] = one = one_thread(template, args.n, service)
        print(f"  one thread, {name}: write p50 {one[50]:.3f} ms, p99 {one[99]:.3f} ms, "
              f"p99.9 {one[99.9]:.3f} ms, max {one[100]:.3f} ms", flush=True)
    for name, grouped in (("a transaction per decision", False), ("group commit (the service)", True)):
        figures[name] = many = many_threads(template, args.n, args.threads, grouped)
        print(f"  {args.threads} threads, {name}: {many['per_second']:,} decisions/s, "
              f"{many['transactions']:,} transactions, {many['cpu_ms_per_decision']:.3f} ms CPU per decision",
              flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        print(json.dumps({k: {str(p): v for p, v in f.items()} for k, f in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
