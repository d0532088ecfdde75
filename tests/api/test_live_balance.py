"""Connections opened at once are shared by the workers (app/worker.py, ConnectionShares):
with one listening socket, whichever worker accepted a kept-alive connection keeps it, and
a burst of connections could all land on one worker."""

import collections
import json
import socket
import time

import pytest

pytestmark = pytest.mark.live

CONNECTIONS = 16


def _pid_answering(sock: socket.socket, request_id: str) -> None:
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: {request_id}\r\n\r\n".encode())


def _pids(server, prefix: str) -> dict:
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    return {l["request_id"]: l["pid"] for l in lines if str(l.get("request_id", "")).startswith(prefix)}


def _both_workers_up(server, timeout: float = 60) -> None:
    """Both workers answer (one connection per request), so neither is still starting."""
    deadline = time.monotonic() + timeout
    n = 0
    while len(set(_pids(server, "warm-").values())) < 2:
        assert time.monotonic() < deadline, "the second worker did not start"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: warm-{n}\r\n"
                         f"Connection: close\r\n\r\n".encode())
            sock.recv(65536)
        n += 1
        time.sleep(0.05)


def test_a_burst_of_kept_alive_connections_is_spread_over_the_workers(make_server):
    server = make_server(workers=2)
    server.migrate()
    server.start()
    _both_workers_up(server)
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(CONNECTIONS)]
    try:
        for n, sock in enumerate(socks):
            _pid_answering(sock, f"burst-{n}")
        for sock in socks:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # each request's log line names the worker (pid) that answered it
        deadline = time.monotonic() + 10
        while True:
            answered = _pids(server, "burst-")
            if len(answered) == CONNECTIONS or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for sock in socks:
            sock.close()
    assert len(answered) == CONNECTIONS
    per_worker = collections.Counter(answered.values())
    assert len(per_worker) == 2, per_worker
    # each worker gets close to half (without the shares, splits such as 15 and 1 happen)
    assert min(per_worker.values()) >= CONNECTIONS * 3 // 8, per_worker
