"""Benchmark of the console's compliance pages on a big decision log: searching it and a
customer's history.

    python bench/compliance.py [--rows 1000000] [--small 10000] [--repeat 20] [--db PATH] [--json]

Builds a migrated log of ``--rows`` decisions (bench/export.py's generator: the README's
delinquent card customer decided again and again, 50,000 customers, one decision a
second) and a small one of ``--small``, then signs in to the console with an ``audit``
key and requests each page ``--repeat`` times through the app (the view, the search,
its audit event and the HTML), timing each request:

* the newest decisions of one level; one customer's decisions; a ruleset version's;
  those of the newest day and of the oldest day; the second page of a search (by its
  cursor);
* the first page of a customer's history (the level timeline, up to 200 decisions).

It prints the median and worst time of each page on each log and the ratio big/small:
the baseline is the same page on the small log in the same run, so a ratio near 1 means
the page does not slow down as the log grows. Searches by rule, action and words read
the full-text index, which is built as the log is searched (``catch_up``); they are
timed only with ``--index`` (indexing a million decisions takes long).
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.export import _count, generate

PAGES = [
    ("newest of one level", "/console/decisions?level={level}"),
    ("one customer's decisions", "/console/decisions?customer_id={customer}"),
    ("a ruleset version", "/console/decisions?ruleset_id=retail_card&ruleset_version=1"),
    ("the newest day", "/console/decisions?from={last_day}&to={after_last_day}"),
    ("the oldest day", "/console/decisions?from={first_day}&to={after_first_day}"),
    ("the second page", "{second_page}"),
    ("a customer's history", "/console/customers/{customer}"),
]
INDEXED = [
    ("a rule that fired", "/console/decisions?rule={rule}"),
    ("words of the explanation", "/console/decisions?q=overdue"),
]


def _client(path: str):
    """The app on the log at ``path`` and a test client signed in with an audit key."""
    from app import create_app, store
    from app.store import keys, sessions
    from app.store.audit import Actor

    db = store.connect(path)
    key, _ = keys.create_key(db, name=f"bench-compliance-{os.getpid()}-{time.time_ns()}", owner="bench",
                             roles=["audit"], actor=Actor("bench"))
    token, _ = sessions.open_session(db, key, lifetime=3600)
    db.close()
    app = create_app({"VIGIL_DATABASE": path})
    client = app.test_client()
    client.set_cookie("vigil_console", token, path="/console")
    return client


def _values(path: str) -> dict:
    import datetime as dt
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        newest, customer, level, result = conn.execute(
            "SELECT decided_at, customer_id, level, result FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
        oldest = conn.execute("SELECT decided_at FROM decisions ORDER BY seq LIMIT 1").fetchone()[0]
    finally:
        conn.close()

    def day(text: str, later: int = 0) -> str:
        return (dt.date.fromisoformat(text[:10]) + dt.timedelta(days=later)).isoformat()

    return {"customer": customer, "level": level, "rule": json.loads(result)["fired"][0],
            "last_day": day(newest), "after_last_day": day(newest, 1),
            "first_day": day(oldest), "after_first_day": day(oldest, 1)}


def time_pages(path: str, repeat: int, index: bool) -> dict:
    client = _client(path)
    values = _values(path)
    first = client.get(f"/console/decisions?level={values['level']}")
    assert first.status_code == 200, first.status_code
    marker = 'rel="next" href="'
    html = first.get_data(as_text=True)
    values["second_page"] = html[html.index(marker) + len(marker):].split('"', 1)[0].replace("&amp;", "&")
    pages = PAGES + (INDEXED if index else [])
    out = {}
    if index:
        from app import store
        from app.service import log_search

        db = store.connect(path)
        started = time.perf_counter()
        indexed = log_search.catch_up(db)
        out["index_seconds"] = round(time.perf_counter() - started, 2)
        out["indexed"] = indexed
        db.close()
    for name, template in pages:
        url = template.format(**values)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        assert b"data-seq=" in body or b"level-timeline" in body, url  # decisions were shown
        out[name] = {"median_ms": round(statistics.median(times), 1), "worst_ms": round(max(times), 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--index", action="store_true", help="also time searches by rule and words")
    parser.add_argument("--db", help="keep the big log here (reused if it holds --rows decisions)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args(argv)
    os.environ.setdefault("VIGIL_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        big = args.db or os.path.join(tmp, "big.db")
        if _count(big) != args.rows:
            if os.path.exists(big):
                os.remove(big)
            started = time.perf_counter()
            generate(big, args.rows)
            print(f"generated {args.rows:,} decisions in {time.perf_counter() - started:.0f} s")
        small = os.path.join(tmp, "small.db")
        generate(small, args.small)
        figures = {"rows": args.rows, "small_rows": args.small,
                   "small": time_pages(small, args.repeat, args.index),
                   "big": time_pages(big, args.repeat, args.index)}
    names = [n for n, _ in PAGES + (INDEXED if args.index else [])]
    print(f"{'page':28} {args.small:>10,} rows {args.rows:>12,} rows   ratio")
    for name in names:
        s, b = figures["small"][name], figures["big"][name]
        ratio = b["median_ms"] / s["median_ms"] if s["median_ms"] else float("nan")
        figures.setdefault("ratios", {})[name] = round(ratio, 2)
        print(f"{name:28} {s['median_ms']:8.1f} ms (worst {s['worst_ms']:.0f})"
              f" {b['median_ms']:8.1f} ms (worst {b['worst_ms']:.0f})  {ratio:5.2f}")
    if args.index:
        print(f"indexing for rule and word searches: {figures['big']['indexed']:,} decisions in "
              f"{figures['big']['index_seconds']} s")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
