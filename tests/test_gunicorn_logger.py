"""gunicorn's logger as Vigil runs it (app.worker.Logger): no access-log record is built
after a request when the access log goes nowhere, and one is written when it goes
somewhere."""

import datetime as dt
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from app.worker import Logger

# gunicorn.conf.py's routing of gunicorn's loggers: the access log to no handler.
LOGCONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"handlers": [], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": [], "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """gunicorn's setup reconfigures logging for the whole process: put it back."""
    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        log = logging.getLogger(name)
        for handler in log.handlers[:]:
            if handler not in handlers:
                log.removeHandler(handler)
                handler.close()
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate


def _logger(**settings) -> Logger:
    cfg = Config()
    for name, value in settings.items():
        cfg.set(name, value)
    return Logger(cfg)


def _request():
    resp = SimpleNamespace(status="201 CREATED", headers=[("Content-Type", "application/json")], sent=12)
    req = SimpleNamespace(headers=[("HOST", "127.0.0.1")])
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/v1/decisions", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1"}
    return resp, req, environ, dt.timedelta(microseconds=1500)


def test_no_record_is_built_for_an_access_log_that_goes_nowhere(monkeypatch):
    logger = _logger(logconfig_dict=LOGCONFIG)
    built = []
    monkeypatch.setattr(logger, "atoms", lambda *args: built.append(args) or {})
    logger.access(*_request())
    assert built == []


def test_an_access_log_that_goes_to_a_file_is_written(tmp_path):
    """A logging config that leaves gunicorn's access logger alone, and an access log file."""
    path = tmp_path / "access.log"
    logger = _logger(logconfig_dict={**LOGCONFIG, "loggers": {}}, accesslog=str(path))
    logger.access(*_request())
    for handler in logger.access_log.handlers:
        handler.flush()
    assert '"POST /v1/decisions HTTP/1.1" 201' in path.read_text()
