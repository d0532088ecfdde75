"""Decisions per second through gunicorn, beside a bare Flask endpoint.

One run starts two gunicorn servers on 127.0.0.1 with the same gunicorn.conf.py
settings (workers, threads, worker class; no preload):

* Vigil itself (`wsgi:app`) on a fresh decision log with migrations applied, logging
  every decision with the service's settings (VIGIL_SQLITE_SYNCHRONOUS and the rest
  are taken from the environment, as the service takes them);
* a bare Flask endpoint (`bench.bare:app`) that parses the same body and answers JSON.

It measures the highest rate of each with closed-loop keep-alive clients, in turn for
several rounds: the bare endpoint, Vigil's POST /v1/decisions, and Vigil's
POST /v1/decisions/batch with 200 items. Ratios are paired within each round and the
medians reported. Beside each rate it reads the server's CPU time (gunicorn's master
and workers, from /proc) over the same seconds, per request: on a machine shared with
other work that figure moves less than the rates. Then, for Vigil, the latency of
decisions sent open-loop at half of its highest rate (latency is timed from each
request's scheduled send time, so a stall is not hidden). The client runs on the same
machine and takes part of its cores, for both servers alike.

    python bench/api.py [--seconds 8] [--rounds 3] [--connections 16] [--clients 2] [--workers N] [--threads N]
                        [--no-batch] [--json]

Prints the rates, the ratio (and the same ratio by server CPU per request), what one
decision in a batch costs against a single one, p50/p90/p99/max latency at half load,
and the goals: a ratio of at least 0.5, p99 under 10 ms, a batched decision at most a
third of a single one.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import re
import selectors
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api.examples import DECISION_REQUEST  # noqa: E402

BIN = Path(sys.executable).parent


# The API key the clients send (a `decide` key made for the run; the bare endpoint
# gets the same header and ignores it).
API_KEY = os.environ.get("VIGIL_BENCH_KEY", "")


def request_bytes(port: int, body: bytes, path: str = "/v1/decisions") -> bytes:
    auth = f"Authorization: Bearer {API_KEY}\r\n" if API_KEY else ""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode() + body


def workload() -> list[bytes]:
    """Two customers in turn: the README's delinquent one and a clean one."""
    delinquent = {k: v for k, v in DECISION_REQUEST.items() if k != "client_request_id"}
    clean = json.loads(json.dumps(delinquent))
    clean["customer_id"] = clean["snapshot"]["customer"]["id"] = "C-200002"
    clean["snapshot"]["card"].update({"balance": "6000.00", "utilization": "0.3000"})
    clean["snapshot"]["credit_report"]["other_banks"].update(
        {"overdue_accounts_6m": 0, "overdue_accounts_12m": 0, "overdue_accounts_24m": 0, "worst_dpd": 0})
    return [json.dumps(delinquent).encode(), json.dumps(clean).encode()]


BATCH_ITEMS = 200


def batch_workload() -> list[bytes]:
    """``POST /v1/decisions/batch`` bodies of BATCH_ITEMS items, the two customers in turn."""
    items = [json.loads(body) for body in workload()]
    return [json.dumps({"items": [items[(i + first) % 2] for i in range(BATCH_ITEMS)]}).encode()
            for first in (0, 1)]


def phase_bodies(port: int, batch: bool) -> list[bytes]:
    if batch:
        return [request_bytes(port, b, "/v1/decisions/batch") for b in batch_workload()]
    return [request_bytes(port, b) for b in workload()]


class Connection:
    """One HTTP/1.1 connection with just enough response parsing. Kept alive while the
    server allows it; reopened when the server answers `Connection: close` (gunicorn's
    sync workers do after every request)."""

    def __init__(self, port: int, sel: selectors.BaseSelector | None = None):
        self.port = port
        self.sel = sel
        self.closing = False
        self._open()

    def _open(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        if self.sel is not None:
            self.sel.register(self.sock, selectors.EVENT_READ, self)
        self.buf = b""
        self.sent_at = 0.0
        self.idle_since = time.perf_counter()
        self.busy = False
        self.last = b""

    def close(self) -> None:
        if self.sel is not None:
            self.sel.unregister(self.sock)
        self.sock.close()

    def send(self, data: bytes, at: float) -> None:
        if self.closing:
            self.close()
            self._open()
            self.closing = False
            self.buf = b""
        self.sent_at = at
        self.last = data
        self.busy = True
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def read(self) -> int | None:
        """Status of a complete response once it has arrived, else None."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = self.buf[:head_end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                self.closing = True
        if len(self.buf) < head_end + 4 + length:
            return None
        self.buf = self.buf[head_end + 4 + length:]
        self.busy = False
        return int(head.split(" ", 2)[1])


def closed_loop(port: int, connections: int, seconds: float, warmup: float, batch: bool, out) -> None:
    """Keep every connection busy; count responses after the warm-up."""
    bodies = phase_bodies(port, batch)
    sel = selectors.DefaultSelector()
    conns = [Connection(port, sel) for _ in range(connections)]
    n = 0
    for c in conns:
        c.send(bodies[n % 2], time.perf_counter())
        n += 1
    start = time.perf_counter()
    count_from, end = start + warmup, start + warmup + seconds
    done, errors = 0, 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            status = c.read()
            if status is None:
                continue
            if time.perf_counter() >= count_from:
                done += 1
                errors += status >= 300
            c.send(bodies[n % 2], time.perf_counter())
            n += 1
    for c in conns:
        c.close()
    out.put((done, errors))


def open_loop(port: int, rate: float, seconds: float, warmup: float, out) -> None:
    """Send at a fixed rate whatever the answers do; latency from the scheduled time."""
    bodies = phase_bodies(port, False)
    sel = selectors.DefaultSelector()
    # Round-robin over a fixed pool (FIFO): a keep-alive connection stays with the
    # gunicorn worker that accepted it, so reusing only the most recent ones could load
    # one worker and leave the other idle.
    idle = collections.deque(Connection(port, sel) for _ in range(32))
    interval = 1.0 / rate
    start = time.perf_counter()
    next_at, end = start, start + warmup + seconds
    latencies, errors, n, resent = [], 0, 0, 0
    while True:
        now = time.perf_counter()
        while next_at <= now and next_at < end:
            c = idle.popleft() if idle else None
            if c is None or now - c.idle_since > 1.0:
                # gunicorn closes keep-alive connections idle for `keepalive` seconds.
                if c is not None:
                    c.close()
                c = Connection(port, sel)
            c.send(bodies[n % 2], next_at)
            n += 1
            next_at += interval
        if now >= end and len(idle) == len(sel.get_map()):
            break
        timeout = max(0.0, min(next_at, end) - time.perf_counter()) if next_at < end else 0.5
        for key, _ in sel.select(timeout=timeout):
            c = key.data
            try:
                status = c.read()
            except ConnectionError:
                c.close()
                if not c.busy:  # an idle connection the server timed out
                    idle.remove(c)
                    continue
                # The server dropped a connection with a request on it: send that
                # request again on a new one; its latency still counts from its
                # scheduled time.
                fresh = Connection(port, sel)
                fresh.send(c.last, c.sent_at)
                resent += 1
                continue
            if status is None:
                continue
            finished = time.perf_counter()
            if c.sent_at >= start + warmup:
                latencies.append(finished - c.sent_at)
                errors += status >= 300
            c.idle_since = finished
            idle.append(c)
    out.put((latencies, errors, resent))


def run_clients(target, clients: int, *args) -> list:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(module: str, env: dict, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**env, "VIGIL_BIND": f"127.0.0.1:{port}"}
    log = open(log_path, "wb")
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", module], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    body = request_bytes(port, workload()[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{module} did not start; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(body)
                if s.recv(64).startswith(b"HTTP/1.1 201"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"{module} not ready after 60 s; see {log_path}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def flask_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)


def prepare(env: dict) -> None:
    """Set the fresh log up as `make run` does, and make an API key for the clients."""
    global API_KEY
    flask_cli(env, "db", "migrate")
    commands = flask_cli(env, "--help").stdout
    if re.search(r"^\s+policies\b", commands, re.M):
        flask_cli(env, "policies", "import", "--if-empty")
    if re.search(r"^\s+keys\b", commands, re.M):
        API_KEY = flask_cli(env, "keys", "create", "--name", "bench", "--owner", "bench",
                            "--role", "decide").stdout.strip().splitlines()[-1]
        env["VIGIL_BENCH_KEY"] = API_KEY


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children alive now
    (gunicorn's master and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            with open(f"/proc/{current}/task/{current}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


class Phase:
    """One closed-loop phase: requests answered per second, and the server's CPU time
    per request over the same measured seconds (less sensitive to other work on the
    machine than the rate)."""

    def __init__(self, rate: float, errors: int, cpu_ms: float):
        self.rate, self.errors, self.cpu_ms = rate, errors, cpu_ms


def max_rate(server: subprocess.Popen, port: int, args, batch: bool = False) -> Phase:
    per_client = max(1, args.connections // args.clients)
    cpu: list[float] = []

    def sample() -> None:
        time.sleep(args.warmup)
        cpu.append(cpu_seconds(server.pid))
        time.sleep(args.seconds)
        cpu.append(cpu_seconds(server.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    results = run_clients(closed_loop, args.clients, port, per_client, args.seconds, args.warmup, batch)
    sampler.join()
    done = sum(r[0] for r in results)
    cpu_ms = (cpu[1] - cpu[0]) * 1000 / done if done else float("nan")
    return Phase(done / args.seconds, sum(r[1] for r in results), cpu_ms)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections for the highest rate")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of bare and Vigil")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: VIGIL_WORKERS or cores)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: VIGIL_THREADS or 4)")
    parser.add_argument("--no-batch", dest="batch", action="store_false",
                        help=f"leave out the {BATCH_ITEMS}-item POST /v1/decisions/batch phase")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    env = {**os.environ, "VIGIL_DATABASE": str(workdir / "vigil.db"),
           "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", "268435456"),
           "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_", "268435456")}
    if args.workers:
        env["VIGIL_WORKERS"] = str(args.workers)
    if args.threads:
        env["VIGIL_THREADS"] = str(args.threads)
    workers = env.get("VIGIL_WORKERS", str(os.cpu_count()))
    threads = env.get("VIGIL_THREADS", "4")
    prepare(env)

    print(f"gunicorn -c gunicorn.conf.py: {workers} workers x {threads} threads (gthread), "
          f"{os.cpu_count()} cores, client: {args.clients} processes x "
          f"{max(1, args.connections // args.clients)} keep-alive connections, {args.seconds:g} s per phase")

    bare, bare_port = start_server("bench.bare:app", env, workdir / "bare.log")
    vigil, vigil_port = start_server("wsgi:app", env, workdir / "vigil.log")
    try:
        # Both servers stay up (an idle one costs nothing) and are measured in turn,
        # so that other load on the machine falls on both alike; medians are reported.
        bare_runs, vigil_runs, batch_runs = [], [], []
        for round_ in range(1, args.rounds + 1):
            bare_runs.append(max_rate(bare, bare_port, args))
            vigil_runs.append(max_rate(vigil, vigil_port, args))
            if args.batch:
                batch_runs.append(max_rate(vigil, vigil_port, args, batch=True))
            line = (f"  round {round_}: bare {bare_runs[-1].rate:.0f} req/s ({bare_runs[-1].cpu_ms:.2f} ms CPU each), "
                    f"Vigil {vigil_runs[-1].rate:.0f} decisions/s ({vigil_runs[-1].cpu_ms:.2f} ms CPU each)")
            if args.batch:
                line += (f", batch {batch_runs[-1].rate * BATCH_ITEMS:.0f} decisions/s "
                         f"({batch_runs[-1].cpu_ms / BATCH_ITEMS:.3f} ms CPU each)")
            print(line, flush=True)
        rate_errors = sum(r.errors for r in bare_runs + vigil_runs + batch_runs)
        bare_rate = statistics.median(r.rate for r in bare_runs)
        vigil_rate = statistics.median(r.rate for r in vigil_runs)
        # Paired within each round, medians of the per-round ratios.
        ratio = statistics.median(v.rate / b.rate for b, v in zip(bare_runs, vigil_runs))
        cpu_ratio = statistics.median(b.cpu_ms / v.cpu_ms for b, v in zip(bare_runs, vigil_runs))
        print(f"bare Flask endpoint:         {bare_rate:8.0f} req/s (median of {args.rounds}), "
              f"{statistics.median(r.cpu_ms for r in bare_runs):.3f} ms of server CPU per request")
        print(f"Vigil POST /v1/decisions:    {vigil_rate:8.0f} decisions/s (median of {args.rounds}), "
              f"{statistics.median(r.cpu_ms for r in vigil_runs):.3f} ms of server CPU per decision, "
              f"decision log on ({rate_errors} errors)")
        batch_share = None
        if args.batch:
            batch_share = statistics.median(v.rate / (b.rate * BATCH_ITEMS) for v, b in zip(vigil_runs, batch_runs))
            batch_cpu = statistics.median((b.cpu_ms / BATCH_ITEMS) / v.cpu_ms for v, b in zip(vigil_runs, batch_runs))
            print(f"Vigil POST /v1/decisions/batch ({BATCH_ITEMS} items): "
                  f"{statistics.median(r.rate for r in batch_runs) * BATCH_ITEMS:8.0f} decisions/s; one decision "
                  f"in a batch costs {batch_share:.2f} of a single decision's time "
                  f"({batch_cpu:.2f} of its CPU) (goal <= 0.33: {'met' if batch_share <= 1 / 3 else 'NOT met'})")
        half = vigil_rate / 2
        [(latencies, late_errors, resent)] = run_clients(open_loop, 1, vigil_port, half, args.seconds, args.warmup)
    finally:
        stop_server(vigil)
        stop_server(bare)
    conn = sqlite3.connect(f"file:{workdir / 'vigil.db'}?mode=ro", uri=True)
    logged = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    conn.close()
    latencies.sort()
    ms = {p: percentile(latencies, p) * 1000 for p in (50, 90, 99, 100)}
    print(f"ratio Vigil / bare:          {ratio:8.2f}   (median of the rounds' ratios; goal >= 0.50: "
          f"{'met' if ratio >= 0.5 else 'NOT met'}); by server CPU per request: {cpu_ratio:.2f}")
    print(f"latency at half load ({half:.0f} decisions/s, {len(latencies)} requests, {late_errors} errors): "
          f"p50 {ms[50]:.2f} ms, p90 {ms[90]:.2f} ms, p99 {ms[99]:.2f} ms, max {ms[100]:.2f} ms "
          f"(goal p99 < 10 ms: {'met' if ms[99] < 10 else 'NOT met'})")
    print(f"decisions logged in this run: {logged}; requests sent again after the server dropped "
          f"their connection: {resent}; load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        print(json.dumps({"bare_rps": round(bare_rate), "vigil_rps": round(vigil_rate), "ratio": round(ratio, 3),
                          "cpu_ratio": round(cpu_ratio, 3),
                          "bare_cpu_ms": round(statistics.median(r.cpu_ms for r in bare_runs), 4),
                          "vigil_cpu_ms": round(statistics.median(r.cpu_ms for r in vigil_runs), 4),
                          "batch_share": round(batch_share, 3) if batch_share is not None else None,
                          "half_load_rps": round(half), "p50_ms": round(ms[50], 3), "p90_ms": round(ms[90], 3),
                          "p99_ms": round(ms[99], 3), "max_ms": round(ms[100], 3), "logged": logged,
                          "resent": resent, "bare_rounds": [round(r.rate) for r in bare_runs],
                          "vigil_rounds": [round(r.rate) for r in vigil_runs],
                          "batch_rounds": [round(r.rate * BATCH_ITEMS) for r in batch_runs],
                          "load_average": round(os.getloadavg()[0], 2)}))
    failed = bool(rate_errors or late_errors)
    if failed:
        print(f"server logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
