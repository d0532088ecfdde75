"""Hot reload: each worker keeps the policies it serves current without a restart.

The worker holds one immutable ServedPolicies (app/service/served.py) in
``app.extensions["vigil.library"]``. At most every VIGIL_POLICY_CHECK_SECONDS (default
1) a request reads the policy token; when it changed, that request builds new served
policies in full (reusing every compiled version that did not change) and only then
swaps the one reference. Requests already running keep the policies they started with,
and the others carry on serving while the new ones are built, so none waits and none
sees half a load.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from app.api.database import get_db
from app.api.errors import RulesetsUnavailable
from app.service import served
from app.service import policies
from app.store import StoreError

log = logging.getLogger("vigil.policies")


class Refresher:
    def __init__(self, interval: float):
        self.interval = float(interval)
        self.next_check = 0.0
        self.lock = threading.Lock()

    def due(self) -> bool:
        return time.monotonic() >= self.next_check


def refresh(app: Flask, *, force: bool = False) -> None:
    """Swap in new served policies if the policy token changed. Never raises: a worker that
    cannot read the database keeps serving the policies it has; a version that does not
    compile is left out of the new ones (served.load) and named in the log."""
    refresher: Refresher = app.extensions["vigil.policy_refresher"]
    if not (force or refresher.due()) or not refresher.lock.acquire(blocking=force):
        return
    try:
        refresher.next_check = time.monotonic() + refresher.interval
        current = app.extensions.get("vigil.library")
        db = get_db()
        token = policies.token(db)
        if current is not None and getattr(current, "token", None) == token:
            return
        started = time.perf_counter()
        served_now = served.load(db, current, check=served.in_a_checker(db))
        app.extensions["vigil.library"] = served_now
        log.info("policies loaded", extra={
            "rulesets": [f"{r.id}@{r.version}" for r in served_now.rulesets()],
            "in_effect": {rid: served_now.in_effect(rid).version for rid in served_now.history
                          if served_now.in_effect(rid) is not None},
            "load_ms": round((time.perf_counter() - started) * 1000, 1)})
        served.log_failures(served_now, log)
    except StoreError as exc:
        log.warning("policies not checked: the database is unavailable", extra={"reason": exc.reason})
    finally:
        refresher.lock.release()


def loaded():
    """The snapshot served now, loaded first if this worker has none yet; None when no
    policy can be loaded (no error: for views that only show which version is in effect)."""
    app = current_app._get_current_object()
    refresh(app)
    return app.extensions.get("vigil.library")


def library():
    """The served policies to decide with, current to within the check interval."""
    app = current_app._get_current_object()
    refresh(app)
    policies = app.extensions.get("vigil.library")
    if policies is None:
        raise RulesetsUnavailable()
    return policies


def init_app(app: Flask) -> None:
    app.extensions["vigil.policy_refresher"] = Refresher(app.config["VIGIL_POLICY_CHECK_SECONDS"])
