"""Evaluating chunks of records in worker processes, results back in input order.

Workers are forked, so they inherit the compiled rulesets of the parent; the engine
builds its durable_rules handles lazily in each process that evaluates, so no C state
made before the fork is shared. Work goes out in chunks (one pickle round trip per few
hundred records, not per record) and at most a few chunks per worker are in flight, so
a file of any size is read as fast as it is evaluated, never ahead into memory.
"""
from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator

# What the task functions work with (rulesets, decoders, options). Set in the parent
# before the workers are forked, or in this process when there are no workers.
_context: Any = None


def context() -> Any:
    return _context


def default_workers() -> int:
    """One worker process per CPU this process may use (a container's limit too)."""
    from app.config import usable_cpus

    return usable_cpus()


def keep_freed_memory() -> None:
    """In this process, what the Makefile's and the container's MALLOC_*_THRESHOLD_
    settings do for the service: glibc keeps freed memory rather than handing it back
    after every evaluation (the rules engine allocates and frees a lot per record), so a
    review is as fast however the command was started."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 268435456)     # M_TRIM_THRESHOLD
        libc.mallopt(-3, 268435456)     # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _worker_start() -> None:
    # Ctrl-C reaches the whole process group; the parent decides what to do about it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()


def ordered_map(task: Callable[[Any], Any], chunks: Iterable[Any], *, workers: int, ctx: Any,
                in_flight_per_worker: int = 3) -> Iterator[Any]:
    """``task(chunk)`` for every chunk, yielded in the order of ``chunks``.

    ``workers=0`` runs every task in this process. ``task`` must be a module-level
    function; it reads its context with ``context()``. A worker that dies (a crash in
    native code, the out-of-memory killer) raises BrokenProcessPool here rather than
    leaving its chunk waiting forever.
    """
    global _context
    _context = ctx
    if workers <= 0:
        for chunk in chunks:
            yield task(chunk)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start)
    try:
        pending: deque = deque()
        limit = workers * in_flight_per_worker
        source = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    chunk = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(pool.submit(task, chunk))
            if not pending:
                break
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
