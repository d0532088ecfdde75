"""Where one POST /v1/decisions spends its CPU, in one process and one thread, with no
HTTP server: the WSGI application called directly, as gunicorn calls it.

    python bench/request_parts.py [--n 2000] [--passes 5] [--json]

On a fresh, migrated log with the shipped policies and a `decide` API key, the README's
delinquent customer and a clean one in turn (so every other decision asks again for a
follow-up task already open). Each pass times, in turn, the bare Flask endpoint of
bench/bare.py (the baseline of bench/api.py) and Vigil's whole request, and inside
Vigil's requests the CPU time of each part as it runs there (a part timed alone, over
and over, runs faster than among everything else a request does):

* the API-key check; reading the body (JSON, bounds, the request schema);
* the decision (``decide.decide``: contract check and rules engine);
* building its log row and answer (``Decided.row``);
* writing it (one transaction through the group commit, with its follow-up tasks);
* finishing the answer (request id, security headers, metrics, the log line);
* the rest: Flask (request context, routing, the response) and the view's own steps.

Figures are CPU time of the request's thread per request, the median of the passes;
"background" is the CPU of the process's other threads over the same requests (the
write-ahead log's Checkpointer). Under gunicorn each request also pays the server's own
work, which bench/api.py measures with the bare endpoint.
"""

from __future__ import annotations

import argparse
import functools
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

    import app.api as api_layer
    from app import create_app
    from app.api import auth, decisions, parsing
    from app.api.schemas import DecisionRequestSchema
    from app.service import decide
    from bench.bare import app as bare

    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def call(app, body: bytes) -> None:
        out = app(_environ(body, key), start_response)
        b"".join(out)
        if hasattr(out, "close"):
            out.close()

    parts = ("auth", "body", "decide", "row", "write", "finish")
    spent = dict.fromkeys(parts, 0.0)

    def timing(part, func):
        @functools.wraps(func)
        def timed(*a, **k):
            started = time.thread_time()
            try:
                return func(*a, **k)
            finally:
                spent[part] += time.thread_time() - started
        return timed

    # Each part where the request path looks it up (module attributes), timed in place.
    auth.check_request = timing("auth", auth.check_request)
    parsing.request_body = timing("body", parsing.request_body)
    parsing.parse_json_body = timing("body", parsing.parse_json_body)
    decide.decide = timing("decide", decide.decide)
    row = functools.cached_property(timing("row", decide.Decided.row.func))
    row.__set_name__(decide.Decided, "row")
    decide.Decided.row = row
    decisions.log_decisions = timing("write", decisions.log_decisions)
    api_layer._finish_request = timing("finish", api_layer._finish_request)
    schema_load = DecisionRequestSchema.load
    DecisionRequestSchema.load = timing("body", schema_load)
    vigil = create_app()  # registers the hooks as they are now (timed)

    def block(app) -> tuple[float, float]:
        """Thread and process CPU seconds per request over args.n requests."""
        thread, process = time.thread_time(), time.process_time()
        for i in range(args.n):
            call(app, bodies[i % 2])
        return (time.thread_time() - thread) / args.n, (time.process_time() - process) / args.n

    for i in range(200):  # warm every path up
        call(bare, bodies[i % 2]), call(vigil, bodies[i % 2])
    samples: dict[str, list[float]] = {name: [] for name in ("bare", "vigil", "background", *parts, "rest")}
    for _ in range(args.passes):
        samples["bare"].append(block(bare)[0])
        for part in parts:
            spent[part] = 0.0
        thread, process = block(vigil)
        samples["vigil"].append(thread)
        samples["background"].append(max(process - thread, 0.0))
        for part in parts:
            samples[part].append(spent[part] / args.n)
        samples["rest"].append(thread - sum(spent.values()) / args.n)
    if any(not s.startswith(("200", "201")) for s in statuses):
        raise SystemExit(f"a request failed: {sorted(set(statuses))}")

    us = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in us.items()}))
        return 0
    labels = {"auth": "the API-key check", "body": "reading the body", "decide": "the decision (contract, engine)",
              "row": "its log row and answer", "write": "writing it (transaction, tasks)",
              "finish": "headers, metrics, log line", "rest": "Flask and the view's other steps"}
    print(f"CPU per request in one thread, median of {args.passes} passes of {args.n}:")
    print(f"  bare Flask endpoint                        {us['bare']:7.1f} us")
    print(f"  Vigil POST /v1/decisions, whole request    {us['vigil']:7.1f} us  ({us['vigil'] / us['bare']:.1f}x bare)")
    for part, label in labels.items():
        print(f"    {label:38s} {us[part]:7.1f} us")
    print(f"  background threads (checkpoints)           {us['background']:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
