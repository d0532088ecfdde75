"""Checking an author's ruleset away from the workers that serve, within a budget.

A draft's author chooses how much work checking it is: how many scenarios it carries,
how big its conditions are, what the rules engine is asked to build. So the policy
service never compiles an author's document or runs its scenarios in a serving thread:
every such job (a draft created, edited or checked, a submission's and an approval's
scenario runs, the console's scenario runs and trials, a simulation's candidate) is
sent to a *checker*, one of a few processes started in advance, and the answer comes
back over a pipe. Each check has three budgets:

* CPU time, ``VIGIL_CHECK_CPU_SECONDS`` (RLIMIT_CPU, set afresh before each check):
  past it the kernel stops the process (SIGXCPU), even inside the engine's C code.
* memory, ``VIGIL_CHECK_MEMORY_MB`` of address space for the whole checker process
  (RLIMIT_AS; a checker starts at about 210 MiB): past it an allocation fails.
* wall-clock time, ``VIGIL_CHECK_SECONDS``: the caller stops waiting, kills the checker
  and starts another.

A check past a budget raises CheckBudgetExceeded naming the budget, and the caller
stores nothing. A checker is a fresh Python process (``python -c``, not a fork: no
Flask app, thread, sqlite connection or durable_rules state of the worker is ever
copied into one) that imports the engine once, in about 0.5 s, and then answers checks
over a socket pair until the pipe closes. One that dies or is killed is replaced at once;
one is also replaced after ``RECYCLE_AFTER`` checks, so nothing a check leaves behind
in the engine's C state builds up. The pool (``VIGIL_CHECKERS`` processes per serving
process) is started when a gunicorn worker starts and closed when it exits; in other
processes it starts on first use and closes at exit. A checker also exits on its own
when the process that started it goes away (its end of the socket closes).

A job is a module-level function (sent by name) whose arguments and result are plain
data; inside a checker, ``compiled(contracts, document, source)`` gives the compiled
ruleset, kept for the next checks of the same document.
"""
from __future__ import annotations

import atexit
import logging
import math
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections import OrderedDict
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from app.core.errors import VigilError

log = logging.getLogger("vigil.checker")

# Checks a checker runs before it is replaced by a fresh one.
RECYCLE_AFTER = 200
# How long a new checker may take to import the engine and say it is ready.
START_SECONDS = 30.0
# Problems an answer lists at most (a document of 500,000 empty rules has 500,000).
MAX_PROBLEMS = 100


class CheckBudgetExceeded(VigilError):
    """Checking a ruleset (compiling it, running its scenarios) went past a budget;
    nothing was stored. ``details`` names the budget."""

    reason = "check_budget_exceeded"
    message = "Checking this ruleset took more than its budget; nothing was stored."


class CheckFailed(VigilError):
    """The process checking a ruleset stopped without an answer; nothing was stored."""

    reason = "check_failed"
    message = "The ruleset could not be checked: the checking process stopped; nothing was stored."


class CheckersBusy(VigilError):
    """Every checker stayed busy for the whole wait."""

    reason = "checkers_busy"
    message = "Every ruleset checker is busy; nothing was stored. Try again in a few seconds."


@dataclass(frozen=True)
class Settings:
    checkers: int = 1
    cpu_seconds: int = 5
    memory_mb: int = 512
    wall_seconds: float = 10.0

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(checkers=int(config["VIGIL_CHECKERS"]), cpu_seconds=int(config["VIGIL_CHECK_CPU_SECONDS"]),
                   memory_mb=int(config["VIGIL_CHECK_MEMORY_MB"]), wall_seconds=float(config["VIGIL_CHECK_SECONDS"]))


def _over(settings: Settings, budget: str) -> CheckBudgetExceeded:
    limit = {"cpu": f"{settings.cpu_seconds} s of CPU time (VIGIL_CHECK_CPU_SECONDS)",
             "memory": f"{settings.memory_mb} MiB of memory (VIGIL_CHECK_MEMORY_MB)",
             "time": f"{settings.wall_seconds:g} s of time (VIGIL_CHECK_SECONDS)"}[budget]
    return CheckBudgetExceeded(
        f"Checking this ruleset needed more than its budget of {limit}; nothing was stored. Make the ruleset or "
        "its scenarios smaller, or split them.", [{"path": "budget", "budget": budget, "message": f"over {limit}"}])


@dataclass(frozen=True)
class ContractRef:
    id: str
    version: int

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Checked:
    """What the caller of a check keeps of the compiled ruleset (the store needs no more)."""

    id: str
    version: int
    hash: str
    title: str | None
    contract: ContractRef
    levels: tuple[str, ...]
    rules: int

    @classmethod
    def of(cls, ruleset) -> "Checked":
        return cls(ruleset.id, ruleset.version, ruleset.hash, ruleset.title,
                   ContractRef(ruleset.contract.id, ruleset.contract.version), tuple(ruleset.levels),
                   len(ruleset.rules))

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


# ---------------------------------------------------------------- inside a checker

_libraries: OrderedDict = OrderedDict()
_rulesets: OrderedDict = OrderedDict()


def compiled(contracts: tuple, document, source: str):
    """In a checker: ``document`` compiled against ``contracts`` (``(document, source,
    hash)`` of each stored contract) and its durable_rules handle made, as a worker would
    load it; kept for the next checks. Raises RulesetInvalid."""
    from app.core import codec
    from app.engine import Library

    key = tuple(c[2] for c in contracts)
    library = _libraries.get(key)
    if library is None:
        library = Library()
        for contract_document, contract_source, _ in contracts:
            library.add_contract(contract_document, contract_source)
        _libraries[key] = library
        while len(_libraries) > 2:
            _libraries.popitem(last=False)
    text = codec.dumps(document) if isinstance(document, dict) else None
    ruleset = _rulesets.get((key, source, text)) if text is not None else None
    if ruleset is None:
        ruleset = library.compile_ruleset(document, source)
        ruleset.warm()
        if text is not None:
            _rulesets[(key, source, text)] = ruleset
            while len(_rulesets) > 8:
                _rulesets.popitem(last=False)[1].close()
    return ruleset


def _limit_cpu(seconds: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(usage.ru_utime + usage.ru_stime) + seconds,
                                             resource.RLIM_INFINITY))


def _shortened(error: VigilError) -> VigilError:
    """The error with at most MAX_PROBLEMS problems listed, and how many more there are."""
    more = len(error.details) - MAX_PROBLEMS
    if more > 0:
        error.details = error.details[:MAX_PROBLEMS] + [{"message": f"and {more:,} more problem(s), not listed"}]
        if isinstance(getattr(error, "problems", None), list):
            error.problems = error.problems[:MAX_PROBLEMS]
        head = error.message.split("\n")[:MAX_PROBLEMS + 1]
        error.message = "\n".join([*head, f"  ... and {more:,} more"])
    return error


def _serve(conn, settings: Settings) -> None:
    """A checker's life: run each job sent, answer, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the service, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = settings.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job, args = conn.recv()
        except (EOFError, OSError):
            return
        _limit_cpu(settings.cpu_seconds)
        try:
            answer = ("ok", job(*args))
        except MemoryError:
            answer = ("budget", "memory")
        except VigilError as exc:
            answer = ("error", _shortened(exc))
        except Exception:  # noqa: BLE001 - a defect: said to the caller, who logs it
            answer = ("crash", traceback.format_exc(limit=20))
        try:
            conn.send(answer)
        except MemoryError:
            answer = ("budget", "memory")
            conn.send(answer)
        except (EOFError, OSError):
            return
        except Exception:  # noqa: BLE001 - an answer that cannot be sent (not picklable): a defect
            answer = ("crash", traceback.format_exc(limit=20))
            conn.send(answer)
        if answer[0] == "budget":
            os._exit(3)  # the process may be in any state: let the pool start a fresh one


# ---------------------------------------------------------------- the pool


# The modules whose functions are sent as jobs: a checker imports them as it starts, so
# that its first check does not wait for them (see ``preload``).
_PRELOAD: set[str] = set()


def preload(module: str) -> None:
    """Have every checker started from now on import ``module`` (one whose functions are
    sent as jobs) before its first check."""
    _PRELOAD.add(module)


def main(fd: int, settings: dict, modules: list[str]) -> None:
    """A checker process's entry point (see _Checker)."""
    import importlib

    for module in modules:
        importlib.import_module(module)
    _serve(Connection(fd), Settings(**settings))


_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class _Checker:
    def __init__(self, settings: Settings):
        ours, theirs = socket.socketpair()
        with theirs:
            code = (f"from app.service.checker import main; "
                    f"main({theirs.fileno()}, {asdict(settings)!r}, {sorted(_PRELOAD)!r})")
            path = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
            self.process = subprocess.Popen([sys.executable, "-c", code], cwd=_ROOT, pass_fds=[theirs.fileno()],
                                            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        self.conn = Connection(ours.detach())
        self.checks = 0
        self.ready = False

    def wait_ready(self) -> None:
        """Wait for the checker to have imported the engine (its first message)."""
        if self.ready:
            return
        try:
            if self.conn.poll(START_SECONDS) and self.conn.recv()[0] == "ready":
                self.ready = True
                return
        except (EOFError, OSError):
            pass
        raise CheckFailed("A ruleset checker could not be started; nothing was stored. See the service log.")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def exitcode(self, wait: float) -> int | None:
        try:
            return self.process.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            log.error("a checker did not stop", extra={"pid": self.process.pid})


class CheckerPool:
    """``settings.checkers`` checker processes; ``run`` takes a free one (waiting at most
    the wall-clock budget) and runs one job on it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._lock = threading.Lock()
        self._live: set[_Checker] = set()
        self._closed = False
        self.started = 0
        for _ in range(max(1, settings.checkers)):
            self._idle.put(None)  # a slot whose checker starts when first needed

    def start(self) -> None:
        """Start every checker now, rather than on first use."""
        taken = []
        while True:
            try:
                taken.append(self._idle.get_nowait())
            except queue.Empty:
                break
        try:
            taken = [checker or self._spawn() for checker in taken]
            for checker in taken:
                checker.wait_ready()
        finally:
            for checker in taken:
                self._idle.put(checker)

    def _spawn(self) -> _Checker:
        with self._lock:
            if self._closed:
                raise CheckersBusy("The ruleset checkers are shut down; nothing was stored.")
            checker = _Checker(self.settings)
            self._live.add(checker)
            self.started += 1
        return checker

    def _retire(self, checker: _Checker) -> None:
        with self._lock:
            self._live.discard(checker)
        checker.stop()

    def pids(self) -> list[int]:
        with self._lock:
            return [c.pid for c in self._live]

    def run(self, job, *args):
        settings = self.settings
        try:
            checker = self._idle.get(timeout=settings.wall_seconds)
        except queue.Empty:
            raise CheckersBusy() from None
        keep = False
        try:
            if checker is not None and not checker.alive():  # died while idle
                self._retire(checker)
                checker = None
            if checker is None:
                checker = self._spawn()
            checker.wait_ready()  # a checker's own start is not the check's time
            checker.checks += 1
            try:
                checker.conn.send((job, args))
            except OSError:  # it died just now
                raise CheckFailed() from None
            if not checker.conn.poll(settings.wall_seconds):
                log.warning("a check ran past its time budget; its checker is replaced",
                            extra={"job": job.__name__, "budget": "time"})
                raise _over(settings, "time")
            try:
                kind, value = checker.conn.recv()
            except (EOFError, OSError):
                code = checker.exitcode(2)
                if code == -signal.SIGXCPU:
                    log.warning("a check ran past its CPU budget; its checker is replaced",
                                extra={"job": job.__name__, "budget": "cpu"})
                    raise _over(settings, "cpu") from None
                if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
                    log.error("a checker stopped during a check (exit %s)", code,
                              extra={"job": job.__name__, "exitcode": code})
                raise CheckFailed() from None
            if kind == "ok":
                keep = checker.checks < RECYCLE_AFTER
                return value
            if kind == "error":
                keep = checker.checks < RECYCLE_AFTER
                raise value
            if kind == "budget":
                log.warning("a check ran past its memory budget; its checker is replaced",
                            extra={"job": job.__name__, "budget": value})
                raise _over(settings, value)
            log.error("a check failed inside its checker", extra={"job": job.__name__, "traceback": value})
            raise CheckFailed("The ruleset could not be checked (an internal error, logged); nothing was stored.")
        finally:
            if checker is not None and not keep:
                self._retire(checker)
                checker = self._replacement()
            self._idle.put(checker)

    def _replacement(self) -> _Checker | None:
        """A new checker, starting now (it imports the engine while no one waits for it);
        None if it cannot be started, and the next check tries again."""
        if self._closed:
            return None
        try:
            return self._spawn()
        except Exception as exc:  # noqa: BLE001 - the slot stays empty rather than lost
            log.error("a ruleset checker could not be started", exc_info=exc)
            return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
        for checker in live:
            checker.stop()


# ---------------------------------------------------------------- the process's pool

_settings = Settings()
_pool: CheckerPool | None = None
_pool_lock = threading.Lock()


def configure(settings: Settings) -> None:
    """The budgets and size of this process's pool (create_app sets them from its config);
    a pool running with other settings is closed, and the next check starts the new one."""
    global _settings, _pool
    with _pool_lock:
        _settings = settings
        if _pool is not None and _pool.settings != settings:
            _pool.close()
            _pool = None


def pool() -> CheckerPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = CheckerPool(_settings)
        return _pool


def start() -> None:
    """Start this process's checkers now (a gunicorn worker, as it starts)."""
    pool().start()


def shutdown() -> None:
    """Stop this process's checkers (a gunicorn worker, as it exits; at exit)."""
    global _pool
    with _pool_lock:
        current, _pool = _pool, None
    if current is not None:
        current.close()


atexit.register(shutdown)


def run(job, *args):
    """Run ``job(*args)`` in a checker, within the budgets, and return its result; an
    error it raises (a VigilError) is raised here. Raises CheckBudgetExceeded,
    CheckFailed or CheckersBusy."""
    return pool().run(job, *args)
