"""gunicorn settings for Vigil. Every value can be set from the environment.

The app is loaded in each worker after fork (no preload): durable_rules keeps its
rulesets in C state that must belong to one process, and each worker builds its own.
Migrations are applied before gunicorn starts (see Makefile and Dockerfile), never here.
"""

import errno
import os
import shutil
import socket
import sys
import tempfile

from app.config import ConfigError, flag

bind = os.environ.get("VIGIL_BIND", "127.0.0.1:8000")
from app.config import default_workers  # noqa: E402 - one per CPU of the container's limit, at most 8
workers = int(os.environ.get("VIGIL_WORKERS") or default_workers())
# The rules engine holds the GIL while it evaluates, so threads add no speed; a few
# keep a worker answering health checks and keep-alive clients while one request runs.
threads = int(os.environ.get("VIGIL_THREADS", "4"))
# gthread, except that the worker's main loop reads each request whole (headers and
# body, within VIGIL_REQUEST_READ_TIMEOUT) before a thread takes it, so slow or idle
# clients never hold a thread (app/worker.py).
worker_class = os.environ.get("VIGIL_WORKER_CLASS", "app.worker.BufferedThreadWorker")
# Off: the master binds one socket the workers share, and a port already taken stops
# the start (on_starting below). On: each worker binds its own SO_REUSEPORT socket and
# the kernel spreads new connections evenly (with one shared socket, a keep-alive
# connection stays with the worker that accepted it, so a few long-lived clients can
# load one worker); but then another server that also sets SO_REUSEPORT on the same
# port (a second Vigil on another database) silently takes a share of the requests.
try:
    reuse_port = flag("VIGIL_REUSE_PORT", os.environ.get("VIGIL_REUSE_PORT", "0"))
except ConfigError as exc:
    sys.exit(f"vigil: {exc}")
preload_app = False
keepalive = int(os.environ.get("VIGIL_KEEPALIVE", "5"))
timeout = int(os.environ.get("VIGIL_TIMEOUT", "30"))
graceful_timeout = 20
# Several instances may run on one host (tests, benchmarks): no shared control socket.
control_socket_disable = True
# The app writes one JSON line per request, with its request id and decision ids.
accesslog = None
# gunicorn's logger, except that no access-log record is built for an access log that
# goes nowhere (app/worker.py).
logger_class = "app.worker.Logger"
errorlog = "-"
loglevel = os.environ.get("VIGIL_LOG_LEVEL", "info").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logging.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}

# Each worker loads the stored policies as it starts, before its first request; a
# version that does not compile is left out and named in the log and /readyz.
os.environ.setdefault("VIGIL_REQUIRE_RULESETS", "1")

# Metrics from every worker, summed by whichever worker answers /metrics. Must be set
# before any worker imports prometheus_client.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="vigil-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def _addresses(bind) -> list[str]:
    return [bind] if isinstance(bind, str) else list(bind)


def _refuse_taken_addresses(server) -> None:
    """Stop with one line and a non-zero exit when an address is taken, instead of
    gunicorn's five retries (or, with reuse_port, workers retrying forever). The
    check binds without SO_REUSEPORT, so another Vigil that set it counts as taken."""
    for address in _addresses(server.cfg.bind):
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except (OSError, ValueError):
            continue  # gunicorn reports an address it cannot use
        family, kind, proto, _, sockaddr = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                server.log.error("vigil: cannot listen on %s: the address is already in use (another Vigil or "
                                 "another program); stop it or set VIGIL_BIND to a free address", address)
                sys.exit(1)


def on_starting(server):
    _refuse_taken_addresses(server)
    # Samples left by an earlier run would be added to this one's.
    if os.path.isdir(_metrics_dir):
        for name in os.listdir(_metrics_dir):
            path = os.path.join(_metrics_dir, name)
            if name.endswith(".db") and os.path.isfile(path):
                os.remove(path)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir.startswith(tempfile.gettempdir()) and "vigil-metrics-" in _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def when_ready(server):
    # gunicorn names its own socket; with reuse_port each worker binds one, so say it here.
    server.log.info("vigil: listening on %s", ", ".join(f"http://{a}" for a in _addresses(server.cfg.bind)))
    # Said once, at start: a default install keeps customers' personal data in clear.
    from app.api.operations import CLEAR_NOTE
    from app.config import load_config

    if not load_config()["VIGIL_MASK_PERSONAL"]:
        server.log.warning(CLEAR_NOTE)


def post_worker_init(worker):
    # This worker's ruleset checkers (app/service/checker.py), started before the first
    # request, so that the first check does not wait for them.
    from app.service import checker

    try:
        checker.start()
    except Exception as exc:  # noqa: BLE001 - the first check starts them again; serving goes on
        worker.log.error("vigil: the ruleset checkers did not start (%s); the first check will try again", exc)
    # The app, its schemas and compiled rulesets live as long as the worker: move them
    # out of the collector's way so a full collection does not walk them per request.
    import gc

    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    # The worker's checkers go with it (they would exit anyway once its pipes close).
    from app.service import checker

    checker.shutdown()
