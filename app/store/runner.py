"""Which process runs a background job (a simulation, a verification of the log), so that
a job whose process ended (its worker restarted, crashed or was killed) is known to have
stopped at once, rather than shown as running for ever.

A process is named by its host, its pid and its start time (from /proc), so that a pid the
kernel has since given to another process does not pass for the one that ran the job.
The log is a local SQLite file, so the processes that read a job's row run where it ran;
a job named by another host (another container sharing the file) is taken as alive.
"""

from __future__ import annotations

import os
import socket


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None if there is no such
    process (or no /proc to ask)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19].decode()  # field 22, starttime


def this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid) or ''}"


def alive(runner: str | None) -> bool:
    """False only when the process ``runner`` names (this_process() in it) has surely
    ended; True when it runs, or when that cannot be told (no runner recorded, another
    host, no /proc)."""
    if not runner:
        return True
    parts = runner.split(":")
    try:
        host, pid, started = ":".join(parts[:-2]), int(parts[-2]), parts[-1]
    except (ValueError, IndexError):
        return True
    if host != socket.gethostname() or not os.path.isdir("/proc/self"):
        return True
    now = _started(pid)
    return now is not None and (not started or now == started)
