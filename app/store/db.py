"""Opening the decision log database and applying its migrations."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def _import_sqlite_utils():
    """sqlite-utils imports pandas and numpy whenever they are installed (the demo's
    requirements bring them), only to map their scalar types to column types. The store
    never writes either, and importing them would cost every command and worker about
    0.2 s of its start: hide them while sqlite-utils loads. Imported later by anyone
    else, they load as usual."""
    import sys

    hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # an import of it raises ImportError
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

from app.store.errors import LogUnavailable

_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


class LogDatabase(sqlite_utils.Database):
    """A sqlite_utils.Database that remembers which file it opened.

    SQLite keeps writing to a file that was deleted while a connection had it
    open; remembering the inode lets a writer notice that its commit went to a
    file nobody can read any more, and refuse to answer the decision.
    """

    path: str
    file_identity: tuple[int, int]
    # How long a writer waits for the write lock; and how long SQLite's own busy handler
    # waits (0 on a writer connection, whose waits immediate() does).
    busy_timeout_ms: int
    handler_timeout_ms: int


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def connect(path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000,
            autocheckpoint: int | None = None, writer: bool = False) -> LogDatabase:
    """Open an existing, migrated log for reading and writing. ``autocheckpoint``: the
    write-ahead log's size in pages past which a commit checkpoints (SQLite's default,
    1,000, when None; see Checkpointer).

    ``writer``: a connection that the threads of a process take turns to write with (a
    group commit's, one thread at a time), used only inside immediate(). Any thread may
    use it, and SQLite's busy handler stays off on it: immediate() waits for the write
    lock itself, up to ``busy_timeout_ms``, without switching the handler off and on
    around every transaction.

    Never creates the file: a log that has disappeared is an outage, not an empty log.
    Raises LogUnavailable.
    """
    if synchronous.upper() not in _SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=not writer)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    handler_ms = 0 if writer else int(busy_timeout_ms)
    try:
        conn.execute(f"PRAGMA busy_timeout = {handler_ms}")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        if autocheckpoint is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
        db = LogDatabase(conn, recursive_triggers=False, execute_plugins=False)
        db.path = path
        db.busy_timeout_ms = int(busy_timeout_ms)
        db.handler_timeout_ms = handler_ms
        db.file_identity = _identity(path)
    except (sqlite3.Error, OSError) as exc:
        conn.close()
        raise LogUnavailable() from exc
    return db


def create(path: str) -> sqlite_utils.Database:
    """Open the log for migrating, creating the file and its folder if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return sqlite_utils.Database(path, execute_plugins=False)


def still_on_disk(db: sqlite_utils.Database) -> bool:
    """True if the file this connection writes to is still the one at its path, and
    nobody has made it read-only since the connection was opened.

    A connection opened before a chmod keeps writing through its open file; an
    operator who makes the log read-only means "stop writing", so the mode bits are
    honoured even for a process (root) the kernel would let write.
    """
    identity = getattr(db, "file_identity", None)
    if identity is None:
        return True
    try:
        st = os.stat(db.path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == identity and bool(st.st_mode & 0o222) and os.access(db.path, os.W_OK)


# What the log must still be able to take for the service to say it is ready: room in
# the database for a large decision (a full trail, a big snapshot) or a batch of ordinary
# ones, and room on the disk for the write-ahead log frames that many decisions write.
WRITE_HEADROOM = 256 * 1024
DISK_HEADROOM = 16 * 1024 * 1024


class _Probed(Exception):
    """Raised to roll the probe write back."""


def writable(db: sqlite_utils.Database, headroom: int | None = None, disk: int | None = None) -> bool:
    """True if the log can take a write now: the file system it is on has ``disk`` bytes
    free, and SQLite can allocate ``headroom`` bytes of new pages (a probe table and row
    written, then rolled back: nothing reaches the file, and a database at its
    max_page_count says no). Takes the write lock for well under a millisecond. Raises
    LogUnavailable when the lock cannot be had within the busy timeout."""
    headroom = WRITE_HEADROOM if headroom is None else headroom
    disk = DISK_HEADROOM if disk is None else disk
    try:
        fs = os.statvfs(os.path.dirname(os.path.abspath(db.path)) if getattr(db, "path", None) else ".")
    except OSError:
        return False
    if fs.f_bavail * fs.f_frsize < disk:
        return False
    try:
        with immediate(db):
            db.execute("CREATE TABLE vigil_write_probe (b BLOB)")
            db.execute("INSERT INTO vigil_write_probe VALUES (zeroblob(?))", [int(headroom)])
            raise _Probed
    except _Probed:
        return True
    except sqlite3.Error:
        return False


# Threads of one process queue for the write lock here, where a release wakes the next
# writer at once, rather than in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... ms.
_process_writer = threading.Lock()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, getattr(sqlite3, "SQLITE_LOCKED", 6)) \
        or "locked" in str(exc) or "busy" in str(exc)


def _begin_immediate(db: sqlite_utils.Database, deadline: float) -> None:
    """BEGIN IMMEDIATE, retried every ~0.2 ms while another process holds the write
    lock, until the deadline (then LogUnavailable). The connection's busy timeout is 0
    here (immediate() sets it), so that SQLite's busy handler never sleeps instead."""
    conn = db.conn
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.0001 + random.random() * 0.0002)


@contextlib.contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that holds the write lock from BEGIN to COMMIT.

    A deferred transaction that reads before it writes can fail at once with
    SQLITE_BUSY when another worker wrote in between; taking the lock up front makes
    concurrent writers queue instead. Raises LogUnavailable if the lock cannot be had
    within the connection's busy timeout.

    The connection's busy timeout is set to 0 before the locks are taken and back after
    they are released: every statement run while holding the write lock keeps every
    other writer waiting, and in a worker whose other threads are busy evaluating, each
    one costs a wait for the interpreter's lock as well. A writer connection (see
    connect()) has it at 0 already, and is left alone.
    """
    timeout = getattr(db, "busy_timeout_ms", 5000) / 1000
    deadline = time.monotonic() + timeout
    conn = db.conn
    switch_handler = getattr(db, "handler_timeout_ms", None) != 0
    if switch_handler:
        conn.execute("PRAGMA busy_timeout = 0")
    try:
        if not _process_writer.acquire(timeout=timeout):
            raise LogUnavailable("The decision log is busy; no decision was made.")
        try:
            _begin_immediate(db, deadline)
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    db.rollback()
                    raise
        finally:
            _process_writer.release()
    finally:
        # After a COMMIT nothing may fail: what was committed is answered. A connection
        # that cannot take this fails on its next statement and is opened again.
        if switch_handler:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout = {int(getattr(db, 'busy_timeout_ms', 5000))}")


# A checkpoint copies the write-ahead log back into the database file and syncs it:
# about 10 to 20 ms for SQLite's default of every 1,000 pages (about 80 decisions), paid
# by whichever commit crosses the mark. The service's connections leave that to a
# Checkpointer thread and checkpoint on their own only past this many pages (64 MiB at
# 4 KiB pages), should the thread ever fall that far behind.
SERVICE_AUTOCHECKPOINT_PAGES = 16384


class Checkpointer:
    """Checkpoints the log in a thread of its own, off the path of the decisions.

    ``written()`` after a commit wakes it; it waits ``delay`` seconds so that one
    checkpoint covers the commits of that moment, then runs a PASSIVE checkpoint, which
    never blocks a writer or a reader (if another process is checkpointing, it skips).
    The thread ends after ``idle`` seconds without a write and starts again on the next
    one, so an idle or discarded service keeps no thread and no connection open."""

    def __init__(self, path: str, *, delay: float = 0.05, idle: float = 10.0):
        self.path = path
        self.delay = delay
        self.idle = idle
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        self.failures = 0

    def written(self) -> None:
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="vigil-checkpointer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        db = None
        try:
            while self._wake.wait(self.idle):
                self._wake.clear()
                time.sleep(self.delay)
                try:
                    if db is not None and not still_on_disk(db):
                        db.close()  # the log was replaced: checkpoint the one at the path
                        db = None
                    if db is None:
                        db = connect(self.path)
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except (sqlite3.Error, LogUnavailable):
                    # The log is unavailable (moved, removed, locked): the writers say
                    # so; try again with a fresh connection on the next write.
                    self.failures += 1
                    if db is not None:
                        db.close()
                        db = None
        finally:
            with self._lock:
                self._thread = None
            if db is not None:
                db.close()
            if self._wake.is_set():  # a write came in while the thread was ending
                self.written()


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied. WAL mode is set here
    (it is a property of the file) so every worker that opens it shares it."""
    from migrations import MIGRATIONS

    db.enable_wal()
    pending = [m.name for m in MIGRATIONS.pending(db)]
    MIGRATIONS.apply(db)
    return pending


def pending_migrations(db: sqlite_utils.Database) -> list[str]:
    from migrations import MIGRATIONS

    try:
        return [m.name for m in MIGRATIONS.pending(db)]
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
