"""JSON log lines on stderr, one object per line. Lines written while a request is
being handled carry its request_id; decision lines carry the decision_id."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback

from app.core import codec

# LogRecord attributes that are not extras passed by the caller.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    # The last second written, as text: a request's line is written in the same
    # second as the one before it far more often than not.
    _second = (-1, "")

    def _timestamp(self, created: float) -> str:
        """``created`` in UTC to the millisecond, as datetime's isoformat writes it."""
        whole = int(created)
        micro = round((created - whole) * 1_000_000)  # as datetime rounds a timestamp
        if micro >= 1_000_000:
            whole, micro = whole + 1, micro - 1_000_000
        second, text = self._second
        if second != whole:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, text)
        return f"{text}.{micro // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # Which gunicorn worker wrote it.
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[:1] != "_" and key not in line:
                line[key] = value
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
    # No line says where in the code it was logged from or which thread logged it, so
    # the logging module need not look that up for every line (its documented switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logger = logging.getLogger("vigil")
    if not any(getattr(h, "_vigil", False) for h in logger.handlers):
        h = handler()
        h._vigil = True
        logger.addHandler(h)
    logger.setLevel(logging.CRITICAL + 1 if quiet_command() else app.config["VIGIL_LOG_LEVEL"])
    logger.propagate = False
