"""JSON log lines on stderr, one object per line. Lines written while a request is
being handled carry its request_id; decision lines carry the decision_id."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback

from app.core import codec

# LogRecord attributes that are not extras passed by the caller.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # Which gunicorn worker wrote it.
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line.setdefault(key, value)
        if record.exc_info:
            # Stack traces go to the operator's log, never to a caller.
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return codec.dumps_any(line)


class RequestContext(logging.Filter):
    """Adds the current request's id to every line logged while handling it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            from flask import g, has_request_context

            if has_request_context():
                request_id = getattr(g, "request_id", None)
                if request_id:
                    record.request_id = request_id
        return True


def handler() -> logging.Handler:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JsonFormatter())
    h.addFilter(RequestContext())
    return h


def quiet_command() -> bool:
    """A `flask --app wsgi ...` command speaks to a person in plain text: its JSON log
    lines are off unless VIGIL_LOG_LEVEL asks for them. (Flask's command line sets
    FLASK_RUN_FROM_CLI before it creates the app; gunicorn and the tests do not.)"""
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "VIGIL_LOG_LEVEL" not in os.environ


def init_app(app) -> None:
    logger = logging.getLogger("vigil")
    if not any(getattr(h, "_vigil", False) for h in logger.handlers):
        h = handler()
        h._vigil = True
        logger.addHandler(h)
    logger.setLevel(logging.CRITICAL + 1 if quiet_command() else app.config["VIGIL_LOG_LEVEL"])
    logger.propagate = False
