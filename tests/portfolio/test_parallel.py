"""The ordered, chunked process pool."""
from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from app.portfolio import parallel


def _square_all(chunk):
    return [x * x * parallel.context() for x in chunk], os.getpid()


def _die_on_seven(chunk):
    if 7 in chunk:
        os._exit(3)
    return chunk


def test_results_come_back_in_input_order_from_worker_processes():
    chunks = [list(range(i, i + 5)) for i in range(0, 200, 5)]
    out = list(parallel.ordered_map(_square_all, iter(chunks), workers=2, ctx=10))
    assert [r for r, _ in out] == [[x * x * 10 for x in c] for c in chunks]
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_no_workers_runs_in_this_process():
    out = list(parallel.ordered_map(_square_all, [[1, 2]], workers=0, ctx=1))
    assert out == [([1, 4], os.getpid())]


def test_a_worker_that_dies_is_an_error_not_a_hang():
    chunks = [[n] for n in range(20)]
    with pytest.raises(BrokenProcessPool):
        list(parallel.ordered_map(_die_on_seven, chunks, workers=2, ctx=None))
