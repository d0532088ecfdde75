"""Failed authentication, limited per client address.

A wrong key costs the service a deliberate scrypt hash (tens of milliseconds of CPU), so
an unlimited stream of wrong keys is a cheap way to burn its CPU, and to guess. Each
address may fail ``VIGIL_AUTH_FAILURES`` times, and earns one more try every
``VIGIL_AUTH_FAILURE_WINDOW / VIGIL_AUTH_FAILURES`` seconds (a token bucket); past that,
requests from it that would need a hash are answered 429 with ``Retry-After`` before any
hash is computed. A key that already passed in this worker is still accepted: checking
it costs one SHA-256.

Counts are kept per gunicorn worker, in memory: with W workers an address gets at most
W times the limit before every worker refuses it. The address is the peer's; behind a
proxy listed in ``VIGIL_TRUSTED_PROXIES``, the one that proxy reports (the last address
in ``X-Forwarded-For`` that is not itself a trusted proxy). Nobody else's
``X-Forwarded-For`` is read, so a client cannot pick the address it is counted under.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict

from app.config import ConfigError

# Addresses remembered per worker; the least recently failing are forgotten first.
MAX_ADDRESSES = 10_000


class FailureLimiter:
    def __init__(self, limit: int, window: float, clock=time.monotonic, max_addresses: int = MAX_ADDRESSES):
        self.capacity = float(limit)
        self.rate = limit / window  # tries earned back per second
        self.clock = clock
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tries, at)
        self._lock = threading.Lock()

    def _tries(self, address: str, now: float) -> float:
        tries, at = self._buckets.get(address, (self.capacity, now))
        return min(self.capacity, tries + (now - at) * self.rate)

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may fail again, or None when it may now."""
        with self._lock:
            tries = self._tries(address, self.clock())
        if tries >= 1:
            return None
        return max(1, math.ceil((1 - tries) / self.rate))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            self._buckets[address] = (max(self._tries(address, now) - 1, 0.0), now)
            self._buckets.move_to_end(address)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)


def trusted_proxies(setting: str) -> tuple:
    """``VIGIL_TRUSTED_PROXIES``: addresses or networks, comma-separated."""
    networks = []
    for part in (p.strip() for p in (setting or "").split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"VIGIL_TRUSTED_PROXIES: {part!r} is not an IP address or network") from None
    return tuple(networks)


def _listed(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple) -> str:
    """The address a request is counted under."""
    peer = peer or ""
    if not proxies or not _listed(peer, proxies):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _listed(hop, proxies):
            return hop
    return peer
