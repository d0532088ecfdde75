"""The gunicorn worker Vigil runs: gthread, except that a request is read whole before a
thread takes it.

gunicorn's gthread worker hands a connection to a pool thread as soon as it has data;
the thread then reads the request line, the headers and the body with blocking reads and
no deadline. A client that trickles its headers a byte at a time holds that thread for as
long as it likes, and a few dozen such clients hold every thread of every worker: the
service stops answering anyone, health checks included, without a key being checked.

Here the worker's main loop, which already waits on every idle connection with a
selector, also reads every request: headers, then the body (by Content-Length, or to the
last chunk), without blocking, into a buffer. Only a complete request goes to a thread,
which then parses it from memory and never waits on the client. A slow or idle client
costs a buffer and a file descriptor, never a thread. What a client may hold is bounded:

* a request must arrive whole within ``VIGIL_REQUEST_READ_TIMEOUT`` seconds (default 10)
  of its first wait, or it is answered 408 and closed;
* a request line over gunicorn's ``limit_request_line`` is answered 414, a head over
  64 KiB 431, a body over the app's ``MAX_CONTENT_LENGTH`` 413, before it is read;
* one worker buffers at most ``VIGIL_READ_BUFFER_BYTES`` (default 64 MiB) across its
  connections; a request that would go past it is answered 503;
* connections per worker are gunicorn's ``worker_connections``.

Workers share one listening socket, and a kept-alive connection stays with the worker
that accepted it: a burst of new connections (a client's pool opening at once) could all
land on one worker and leave the others idle, halving what the service can do and
queueing every request behind that one worker. Each worker therefore writes how many
connections it holds into a small table shared by the workers (an anonymous shared
mapping made by the master before it forks them), and a worker that already holds more
than its share lets a new connection wait ``ACCEPT_DEFER`` seconds before taking it, so
that a worker with fewer takes it first; if none does, it takes it anyway. With
``VIGIL_REUSE_PORT`` on each worker has its own socket and the kernel spreads them.

Errors answered here, and those gunicorn's parser answers itself (a malformed request
line or header, 400), are written in the API's error envelope.

Vigil serves HTTP/1.1 with this worker; HTTP/2 needs a proxy in front.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import re
import selectors
import socket
import struct
import time
import uuid
from collections import deque
from functools import partial

from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gthread import ThreadWorker, TConn

HEAD_LIMIT = 64 * 1024
_DEFAULT_BODY_LIMIT = 2 * 1024 * 1024
_RECV = 64 * 1024
LINGER_SECONDS = 2.0

_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?\n", re.I | re.M)
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,16})(;[^\r\n]*)?$")

# Status, reason and message of the errors the worker answers; the reasons are the API's.
_ERRORS = {
    400: ("bad_request", "The request is not valid HTTP."),
    403: ("forbidden", "The request is forbidden."),
    408: ("request_timeout", "The request did not arrive in time; send it whole, without pauses."),
    413: ("payload_too_large", "The request body is too large."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: ("header_fields_too_large", "The request's header fields are too large."),
    500: ("internal_error", "The request could not be handled."),
    501: ("not_implemented", "This transfer coding is not supported."),
    503: ("service_unavailable", "The server is busy; try again shortly."),
}
_PHRASES = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


def error_bytes(status: int) -> bytes:
    """A whole HTTP response in the API's error envelope, closing the connection."""
    from app.api.errors import envelope
    from app.api.headers import API_CSP, SECURITY_HEADERS

    reason, message = _ERRORS.get(status, _ERRORS[400])
    request_id = uuid.uuid4().hex
    body = json.dumps(envelope(status, reason, message, request_id=request_id)).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close",
               "X-Request-Id": request_id, **SECURITY_HEADERS, "Content-Security-Policy": API_CSP,
               "Cache-Control": "no-store"}
    head = f"HTTP/1.1 {status} {_PHRASES.get(status, 'Error')}\r\n" + \
        "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


class Logger(GunicornLogger):
    """gunicorn's logger, except that it builds a request's access-log record only when
    the access log goes somewhere. gunicorn builds one after every request whenever a
    logging config is given (its fields: every request and response header and every
    environ entry, and the time formatted), even for an access logger with no handler,
    as in gunicorn.conf.py, where the app logs each request itself."""

    def setup(self, cfg):
        super().setup(cfg)
        self.access_logged = self.access_log.hasHandlers()

    def access(self, resp, req, environ, request_time):
        if self.access_logged:
            super().access(resp, req, environ, request_time)


class _Prefixed:
    """A client socket that first gives back the bytes the main loop read ahead."""

    def __init__(self, sock):
        self._sock = sock
        self.pending = bytearray()

    def recv(self, size, *flags):
        if self.pending:
            data = bytes(self.pending[:size])
            del self.pending[:size]
            return data
        return self._sock.recv(size, *flags)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Capture:
    """Stands in for a socket while gunicorn writes one of its HTML error pages, to learn
    the status it chose."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def setblocking(self, flag):
        pass

    def sendall(self, data):
        self.data += data


class _Reading:
    __slots__ = ("buf", "deadline", "continued")

    def __init__(self, data: bytes, deadline: float):
        self.buf = bytearray(data)
        self.deadline = deadline
        self.continued = False


def _fields(head: bytes) -> dict[bytes, list[bytes]]:
    """The header fields of a request head, by lower-case name."""
    fields: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def _scan_chunked(buf: bytearray, start: int) -> int | None:
    """Where a chunked body starting at ``start`` ends (after its trailers), None while it
    is incomplete, -1 when it is malformed (gunicorn's parser will say how)."""
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None if len(buf) - pos <= 1024 else -1
        match = _CHUNK_SIZE.match(bytes(buf[pos:eol]))
        if not match:
            return -1
        size = int(match.group(1), 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return None if end < 0 else end + 4
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size:pos + size + 2] != b"\r\n":
            return -1
        pos += size + 2


# How long a worker holding more than its share of connections waits before taking a
# new one, so that one holding fewer takes it (seconds; once per connection accepted).
ACCEPT_DEFER = 0.002


class ConnectionShares:
    """How many connections each worker holds, in a table every worker of one master
    reads and writes: made when this module is imported, in the master, before it forks
    the workers, which inherit it. A slot is (pid, connections); a worker takes a free
    slot or one whose process is gone."""

    SLOTS = 64
    _SLOT = struct.Struct("qq")

    def __init__(self) -> None:
        self.table = mmap.mmap(-1, self.SLOTS * self._SLOT.size)
        self.slot: int | None = None

    def _slots(self):
        for index in range(self.SLOTS):
            yield index, *self._SLOT.unpack_from(self.table, index * self._SLOT.size)

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def join(self) -> None:
        """Take a slot for this process (a worker, as it starts)."""
        me = os.getpid()
        for index, pid, _ in self._slots():
            if pid == 0 or pid == me or not self._alive(pid):
                self._SLOT.pack_into(self.table, index * self._SLOT.size, me, 0)
                self.slot = index
                return

    def leave(self) -> None:
        if self.slot is not None:
            self._SLOT.pack_into(self.table, self.slot * self._SLOT.size, 0, 0)
            self.slot = None

    def hold(self, connections: int) -> None:
        if self.slot is not None:
            self._SLOT.pack_into(self.table, self.slot * self._SLOT.size, os.getpid(), connections)

    def crowded(self, connections: int) -> bool:
        """Whether this worker holds more connections than another live worker does."""
        if self.slot is None:
            return False
        me = os.getpid()
        return any(pid not in (0, me) and held < connections and self._alive(pid)
                   for _, pid, held in self._slots())


shares = ConnectionShares()


class BufferedThreadWorker(ThreadWorker):
    """gthread whose threads only ever see requests that have arrived whole."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout = float(os.environ.get("VIGIL_REQUEST_READ_TIMEOUT", "10"))
        self.buffer_limit = int(os.environ.get("VIGIL_READ_BUFFER_BYTES", str(64 * 1024 * 1024)))
        self.reading: dict[TConn, _Reading] = {}
        self.deadlines: deque[tuple[float, TConn]] = deque()
        self.buffered = 0
        # Connections answered 413 whose body is still arriving: read and thrown away for
        # a moment, so the client reads the answer instead of a reset (bounded in time).
        self.lingering: dict[TConn, float] = {}

    # ------------------------------------------------------------ connections in

    def init_process(self):
        if not self.cfg.reuse_port:
            shares.join()
        try:
            super().init_process()
        finally:
            shares.leave()

    def wait_for_and_dispatch_events(self, timeout):
        shares.hold(self.nr_conns)
        super().wait_for_and_dispatch_events(timeout)

    def accept(self, listener):
        if shares.crowded(self.nr_conns):
            time.sleep(ACCEPT_DEFER)  # a worker holding fewer takes it meanwhile, if it can
        try:
            client, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        shares.hold(self.nr_conns)
        conn = TConn(self.cfg, client, addr, listener.getsockname())  # non-blocking
        conn.sock = _Prefixed(conn.sock)
        self._start_reading(conn)

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection has its next request coming."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)

    def finish_request(self, conn, fs):
        # A client that sent its next request behind the last one: those bytes are in
        # the parser's buffer, and must be read whole here too before a thread waits.
        if (self.alive and not fs.cancelled() and fs.exception() is None and fs.result() is True
                and conn.parser is not None and conn.parser.unreader.buf.getvalue()):
            conn.sock.setblocking(False)
            self._start_reading(conn, conn.parser.unreader.take_buffered())
            return
        super().finish_request(conn, fs)

    # ------------------------------------------------------------ reading

    def _start_reading(self, conn, data: bytes = b"") -> None:
        state = _Reading(data, time.monotonic() + self.read_timeout)
        self.buffered += len(data)
        self.reading[conn] = state
        self.deadlines.append((state.deadline, conn))
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        self._on_readable(conn, conn.sock)

    def _on_readable(self, conn, _client) -> None:
        state = self.reading.get(conn)
        if state is None:
            return
        try:
            data = conn.sock._sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            data = None
        except OSError:
            self._drop(conn)
            return
        if data == b"":
            self._drop(conn)
            return
        if data:
            if self.buffered + len(data) > self.buffer_limit:
                self._drop(conn, 503)
                return
            state.buf += data
            self.buffered += len(data)
        self._check(conn, state)

    def _check(self, conn, state: _Reading) -> None:
        buf = state.buf
        if not buf:
            return
        line_end = buf.find(b"\n")
        limit = self.cfg.limit_request_line
        if limit and (line_end if line_end >= 0 else len(buf)) > limit + 1:
            self._drop(conn, 414)
            return
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > HEAD_LIMIT:
                self._drop(conn, 431)
            return
        body_start = head_end + 4
        head = bytes(buf[:body_start])
        if head_end > HEAD_LIMIT:
            self._drop(conn, 431)
            return
        fields = _fields(head)
        lengths, codings = fields.get(b"content-length", []), fields.get(b"transfer-encoding", [])
        if codings or lengths:
            if codings and b"chunked" in b",".join(codings).lower():
                end = _scan_chunked(buf, body_start)
                if end is not None and end - body_start > self._body_limit():
                    self._drop(conn, 413)
                    return
                if end is None:
                    if len(buf) - body_start > self._body_limit():
                        self._drop(conn, 413, linger=True)
                        return
                    self._continue(conn, state, head)
                    return
            elif len(lengths) == 1 and lengths[0].isdigit() and not codings:
                size = int(lengths[0])
                if size > self._body_limit():
                    self._drop(conn, 413, linger=True)
                    return
                if len(buf) < body_start + size:
                    self._continue(conn, state, head)
                    return
            else:
                # Two lengths, a length that is not a number, a length and a coding, a
                # coding that is not chunked: nobody can tell where this body ends.
                self._drop(conn, 400)
                return
        # The request is all here; gunicorn's parser judges the rest of it from memory.
        self._dispatch(conn, state)

    def _continue(self, conn, state: _Reading, head: bytes) -> None:
        """Tell a client waiting on `Expect: 100-continue` to send its body now."""
        if state.continued or not _EXPECT_CONTINUE.search(head):
            return
        state.continued = True
        try:
            conn.sock._sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        except OSError:
            pass
        # Answered: gunicorn must not send a second one when it parses the request.
        match = _EXPECT_CONTINUE.search(state.buf)
        del state.buf[match.start():match.end()]
        self.buffered -= match.end() - match.start()

    def _body_limit(self) -> int:
        config = getattr(self.wsgi, "config", None) or {}
        return int(config.get("MAX_CONTENT_LENGTH") or _DEFAULT_BODY_LIMIT)

    def _stop_reading(self, conn) -> _Reading | None:
        state = self.reading.pop(conn, None)
        if state is not None:
            self.buffered -= len(state.buf)
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        return state

    def _dispatch(self, conn, state: _Reading) -> None:
        self._stop_reading(conn)
        conn.sock.pending += state.buf
        conn.data_ready = True
        conn.sock.setblocking(True)
        self.enqueue_req(conn)

    def _drop(self, conn, status: int | None = None, linger: bool = False) -> None:
        """Close a connection that is being read, answering ``status`` first. With
        ``linger``, the rest of what the client is sending is read and thrown away for
        up to LINGER_SECONDS first: closing with unread data would reset the connection
        and the client could lose the answer."""
        self._stop_reading(conn)
        if status is not None:
            self.log.warning("Refused a request from ip=%s: %s", (conn.client or ("",))[0], status)
            try:
                conn.sock._sock.send(error_bytes(status))
                if linger:
                    conn.sock._sock.shutdown(socket.SHUT_WR)
                    deadline = time.monotonic() + LINGER_SECONDS
                    self.lingering[conn] = deadline
                    self.deadlines.append((deadline, conn))
                    self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_lingering, conn))
                    return
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def _on_lingering(self, conn, _client) -> None:
        try:
            data = conn.sock._sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._end_lingering(conn)

    def _end_lingering(self, conn) -> None:
        if self.lingering.pop(conn, None) is None:
            return
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self, force=False):
        super().murder_keepalived(force)
        now = time.monotonic()
        while self.deadlines and (force or self.deadlines[0][0] <= now):
            deadline, conn = self.deadlines.popleft()
            state = self.reading.get(conn)
            if state is not None and state.deadline == deadline:
                self._drop(conn, 408 if state.buf else None)
            elif self.lingering.get(conn) == deadline:
                self._end_lingering(conn)

    # ------------------------------------------------------------ errors gunicorn finds

    def handle_error(self, req, client, addr, exc):
        """gunicorn's choice of status and its log line, in the API's envelope."""
        capture = _Capture()
        super().handle_error(req, capture, addr, exc)
        match = re.match(rb"HTTP/1\.[01] (\d{3})", capture.data)
        status = int(match.group(1)) if match else 500
        try:
            client.setblocking(True)
            client.sendall(error_bytes(status))
        except OSError:
            self.log.debug("Failed to send error message.")
