"""The container's health check: ``python -m app.healthcheck`` exits 0 when the service
answers ``/readyz`` with 200 on the port it was told to listen on (``VIGIL_BIND``), else 1.
Imports nothing but the standard library, so it costs little every interval."""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_BIND = "127.0.0.1:8000"


def readyz_url(bind: str) -> str:
    """Where to ask, from a gunicorn bind (``0.0.0.0:8000``, ``[::]:9000``, ``:8080``; the
    first when several are given): the same port on the loopback address."""
    first = bind.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"VIGIL_BIND={bind!r} names no TCP port")
    loopback = "[::1]" if host.startswith("[") else "127.0.0.1"
    return f"http://{loopback}:{port}/readyz"


def main() -> int:
    try:
        url = readyz_url(os.environ.get("VIGIL_BIND") or DEFAULT_BIND)
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
