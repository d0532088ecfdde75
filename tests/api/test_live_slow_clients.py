"""Slow and idle clients against a live gunicorn: they must not hold the threads that
answer everyone else (see app/worker.py). Every wait here has a time bound: a service
that stops answering fails the test, it never hangs it."""

import http.client
import json
import socket
import threading
import time

import pytest

from tests.conftest import decision_request

pytestmark = pytest.mark.live

SLOW_CLIENTS = 50


def _answered_in_time(server, method, path, body=None, key=None, limit=2.0):
    """(status, seconds): one request on a new connection, failing past ``limit``."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=limit)
    try:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


class Trickler:
    """Connections that send a request a byte at a time, or stop halfway through."""

    def __init__(self, port: int, count: int, head: bytes, tail: bytes, interval: float = 0.3):
        self.stop = threading.Event()
        self.socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(head)
            self.socks.append(sock)
        self.tail, self.interval = tail, interval
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(self.interval) and self.sent < len(self.tail):
            byte = self.tail[self.sent:self.sent + 1]
            for sock in self.socks:
                try:
                    sock.sendall(byte)
                except OSError:
                    pass
            self.sent += 1

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.socks:
            sock.close()


HEADERS = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
           b"X-Padding: " + b"a" * 200 + b"\r\n\r\n")
BODY = (b"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 400\r\n\r\n{", b" " * 399)


@pytest.mark.parametrize("head,tail", [HEADERS, BODY], ids=["headers", "body"])
def test_fifty_slow_clients_do_not_stop_health_checks_or_decisions(make_server, head, tail):
    server = make_server(workers=2, threads=4)
    server.migrate()
    server.start()
    key = server.create_key("decide", owner="loan-system")
    slow = Trickler(server.port, SLOW_CLIENTS, head, tail)
    try:
        time.sleep(1.0)  # every slow connection accepted and trickling
        for _ in range(5):
            status, seconds = _answered_in_time(server, "GET", "/healthz", limit=2.0)
            assert status == 200 and seconds < 2.0
            status, seconds = _answered_in_time(server, "POST", "/v1/decisions", decision_request(), key, limit=3.0)
            assert status == 201 and seconds < 3.0
            time.sleep(0.2)
        assert slow.sent > 0 and not slow.stop.is_set()
    finally:
        slow.close()
    assert server.process.poll() is None


def test_a_request_that_does_not_arrive_in_time_is_answered_408_and_closed(make_server):
    server = make_server(workers=1, threads=2, env={"VIGIL_REQUEST_READ_TIMEOUT": "2"})
    server.migrate()
    server.start()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end of the headers
        started = time.monotonic()
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        assert time.monotonic() - started < 6
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    error = json.loads(body)
    assert error["error"]["reason"] == "request_timeout" and error["error"]["status"] == 408
    assert b"X-Content-Type-Options: nosniff" in head


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or goes quiet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        sock.close()


def _envelope(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head


def test_requests_refused_before_a_thread_sees_them_get_the_envelope(live_server):
    port = live_server.port
    cases = {
        414: b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431: b"GET /healthz HTTP/1.1\r\n" + b"X-A: " + b"b" * 70_000 + b"\r\n\r\n",
        413: b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{",
        400: b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}",
    }
    for status, request in cases.items():
        got, body, head = _envelope(_exchange(port, request))
        assert got == status, (status, head)
        assert body["error"]["status"] == status and body["error"]["message"] and body["request_id"]
        assert b"Content-Type: application/json" in head and b"X-Content-Type-Options: nosniff" in head
    # gunicorn's own parser finds this one (a header name it refuses): still the envelope.
    got, body, head = _envelope(_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"))
    assert got == 400 and body["error"]["reason"] == "bad_request", head
    assert "Traceback" not in live_server.log()
    # A default install says at start that masking is off.
    from app.api.operations import CLEAR_NOTE

    assert live_server.log().count(CLEAR_NOTE) == 1


def test_whole_requests_of_every_framing_are_served(live_server):
    port = live_server.port
    body = json.dumps(decision_request()).encode()
    auth = f"Authorization: Bearer {live_server.key}\r\nContent-Type: application/json\r\n".encode()
    # Chunked, in several chunks, sent in pieces.
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:100], body[100:]) if part) + b"0\r\n\r\n"
    raw = _exchange(port, b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
                    b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert raw.startswith(b"HTTP/1.1 201"), raw[:300]
    # Expect: 100-continue gets one 100 before the body is sent, then the answer.
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n" + auth +
                     b"Content-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 201") and b"100 Continue" not in answer
    # Two requests in one write on a kept-alive connection: both answered, in order.
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = _exchange(port, get + b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200") == 2, raw[:500]
