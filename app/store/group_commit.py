"""Group commit: the decisions that threads of one process want logged at the same
moment share one write transaction.

Every decision holds the log's write lock for a BEGIN IMMEDIATE, a read of the chain's
last link, its INSERT and a COMMIT, and every other writer (thread or gunicorn worker)
waits for it. Here a thread that wants rows written joins a queue; the thread at the
front of the queue (the leader) takes every unit queued behind it, up to ``max_items``
rows, writes them with one call of ``write`` (one transaction), and hands each unit
its own results. A unit is answered only once the transaction that holds it has
committed, so "answered" still means "in the log": a crash before COMMIT loses the
whole group and answers none of it. While a leader writes (SQLite releases the GIL),
the next requests are evaluated and queue up for the following group.

A group that fails for a reason other than the log being unavailable is written again
one unit at a time, so one bad unit cannot take the others down with it.

Given ``connect``, every group is written through one connection of the process's
(opened by the first leader, see store.connect(writer=True)) instead of the leader
thread's own: its page cache stays warm from one transaction to the next, and no
statement switches its busy handler off and on. When the log is unavailable, that
connection is closed and the next group opens a fresh one, so the writes recover by
themselves once the log is back.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from app.store.errors import LogUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")
Db = Any


class _Unit:
    __slots__ = ("items", "results", "error", "done")

    def __init__(self, items: Sequence):
        self.items = items
        self.results: list | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit(Generic[Item, Result]):
    """``write(db, items) -> results`` (one result per item, in order, all committed
    in one transaction when it returns) shared by the threads of one process."""

    def __init__(self, write: Callable[[Db, list], list], max_items: int = 256,
                 connect: Callable[[], Db] | None = None):
        self._write = write
        self.max_items = max_items
        self._connect = connect
        self._db: Db | None = None  # the writer connection, used by one leader at a time
        self.connections = 0  # how many writer connections were opened
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Unit] = deque()
        # How many transactions and units were written: what group commit saved.
        self.transactions = 0
        self.units = 0

    def write(self, db: Db, items: Sequence[Item]) -> list[Result]:
        """Write ``items`` (in one transaction with whatever else is queued now) and
        return their results once committed; raise what ``write`` raised for them."""
        unit = _Unit(items)
        with self._cond:
            self._queue.append(unit)
            while not unit.done and self._queue[0] is not unit:
                self._cond.wait()
            if unit.done:
                return self._outcome(unit)
            group, count = [], 0
            for queued in self._queue:
                if group and count + len(queued.items) > self.max_items:
                    break
                group.append(queued)
                count += len(queued.items)
        try:
            self._lead(db, group)
        finally:
            with self._cond:
                for _ in group:
                    self._queue.popleft()
                self._cond.notify_all()
        return self._outcome(unit)

    def _writer(self, db: Db) -> Db:
        """The connection to write a group with: the process's writer connection when
        there is a ``connect``, else the leader's own ``db``."""
        if self._connect is None:
            return db
        if self._db is None:
            self._db = self._connect()
            self.connections += 1
        return self._db

    def connection(self) -> Db:
        """The writer connection, opened if need be (only with a ``connect``); for a
        caller that knows no group is being written meanwhile."""
        return self._writer(None)

    def _forget_writer(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close too
                db.close()

    def _lead(self, db: Db, group: list[_Unit]) -> None:
        merged = [item for unit in group for item in unit.items]
        try:
            db = self._writer(db)
            results = self._write(db, merged)
        except LogUnavailable as exc:
            self._forget_writer()
            for unit in group:
                unit.error = exc
        except BaseException as exc:  # noqa: BLE001 - each unit alone, so one bad unit fails alone
            if len(group) == 1:
                group[0].error = exc
            else:
                for unit in group:
                    self._alone(db, unit)
        else:
            self.transactions += 1
            self.units += len(group)
            start = 0
            for unit in group:
                unit.results = results[start:start + len(unit.items)]
                start += len(unit.items)
        for unit in group:
            unit.done = True

    def _alone(self, db: Db, unit: _Unit) -> None:
        try:
            unit.results = self._write(self._writer(db), list(unit.items))
            self.transactions += 1
            self.units += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the unit's own thread
            if isinstance(exc, LogUnavailable):
                self._forget_writer()
            unit.error = exc

    @staticmethod
    def _outcome(unit: _Unit) -> list:
        if unit.error is not None:
            raise unit.error
        return unit.results
