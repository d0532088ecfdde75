"""Settings: defaults, then VIGIL_* environment variables, then what create_app is given."""

from __future__ import annotations

import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, object] = {
    # The decision log. Relative paths are taken from the project root.
    "VIGIL_DATABASE": "instance/vigil.db",
    "VIGIL_RULESETS_DIR": "rulesets",
    "VIGIL_SCHEMAS_DIR": "schemas",
    # Most items one POST /v1/decisions/batch may carry.
    "VIGIL_BATCH_LIMIT": 200,
    # Largest request body, in bytes (Flask answers 413 above it).
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    # NORMAL (in WAL mode): a decision is committed before it is answered and survives
    # the service or the machine's processes crashing; a power cut or kernel crash may
    # roll back the last few. FULL also fsyncs every commit: 0.2 to 4 ms more per
    # decision on the disks measured, and every writer waits for it.
    "VIGIL_SQLITE_SYNCHRONOUS": "NORMAL",
    # How long a writer waits for another worker's write lock before giving up (503).
    "VIGIL_SQLITE_BUSY_TIMEOUT_MS": 5000,
    # When true, create_app loads and compiles the stored policies at once (gunicorn
    # sets it, so a worker is ready before its first request); when false, on first use
    # (a command that never evaluates never compiles). Either way a version that does
    # not compile is left out and named (log, /readyz); the others are served.
    "VIGIL_REQUIRE_RULESETS": False,
    "VIGIL_LOG_LEVEL": "INFO",
    # How often, at most, a worker checks whether the published policies changed (one
    # small query); a publication reaches every worker within this many seconds.
    "VIGIL_POLICY_CHECK_SECONDS": 1.0,
    # How long a decision is kept whole: `flask --app wsgi decisions purge` removes the
    # content of older ones (not their place in the hash chain), except for customers
    # under a legal hold. Seven years, a common term for credit records.
    "VIGIL_RETENTION_DAYS": 2555,
    # Log the fields a fact contract marks personal as keyed hashes (HMAC-SHA256 with
    # VIGIL_MASK_KEY, at least 16 bytes, kept secret and never changed while masked
    # decisions must be replayed). The decision is made on the real values.
    "VIGIL_MASK_PERSONAL": False,
    "VIGIL_MASK_KEY": "",
    # Failed authentications an address may make (per worker), earned back over the
    # window in seconds; past them, 429 before any key is hashed (app/api/ratelimit.py).
    "VIGIL_AUTH_FAILURES": 10,
    "VIGIL_AUTH_FAILURE_WINDOW": 60.0,
    # Reverse proxies whose X-Forwarded-For names the client: addresses or networks.
    "VIGIL_TRUSTED_PROXIES": "",
    # `portfolio review` and `portfolio simulate` run on the Dask cluster whose scheduler
    # is here (tcp://host:8786, tls://host:8786) unless told --scheduler; empty: on this
    # machine. The TLS files are the CA, this client's certificate and its key.
    "VIGIL_DASK_SCHEDULER": "",
    "VIGIL_DASK_TLS_CA_FILE": "",
    "VIGIL_DASK_TLS_CERT": "",
    "VIGIL_DASK_TLS_KEY": "",
    # How long to try reaching the scheduler before saying it cannot be reached.
    "VIGIL_DASK_CONNECT_TIMEOUT": 10.0,
    # Checking an author's ruleset (compiling a draft, running its scenarios, a trial)
    # runs in one of VIGIL_CHECKERS processes per worker, started in advance, never in
    # a serving thread; each check gets at most VIGIL_CHECK_CPU_SECONDS of CPU time,
    # VIGIL_CHECK_MEMORY_MB of address space for its process (which starts at about
    # 210 MiB) and VIGIL_CHECK_SECONDS of time, else it is refused naming the budget
    # (app/service/checker.py).
    "VIGIL_CHECKERS": 1,
    "VIGIL_CHECK_CPU_SECONDS": 5,
    "VIGIL_CHECK_MEMORY_MB": 512,
    "VIGIL_CHECK_SECONDS": 10.0,
    # A search or export by rule, action or words first indexes the decisions logged
    # since the last one, for at most this many seconds (then answers with what is
    # indexed and says how far that reaches; the next search goes on). The command
    # `flask --app wsgi decisions index` indexes everything, without a limit.
    "VIGIL_SEARCH_INDEX_SECONDS": 2.0,
    # The web console (/console): a session ends after this many seconds without a
    # request, and this many seconds after sign-in whatever happens.
    "VIGIL_CONSOLE_IDLE_SECONDS": 1800,
    "VIGIL_CONSOLE_SESSION_SECONDS": 8 * 3600,
    # The clock and the calendar of follow-up due times (app/core/clock.py): empty for
    # real time; VIGIL_CLOCK an ISO time the clock stands at, VIGIL_CLOCK_FILE a file
    # holding one (tests and the demo move a running service's clock with it).
    # VIGIL_NON_WORKING_DAYS: dates and weekdays a due time does not count ("sat sun 2026-12-25").
    "VIGIL_CLOCK": "",
    "VIGIL_CLOCK_FILE": "",
    "VIGIL_NON_WORKING_DAYS": "",
    # Where a follow-up task goes when the snapshot names neither an account manager nor
    # a branch.
    "VIGIL_DEFAULT_TASK_QUEUE": "default",
}

_INTS = {"VIGIL_BATCH_LIMIT", "MAX_CONTENT_LENGTH", "VIGIL_SQLITE_BUSY_TIMEOUT_MS", "VIGIL_RETENTION_DAYS",
         "VIGIL_CONSOLE_IDLE_SECONDS", "VIGIL_CONSOLE_SESSION_SECONDS", "VIGIL_AUTH_FAILURES",
         "VIGIL_CHECKERS", "VIGIL_CHECK_CPU_SECONDS", "VIGIL_CHECK_MEMORY_MB"}
_FLOATS = {"VIGIL_POLICY_CHECK_SECONDS", "VIGIL_AUTH_FAILURE_WINDOW", "VIGIL_DASK_CONNECT_TIMEOUT",
           "VIGIL_CHECK_SECONDS", "VIGIL_SEARCH_INDEX_SECONDS"}
_BOOLS = {"VIGIL_REQUIRE_RULESETS", "VIGIL_MASK_PERSONAL"}
_PATHS = {"VIGIL_DATABASE", "VIGIL_RULESETS_DIR", "VIGIL_SCHEMAS_DIR"}
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def flag(key: str, raw: str) -> bool:
    """An on/off setting: 1, true, yes, on or 0, false, no, off (any case), else ConfigError."""
    value = str(raw).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{key} must be on or off (1, true, yes, on / 0, false, no, off), not {raw!r}")


def _from_env(key: str, raw: str) -> object:
    if key in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be an integer, not {raw!r}") from None
    if key in _FLOATS:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, not {raw!r}") from None
    if key in _BOOLS:
        return flag(key, raw)
    return raw


def mask_keys(setting) -> list[str]:
    """VIGIL_MASK_KEY: one key, or several separated by commas, the newest first: the
    newest masks, all of them check what they masked (a rotation)."""
    return [k.strip() for k in str(setting or "").split(",") if k.strip()]


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key in DEFAULTS:
        env_key = key if key.startswith("VIGIL_") else f"VIGIL_{key}"
        if env_key in environ:
            config[key] = _from_env(key, environ[env_key])
    config.update(overrides or {})
    for key in _PATHS:
        path = Path(config[key])
        config[key] = str(path if path.is_absolute() else ROOT / path)
    config["VIGIL_SQLITE_SYNCHRONOUS"] = str(config["VIGIL_SQLITE_SYNCHRONOUS"]).upper()
    if config["VIGIL_SQLITE_SYNCHRONOUS"] not in _SYNCHRONOUS:
        raise ConfigError(f"VIGIL_SQLITE_SYNCHRONOUS must be one of {sorted(_SYNCHRONOUS)}")
    if not 0 <= float(config["VIGIL_POLICY_CHECK_SECONDS"]) <= 5:
        raise ConfigError("VIGIL_POLICY_CHECK_SECONDS must be between 0 and 5")
    if int(config["VIGIL_BATCH_LIMIT"]) < 1:
        raise ConfigError("VIGIL_BATCH_LIMIT must be at least 1")
    for key in ("VIGIL_CONSOLE_IDLE_SECONDS", "VIGIL_CONSOLE_SESSION_SECONDS"):
        if int(config[key]) < 1:
            raise ConfigError(f"{key} must be at least 1")
    if int(config["VIGIL_AUTH_FAILURES"]) < 1 or float(config["VIGIL_AUTH_FAILURE_WINDOW"]) <= 0:
        raise ConfigError("VIGIL_AUTH_FAILURES must be at least 1 and VIGIL_AUTH_FAILURE_WINDOW above 0")
    if not 1 <= int(config["VIGIL_CHECKERS"]) <= 16:
        raise ConfigError("VIGIL_CHECKERS must be between 1 and 16")
    if int(config["VIGIL_CHECK_CPU_SECONDS"]) < 1 or float(config["VIGIL_CHECK_SECONDS"]) <= 0:
        raise ConfigError("VIGIL_CHECK_CPU_SECONDS must be at least 1 and VIGIL_CHECK_SECONDS above 0")
    if not 0 <= float(config["VIGIL_SEARCH_INDEX_SECONDS"]) <= 60:
        raise ConfigError("VIGIL_SEARCH_INDEX_SECONDS must be between 0 and 60")
    if int(config["VIGIL_CHECK_MEMORY_MB"]) < 256:
        raise ConfigError("VIGIL_CHECK_MEMORY_MB must be at least 256 (a checker starts at about 210 MiB)")
    from app.core import clock

    try:  # checked here so a bad setting stops the start, not the first decision
        clock.Calendar.from_setting(config["VIGIL_NON_WORKING_DAYS"])
        if config["VIGIL_CLOCK"]:
            clock.parse_time(str(config["VIGIL_CLOCK"]), "VIGIL_CLOCK")
    except clock.ClockError as exc:
        raise ConfigError(str(exc)) from None
    if not str(config["VIGIL_DEFAULT_TASK_QUEUE"]).strip():
        raise ConfigError("VIGIL_DEFAULT_TASK_QUEUE must name a queue")
    if int(config["VIGIL_RETENTION_DAYS"]) < 1:
        raise ConfigError("VIGIL_RETENTION_DAYS must be at least 1")
    if config["VIGIL_MASK_PERSONAL"]:
        keys = mask_keys(config["VIGIL_MASK_KEY"])
        if not keys or any(len(k.encode()) < 16 for k in keys):
            raise ConfigError("VIGIL_MASK_PERSONAL needs VIGIL_MASK_KEY: a secret of at least 16 bytes, or several "
                              "separated by commas (the newest first), each at least 16 bytes")
    return config


# Default gunicorn workers: one per usable CPU, at most this many (each worker holds every
# compiled ruleset; past a handful, memory grows faster than throughput on one SQLite log).
MAX_DEFAULT_WORKERS = 8


def cgroup_cpu_limit(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """The CPU limit of the container this process runs in, in CPUs (``docker run --cpus
    1.5`` gives 1.5), from cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None when
    there is none."""
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """The CPUs this process may use: the cores it may run on, lowered to a container's
    CPU limit (rounded up), never below one. ``os.cpu_count()`` is the host's."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def default_workers(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    return min(usable_cpus(cgroup_root), MAX_DEFAULT_WORKERS)
