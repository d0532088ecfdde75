"""Benchmark of the decision log for compliance: memory of an export, time of a verify.

    python bench/export.py [--rows 1000000] [--small 10000] [--db PATH] [--json]

Writes ``--rows`` decisions straight into a fresh, migrated log (the README's delinquent
card customer decided again and again, each with its own id, customer, time, content
hash and chain hash, as record() would write them: about 5 KB a row), then:

* exports them through ``GET /v1/decisions/export`` (the view streaming its chunks, read
  here as a client would, written nowhere), as CSV and as JSON Lines, first only the
  newest ``--small`` rows and then all of them, each in a fresh process, and prints how
  much the process's resident memory grew while the export streamed (sampled from
  /proc): flat memory means about the same growth however many rows went through;
* verifies the hash chain of the newest ``--small`` rows' log and of the whole log, and
  prints the time each took.

``--db`` keeps the generated log at PATH (and reuses it when it already holds the rows).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _template() -> dict:
    """One real decision's columns, made by the engine on the README's example."""
    from app.core.codec import dumps as _dumps
    from app.engine import load_library
    from tests.conftest import DELINQUENT_SNAPSHOT

    ruleset = load_library(ROOT / "rulesets", ROOT / "schemas").ruleset("retail_card")
    result = ruleset.evaluate(DELINQUENT_SNAPSHOT, explain="summary").to_dict()
    outcome = {k: result[k] for k in ("level", "review_frequency", "actions", "overridden", "signals", "fired")}
    return {"ruleset_id": ruleset.id, "ruleset_version": ruleset.version, "ruleset_hash": ruleset.hash,
            "level": result["level"], "review_frequency": result["review_frequency"],
            "snapshot": _dumps(DELINQUENT_SNAPSHOT), "result": _dumps(outcome), "trail": _dumps(result["trail"]),
            "response": _dumps({"ruleset": result["ruleset"], **outcome, "trail": result["trail"],
                                "explain": "summary"})}


def generate(path: str, rows: int, batch: int = 20_000) -> None:
    """A migrated log at ``path`` holding ``rows`` decisions, one a second from START,
    hashed and chained as record() does."""
    from app import store
    from app.store import chain

    db = store.create(path)
    store.migrate(db)
    template = _template()
    previous = chain.GENESIS
    columns = ("seq", "id", "decided_at", "customer_id", "ruleset_id", "ruleset_version", "ruleset_hash",
               "client_request_id", "request_hash", "level", "review_frequency", "snapshot", "result", "trail",
               "response", "masked", "content_hash", "chain_hash")
    sql = f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn = db.conn
    seq = 0
    while seq < rows:
        values = []
        for seq in range(seq + 1, min(rows, seq + batch) + 1):
            row = {**template, "seq": seq, "id": str(uuid.UUID(int=seq)), "customer_id": f"C-{seq % 50_000:06d}",
                   "decided_at": (START + dt.timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                   "client_request_id": None, "request_hash": f"sha256:{seq:064x}", "masked": None}
            row["content_hash"] = chain.record_hash(row)
            row["chain_hash"] = previous = chain.chain_hash(previous, row["content_hash"], seq)
            values.append([row[c] for c in columns])
        conn.execute("BEGIN")
        conn.executemany(sql, values)
        conn.execute("COMMIT")
    db.close()


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


def _export_child(path: str, fmt: str, since: str | None) -> None:
    """Run in a fresh process: stream one export through the API and report."""
    from app import create_app
    from app.store import keys
    from app import store
    from app.store.audit import Actor

    db = store.connect(path)
    # Each run makes its own key: an active key's name is unique.
    _, token = keys.create_key(db, name=f"bench-export-{os.getpid()}", owner="bench", roles=["audit"],
                               actor=Actor("bench"))
    db.close()
    app = create_app({"VIGIL_DATABASE": path})
    client = app.test_client()
    before = rss_mib()
    highest = before
    started = time.perf_counter()
    query = f"format={fmt}" + (f"&from={since}" if since else "")
    response = client.get(f"/v1/decisions/export?{query}", headers={"Authorization": f"Bearer {token}"},
                          buffered=False)
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for n, chunk in enumerate(response.response):
        size += len(chunk)
        lines += chunk.count(b"\n")
        if n % 20 == 0:
            highest = max(highest, rss_mib())
    response.close()
    seconds = time.perf_counter() - started
    highest = max(highest, rss_mib())
    print(json.dumps({"rows": int(response.headers["X-Vigil-Count"]), "lines": lines, "bytes": size,
                      "seconds": round(seconds, 2), "rss_before_mib": round(before, 1),
                      "rss_peak_mib": round(highest, 1), "rss_growth_mib": round(highest - before, 1),
                      "process_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def export_in_child(path: str, fmt: str, since: str | None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-export", path, "--format", fmt]
                         + (["--since", since] if since else []),
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "VIGIL_LOG_LEVEL": "WARNING"})
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def verify_seconds(path: str) -> tuple[float, int]:
    from app import store
    from app.store import chain

    db = store.connect(path)
    try:
        started = time.perf_counter()
        report = chain.verify(db)
        seconds = time.perf_counter() - started
    finally:
        db.close()
    if not report.ok:
        raise SystemExit(f"the generated log does not verify: {report.problem}")
    return seconds, report.checked


def _count(path: str) -> int:
    import sqlite3

    if not os.path.exists(path):
        return -1
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--db", help="keep the generated log here (reused if it holds --rows decisions)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    parser.add_argument("--child-export", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    parser.add_argument("--since", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_export:
        _export_child(args.child_export, args.format, args.since)
        return 0
    small = min(args.small, args.rows)
    workdir = tempfile.mkdtemp(prefix="vigil-export-bench-")
    big = args.db or os.path.join(workdir, "big.db")
    little = os.path.join(workdir, "small.db")
    for path, rows in ((big, args.rows), (little, small)):
        if _count(path) != rows:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            started = time.perf_counter()
            generate(path, rows)
            print(f"generated {rows:,} decisions in {time.perf_counter() - started:.1f} s "
                  f"({os.path.getsize(path) / 2**20:,.0f} MiB)")
    # The newest `small` rows of the big log: decided at or after this time.
    since = (START + dt.timedelta(seconds=args.rows - small + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    figures: dict = {"rows": args.rows, "small": small}
    for fmt in ("csv", "jsonl"):
        part = export_in_child(big, fmt, since)
        whole = export_in_child(big, fmt, None)
        assert part["rows"] == small and whole["rows"] == args.rows, (part, whole)
        print(f"export {fmt}: {small:,} rows: resident memory grew {part['rss_growth_mib']} MiB while streaming; "
              f"{args.rows:,} rows: grew {whole['rss_growth_mib']} MiB (from {whole['rss_before_mib']} to "
              f"{whole['rss_peak_mib']} MiB; {whole['bytes'] / 2**20:,.0f} MiB streamed in {whole['seconds']} s, "
              f"{args.rows / max(whole['seconds'], 1e-9):,.0f} rows/s)")
        figures[fmt] = {"small": part, "all": whole}
    for label, path in (("small", little), ("all", big)):
        seconds, checked = verify_seconds(path)
        print(f"verify {checked:,} decisions: {seconds:.2f} s ({checked / max(seconds, 1e-9):,.0f} decisions/s)")
        figures[f"verify_{label}_seconds"] = round(seconds, 3)
        figures[f"verify_{label}_rows"] = checked
    if not args.db:
        for name in os.listdir(workdir):
            os.remove(os.path.join(workdir, name))
        os.rmdir(workdir)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
