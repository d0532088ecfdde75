"""A hardened wrapper around the durable_rules C core.

durable_rules 2.0.28 has crash modes that ordinary requests can reach. This module is
the only code that calls it, and it is written so that none of them can happen:

* ``delete_state`` segfaults when no rule fired in the session, and a ruleset holds at
  most 1,024 live sessions whose ids are compared by a 32-bit hash: each handle has one
  session, made when the handle is, in which a sentinel rule (matching an end fact)
  fires at once, and which lives as long as the handle. Evaluations run in it one at a
  time (a lock; the C core never releases the GIL anyway), and each one retracts every
  fact it asserted before it ends. State is never deleted: setting up a session's state
  costs more than the rest of the C calls of an evaluation together.
* the default ``Host`` starts timer threads that run actions behind the caller's back and
  are never collected: no ``Host`` is created; activations are taken with
  ``start_action`` and run by Vigil's agenda in the caller's thread.
* an action that raises is swallowed into session state: Vigil's actions run outside the
  C core, and any failure abandons the whole evaluation (no partial result).
* a ruleset name cannot be registered twice: every handle gets a process-unique name, so
  several versions live side by side and a broken handle is replaced, never re-registered.
* its C core has fixed table sizes and fails (error 303, 108) or hangs for good past
  them: ``limit_problems`` finds what a compiled ruleset would exceed, and the ruleset is
  refused when it is loaded, with a message naming the limit.
* the handles are created lazily in the process that uses them, so forked gunicorn
  workers never share C state made before the fork; a handle is deleted when its
  ruleset is closed or garbage-collected (hot reload and draft checks compile many).
"""
from __future__ import annotations

import itertools
import json
import os
import threading
import weakref

import durable_rules_engine as _dr

from .errors import EvaluationError

SID = "0"
SENTINEL = "end"
_names = itertools.count(1)
_END_FACT = json.dumps({"sid": SID, "id": "e", "t": "e"})


RELEASED = {"handles": 0}


def _release(handle: int, pid: int) -> None:
    if os.getpid() == pid:
        try:
            _dr.delete_ruleset(handle)
            RELEASED["handles"] += 1
        except Exception:  # noqa: BLE001 - nothing more can be done for a handle being dropped
            pass


def sentinel_rule() -> dict:
    return {"all": [{"m": {"t": "e"}}]}


class Matcher:
    """One compiled durable_rules ruleset; evaluations on it are serialised."""

    def __init__(self, base_name: str, definition: dict):
        self.base_name = base_name
        self.definition_json = json.dumps(definition, ensure_ascii=False)
        self._lock = threading.Lock()
        self._handle = None
        self._pid = None
        self.handles_created = 0
        self.handles_abandoned = 0
        self._finalizer = None

    def _ensure(self):
        if self._handle is None or self._pid != os.getpid():
            name = f"{self.base_name}~{os.getpid()}~{next(_names)}"
            handle = _dr.create_ruleset(name, self.definition_json)
            self.handles_created += 1
            _prime(handle)   # should it fail, the handle is left alone, like an abandoned one
            self._handle, self._pid = handle, os.getpid()
            self._finalizer = weakref.finalize(self, _release, handle, self._pid)
        return self._handle

    def _abandon(self) -> None:
        # a handle whose session is in an unknown state is never touched again
        if self._finalizer is not None:
            self._finalizer.detach()
        self._handle = None
        self.handles_abandoned += 1

    def close(self) -> None:
        """Delete the durable_rules ruleset now; a later evaluation makes a new one."""
        with self._lock:
            if self._finalizer is not None and self._pid == os.getpid():
                self._finalizer()
            self._handle = None

    @property
    def loaded(self) -> bool:
        """Whether this process holds a durable_rules handle for the ruleset now."""
        return self._handle is not None and self._pid == os.getpid()

    def warm(self) -> None:
        with self._lock:
            self._ensure()

    def session(self) -> "Session":
        return Session(self)


def _drain(handle) -> list[str]:
    """Take every pending activation; return the durable_rules rule names, in order."""
    names: list[str] = []
    result = _dr.start_action(handle)
    if not result:
        return names
    _state, message, state_handle = result
    while message:
        names.append(message[2:message.index('"', 2)])
        message = _dr.complete_and_start_action(handle, state_handle)
    return names


def _prime(handle) -> None:
    """Make the handle's one session, with a rule fired in it, and leave it empty."""
    _dr.assert_fact(handle, _END_FACT)
    if _drain(handle) != [SENTINEL]:
        raise EvaluationError("the end-of-evaluation rule did not fire")
    _retract(handle, [_END_FACT])


def _retract(handle, facts: list[str]) -> None:
    if _dr.retract_facts(handle, "[" + ",".join(facts) + "]")[0] != 0 or _drain(handle):
        # nothing may activate once the snapshot is gone: the session is not what it seems
        raise EvaluationError("the rules engine did not clear an evaluation's facts")


class Session:
    """One evaluation: assert facts, collect activations, end cleanly or abandon."""

    def __init__(self, matcher: Matcher):
        self.matcher = matcher
        self.handle = None
        self.ended = False
        self.asserted: list[str] = []

    def __enter__(self) -> "Session":
        self.matcher._lock.acquire()
        try:
            self.handle = self.matcher._ensure()
        except BaseException:
            self.matcher._lock.release()
            raise
        return self

    def assert_fact(self, fact_json: str) -> list[str]:
        """Assert one fact; return the names of the durable_rules rules it activated."""
        self.asserted.append(fact_json)
        _dr.assert_fact(self.handle, fact_json)
        return _drain(self.handle)

    def end(self) -> None:
        """Retract the facts asserted, the snapshot first (so no rule can match any more),
        leaving the session empty for the next evaluation."""
        _retract(self.handle, self.asserted)
        self.ended = True

    def __exit__(self, exc_type, exc, tb):
        try:
            if not self.ended:
                # A session in an unknown state is never used again: drop the handle (it is
                # garbage the C core keeps) and build a fresh one on next use.
                self.matcher._abandon()
        finally:
            self.matcher._lock.release()
        if exc_type is not None and not issubclass(exc_type, EvaluationError):
            raise EvaluationError("the rules engine failed; no result was produced") from exc
        return False


# -- fixed limits ------------------------------------------------------------------------
#
# durable_rules 2.0.28 compiles fixed table sizes into its C core (src/rules/*.h); past
# them it fails or hangs rather than refuse. Measured here, with the failure one past:
MAX_MATCHED_NODES = 64    # snapshot tests one fact can meet at once (alpha stack): error 303
MAX_RULES_PER_NODE = 256  # rules joined to one test (a signal, an identical condition): error 108
MAX_NODES = 500           # tests in all (512-entry index tables): evaluation or loading hangs
_MAX_PATHS = 10_000


def limit_problems(definition: dict) -> list[str]:
    """What in a compiled ruleset exceeds the fixed limits of durable_rules, as sentences."""
    nodes: set[tuple] = set()
    rules_at: dict[tuple, int] = {}
    for body in definition.values():
        for fact in body["all"]:
            (expr,) = fact.values()
            paths = _alpha_paths(expr)
            if paths is None:
                return [f"a condition has more than {_MAX_PATHS:,} alternatives; simplify it"]
            for path in paths:
                nodes.update(path[:i] for i in range(1, len(path) + 1))
                rules_at[path] = rules_at.get(path, 0) + 1
    out = []
    snapshot = _leaf({"t": "s"})
    tests = sum(1 for n in nodes if len(n) > 1 and n[0] == snapshot)
    if tests > MAX_MATCHED_NODES:
        out.append(f"the ruleset makes {tests} distinct tests of the snapshot; durable_rules 2.0.28 fails "
                   f"(error 303) when one snapshot passes more than {MAX_MATCHED_NODES} of them, so at most "
                   f"{MAX_MATCHED_NODES} are allowed: merge rules that test the same fields, or split the policy")
    crowded = max(rules_at.values(), default=0)
    if crowded > MAX_RULES_PER_NODE:
        out.append(f"{crowded} rules wait on one signal or one identical condition; durable_rules 2.0.28 "
                   f"joins at most {MAX_RULES_PER_NODE} rules to one test (error 108)")
    if len(nodes) > MAX_NODES:
        out.append(f"the ruleset compiles to {len(nodes)} tests; durable_rules 2.0.28 hangs past 512, so at most "
                   f"{MAX_NODES} are allowed: split the policy")
    return out


def _leaf(expr) -> str:
    return json.dumps(expr, sort_keys=True)


def _alpha_paths(expr) -> list[tuple] | None:
    """The chains of tests durable_rules builds for one fact expression: an ``$and`` is
    one chain, an ``$or`` one chain per branch."""
    if isinstance(expr, dict) and len(expr) == 1:
        (op, arg), = expr.items()
        if op == "$and":
            paths: list[tuple] = [()]
            for part in arg:
                sub = _alpha_paths(part)
                if sub is None or len(paths) * len(sub) > _MAX_PATHS:
                    return None
                paths = [p + s for p in paths for s in sub]
            return paths
        if op == "$or":
            out: list[tuple] = []
            for part in arg:
                sub = _alpha_paths(part)
                if sub is None or len(out) + len(sub) > _MAX_PATHS:
                    return None
                out.extend(sub)
            return out
    return [(_leaf(expr),)]
