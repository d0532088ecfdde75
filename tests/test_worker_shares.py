"""The table in which gunicorn workers say how many connections they hold
(app/worker.py, ConnectionShares): a worker is crowded only beside a live worker that
holds fewer, and a worker that is gone leaves its slot to the next."""

import os
import subprocess
import sys

from app.worker import ConnectionShares


def _write(shares, slot, pid, held):
    shares._SLOT.pack_into(shares.table, slot * shares._SLOT.size, pid, held)


def test_a_worker_is_crowded_only_beside_a_live_worker_holding_fewer():
    shares = ConnectionShares()
    assert not shares.crowded(5)  # not joined: never holds back
    shares.join()
    shares.hold(3)
    assert not shares.crowded(3)  # alone
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write(shares, (shares.slot + 1) % shares.SLOTS, other.pid, 2)
        assert shares.crowded(3)
        assert not shares.crowded(2)
    finally:
        other.kill()
        other.wait()
    assert not shares.crowded(3)  # the other worker is gone: nobody to leave it to


def test_a_slot_of_a_worker_gone_is_taken_again_and_left_on_exit():
    shares = ConnectionShares()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _write(shares, 0, gone.pid, 7)
    shares.join()
    assert shares.slot == 0
    assert shares._SLOT.unpack_from(shares.table, 0) == (os.getpid(), 0)
    shares.leave()
    assert shares._SLOT.unpack_from(shares.table, 0) == (0, 0) and shares.slot is None
