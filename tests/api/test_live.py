"""The service as `make run` starts it: gunicorn with several workers on 127.0.0.1."""

import http.client
import json
import os
import shutil
import sqlite3
import threading
import time

import pytest

from tests.conftest import clean_snapshot, decision_request

pytestmark = pytest.mark.live


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def logged_rows(db_path: str) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    finally:
        conn.close()


def test_ten_thousand_concurrent_decisions_all_logged(make_server):
    server = make_server(workers=2)
    server.migrate()
    server.start()
    workers_before = server.worker_pids()
    assert len(workers_before) == 2
    key = server.create_key("decide", owner="loan-system")
    bodies = [json.dumps(decision_request(customer_id="C-odd")).encode(),
              json.dumps(decision_request(clean_snapshot(), customer_id="C-even")).encode()]
    clients, per_client = 8, 1250
    answered: list[list[str]] = [[] for _ in range(clients)]
    failures: list[str] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            for i in range(per_client):
                conn.request("POST", "/v1/decisions", body=bodies[i % 2],
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 201:
                    failures.append(f"{resp.status} {data[:200]!r}")
                    return
                answered[n].append(json.loads(data)["decision_id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert failures == []
    ids = [i for batch in answered for i in batch]
    assert len(ids) == len(set(ids)) == clients * per_client == 10_000
    assert logged_rows(server.db_path) == 10_000
    assert server.worker_pids() == workers_before, "a worker was replaced"
    assert server.process.poll() is None
    log = server.log()
    assert "Worker exiting" not in log and "WORKER TIMEOUT" not in log and "Traceback" not in log
    # Metrics add up every worker's decisions, whichever worker answers the scrape.
    _, _, metrics = server.request("GET", "/metrics")
    total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                if line.startswith('vigil_request_duration_seconds_count{endpoint="/v1/decisions"}'))
    assert total == 10_000
    # Two processes wrote at once, and the hash chain is still one line.
    status, _, body = server.request("GET", "/v1/decisions/verify")
    report = json.loads(body)
    assert status == 200 and report["ok"], report["problem"]
    assert report["checked"] == report["head"]["count"] == 10_000


def test_read_only_log_gets_503_and_nothing_unlogged(make_server):
    prefix = []
    if os.geteuid() == 0:
        # root ignores file permissions; drop that privilege so read-only means read-only.
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to run this test as root"
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    server = make_server(workers=2, prefix=prefix)
    server.migrate()
    server.start()
    status, _, _ = server.request("POST", "/v1/decisions", decision_request())
    assert status == 201
    files = [server.db_path + s for s in ("", "-wal", "-shm") if os.path.exists(server.db_path + s)]
    for path in files:
        os.chmod(path, 0o444)
    try:
        for _ in range(10):
            status, _, body = server.request("POST", "/v1/decisions", decision_request())
            assert status == 503, body
            assert json.loads(body)["error"]["reason"] == "decision_log_unavailable"
            assert b"decision_id" not in body
        status, _, body = server.request("POST", "/v1/decisions/batch", {"items": [decision_request()] * 3})
        assert status == 503 and b"decision_id" not in body
    finally:
        # SQLite creates -wal and -shm with the main file's mode: restore them all.
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(server.db_path + suffix):
                os.chmod(server.db_path + suffix, 0o644)
    assert logged_rows(server.db_path) == 1
    status, _, _ = server.request("POST", "/v1/decisions", decision_request())
    assert status == 201
    assert server.process.poll() is None


def test_removed_log_gets_503_then_recovers_after_migrate(make_server):
    server = make_server(workers=2)
    server.migrate()
    server.start()
    assert server.request("POST", "/v1/decisions", decision_request())[0] == 201
    stop = threading.Event()
    results: list[tuple[int, bytes]] = []

    def keep_deciding() -> None:
        while not stop.is_set() and len(results) < 5000:
            status, _, body = server.request("POST", "/v1/decisions", decision_request())
            results.append((status, body))

    threads = [threading.Thread(target=keep_deciding) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(results) >= 20)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(server.db_path + suffix):
            os.remove(server.db_path + suffix)
    removed_at = len(results)
    wait_until(lambda: len(results) >= removed_at + 40)
    stop.set()
    for t in threads:
        t.join()
    # Whatever was answered with a decision id before the removal was committed; after
    # it (allowing for requests in flight) only 503s.
    tail = results[removed_at + 8:]
    assert tail and all(status == 503 for status, _ in tail), [s for s, _ in tail]
    assert all(b"decision_id" not in body for status, body in results if status != 201)
    assert server.request("GET", "/readyz")[0] == 503
    server.migrate()
    assert server.request("POST", "/v1/decisions", decision_request())[0] == 201
    assert server.request("GET", "/readyz")[0] == 200


def test_a_chunked_body_over_the_limit_is_413_like_any_other(live_server):
    limit = 2 * 1024 * 1024  # VIGIL_MAX_CONTENT_LENGTH's default
    body = json.dumps(decision_request(customer_id="x" * (limit + 10))).encode()
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=60)
    try:
        conn.request("POST", "/v1/decisions", body=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                     encode_chunked=True,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {live_server.key}",
                              "Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413 and answer["error"]["reason"] == "payload_too_large", answer
    # A chunked body within the limit is read whole.
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=60)
    try:
        small = json.dumps(decision_request()).encode()
        conn.request("POST", "/v1/decisions", body=iter([small[:100], small[100:]]), encode_chunked=True,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {live_server.key}",
                              "Transfer-Encoding": "chunked"})
        assert conn.getresponse().status == 201
    finally:
        conn.close()


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"level": "error"' in line or "[ERROR]" in line]


def test_the_start_up_log_names_the_address(live_server):
    log = live_server.log()
    assert f"listening on http://127.0.0.1:{live_server.port}" in log
    assert f"Listening at: http://127.0.0.1:{live_server.port}" in log  # gunicorn's own socket: reuse_port off


def test_a_port_another_program_holds_stops_the_start_with_one_line(make_server):
    import socket

    server = make_server(workers=2)
    server.migrate()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", server.port))
        holder.listen()
        server.start(wait=False)
        assert server.process.wait(timeout=60) != 0
    log = server.log()
    [line] = _error_lines(log)
    assert f"cannot listen on 127.0.0.1:{server.port}: the address is already in use" in line
    assert "Retrying" not in log and "Booting worker" not in log  # no retries, no worker started


@pytest.mark.parametrize("reuse_port", ["0", "1"])
def test_a_second_vigil_on_the_same_port_is_refused(make_server, reuse_port):
    first = make_server(workers=2, env={"VIGIL_REUSE_PORT": reuse_port})
    first.migrate()
    first.start()
    second = make_server(workers=1, env={"VIGIL_REUSE_PORT": reuse_port})
    second.port = first.port
    second.env["VIGIL_BIND"] = f"127.0.0.1:{first.port}"
    second.migrate()
    second.start(wait=False)
    assert second.process.wait(timeout=60) != 0
    [line] = _error_lines(second.log())
    assert f"cannot listen on 127.0.0.1:{first.port}" in line
    # Every request still reaches the first, and only its log has the decisions.
    for _ in range(6):
        assert first.request("POST", "/v1/decisions", decision_request())[0] == 201
    assert logged_rows(first.db_path) == 6 and logged_rows(second.db_path) == 0
    assert first.process.poll() is None


def test_reuse_port_must_be_on_or_off(make_server):
    server = make_server(workers=1, env={"VIGIL_REUSE_PORT": "maybe"})
    server.migrate()
    server.start(wait=False)
    assert server.process.wait(timeout=60) != 0
    assert "VIGIL_REUSE_PORT must be on or off" in server.log()
