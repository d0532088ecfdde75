"""gunicorn settings for Vigil. Every value can be set from the environment.

The app is loaded in each worker after fork (no preload): durable_rules keeps its
rulesets in C state that must belong to one process, and each worker builds its own.
Migrations are applied before gunicorn starts (see Makefile and Dockerfile), never here.
"""

import os
import shutil
import tempfile

bind = os.environ.get("VIGIL_BIND", "127.0.0.1:8000")
from app.config import default_workers  # noqa: E402 - one per CPU of the container's limit, at most 8
workers = int(os.environ.get("VIGIL_WORKERS") or default_workers())
# The rules engine holds the GIL while it evaluates, so threads add no speed; a few
# keep a worker answering health checks and keep-alive clients while one request runs.
threads = int(os.environ.get("VIGIL_THREADS", "4"))
worker_class = os.environ.get("VIGIL_WORKER_CLASS", "gthread")
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new
# connections evenly. With one shared socket, whichever worker wakes first accepts,
# and a keep-alive connection then stays with that worker: a few clients with
# long-lived connections could load one worker and leave the others idle.
reuse_port = os.environ.get("VIGIL_REUSE_PORT", "1") == "1"
preload_app = False
keepalive = int(os.environ.get("VIGIL_KEEPALIVE", "5"))
timeout = int(os.environ.get("VIGIL_TIMEOUT", "30"))
graceful_timeout = 20
# Several instances may run on one host (tests, benchmarks): no shared control socket.
control_socket_disable = True
# The app writes one JSON line per request, with its request id and decision ids.
accesslog = None
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

# A worker must never serve with a half-loaded ruleset library: create_app raises,
# the worker fails to boot and gunicorn stops.
os.environ.setdefault("VIGIL_REQUIRE_RULESETS", "1")

# Metrics from every worker, summed by whichever worker answers /metrics. Must be set
# before any worker imports prometheus_client.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="vigil-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
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


def post_worker_init(worker):
    # The app, its schemas and compiled rulesets live as long as the worker: move them
    # out of the collector's way so a full collection does not walk them per request.
    import gc

    gc.collect()
    gc.freeze()
