"""Where one POST /v1/decisions spends its CPU, in one process and one thread, with no
HTTP server: the WSGI application called directly, as gunicorn calls it.

    python bench/request_parts.py [--n 2000] [--passes 5] [--json]

On a fresh, migrated log with the shipped policies and a `decide` API key, the README's
delinquent customer and a clean one in turn (so every other decision asks again for a
follow-up task already open). Each pass times, in turn and on the same requests:

* the bare Flask endpoint of bench/bare.py (the baseline of bench/api.py);
* Vigil's whole request: routing, API-key check, body, decision, log write, answer,
  headers, metrics and the log line;
* the decision alone (``decide.decide``: contract check and rules engine);
* building its log row and answer (``Decided.row``);
* writing it (``decide.log``: one transaction with its follow-up tasks).

It prints the CPU time of this process per request for each, the median of the passes,
and what is left for the request path around the decision (the whole request less the
three parts). Under gunicorn each request also pays the server's own work, which
bench/api.py measures with the bare endpoint.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _environ(body: bytes, key: str) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/decisions", "QUERY_STRING": "", "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_AUTHORIZATION": f"Bearer {key}", "REMOTE_ADDR": "127.0.0.1"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per part and pass")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    os.environ["VIGIL_DATABASE"] = str(Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "vigil.db")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="vigil-metrics-"))
    from bench import api as bench_api

    env = dict(os.environ)
    bench_api.prepare(env)  # migrate, import the policies, make a `decide` key, as bench/api.py does
    key = env["VIGIL_BENCH_KEY"]
    bodies = bench_api.workload()

    from bench.bare import app as bare
    from app import create_app
    from app.api import database, serving
    from app.api.parsing import parse_json_body
    from app.api.schemas import DecisionRequestSchema
    from app.service import decide, followup

    vigil = create_app()
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def call(app, body: bytes) -> None:
        out = app(_environ(body, key), start_response)
        b"".join(out)
        if hasattr(out, "close"):
            out.close()

    schema = DecisionRequestSchema()
    with vigil.app_context():
        db = database.get_db()
        policies = serving.library()
        requests = [decide.DecisionRequest.from_item(schema.load(parse_json_body(b)), caller="bench")
                    for b in bodies]
        facts = followup.facts_reader(db)

        def decided(i: int):
            return decide.decide(requests[i % 2], policies, follow_up=facts)

        def run_bare(i):
            call(bare, bodies[i % 2])

        def run_vigil(i):
            call(vigil, bodies[i % 2])

        made = {}

        def run_decide(i):
            made[i % 2] = decided(i)

        def run_row(i):
            made[i % 2] = d = decided(i)
            return d

        def run_log(i):
            d = made[i % 2] = decided(i)
            decide.log(db, [d.row], [d.follow_ups()])

        def timed(step, pre=None) -> float:
            """CPU seconds per call of ``step``; ``pre`` (not timed) runs before each."""
            total = 0.0
            for i in range(args.n):
                if pre is not None:
                    pre(i)
                started = time.process_time()
                step(i)
                total += time.process_time() - started
            return total / args.n

        def row_only(i):
            made[i % 2].row

        def log_only(i):
            d = made[i % 2]
            decide.log(db, [d.row], [d.follow_ups()])

        def prepare_row(i):
            made[i % 2] = decided(i)

        def prepare_log(i):
            d = made[i % 2] = decided(i)
            d.row

        parts = {
            "bare": lambda: timed(run_bare),
            "vigil": lambda: timed(run_vigil),
            "decide": lambda: timed(run_decide),
            "row": lambda: timed(row_only, prepare_row),
            "log": lambda: timed(log_only, prepare_log),
        }
        for i in range(200):  # warm every path up
            run_bare(i), run_vigil(i), run_log(i)
        samples: dict[str, list[float]] = {name: [] for name in parts}
        for _ in range(args.passes):
            for name, measure in parts.items():
                samples[name].append(measure())
    if any(not s.startswith(("200", "201")) for s in statuses):
        raise SystemExit(f"a request failed: {sorted(set(statuses))}")

    us = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    us["around"] = us["vigil"] - us["decide"] - us["row"] - us["log"]
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in us.items()}))
        return 0
    print(f"CPU per request in one thread, median of {args.passes} passes of {args.n}:")
    print(f"  bare Flask endpoint                       {us['bare']:7.1f} us")
    print(f"  Vigil POST /v1/decisions, whole request   {us['vigil']:7.1f} us  ({us['vigil'] / us['bare']:.1f}x bare)")
    print(f"    the decision (contract check, engine)   {us['decide']:7.1f} us")
    print(f"    its log row and answer                  {us['row']:7.1f} us")
    print(f"    writing it (one transaction, tasks)     {us['log']:7.1f} us")
    print(f"    the request path around them            {us['around']:7.1f} us  "
          f"({us['around'] - us['bare']:+.1f} us beside the bare endpoint's whole request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
