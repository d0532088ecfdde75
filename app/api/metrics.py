"""Prometheus metrics. Under gunicorn every worker writes its samples to
PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it) and /metrics adds them up, so a
scrape sees the whole service whichever worker answers it."""

from __future__ import annotations

import os

from flask import Flask, current_app, has_app_context
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# The *_created series say when a series was first seen in this process: noise when
# workers come and go.
disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # One count per decision; a decision with two final actions is still one decision.
        self.decisions = Counter(
            "vigil_decisions", "Decisions logged, by ruleset and warning level.",
            ["ruleset", "level"], registry=self.registry)
        self.actions = Counter(
            "vigil_actions", "Final actions of the decisions logged, by ruleset, action and warning level.",
            ["ruleset", "action", "level"], registry=self.registry)
        self.latency = Histogram(
            "vigil_request_duration_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter(
            "vigil_errors", "Error responses, by reason.", ["reason"], registry=self.registry)
        # The series of each label set, looked up once: ``labels()`` builds its key anew
        # on every call. Label sets are bounded (endpoints, rulesets x levels x actions).
        self._series: dict[tuple, object] = {}

    def series(self, metric, *labels: str):
        key = (metric, *labels)
        found = self._series.get(key)
        if found is None:
            found = self._series.setdefault(key, metric.labels(*labels))
        return found

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST


def get() -> Metrics:
    return current_app.extensions["vigil.metrics"]


def decision(ruleset: str, actions: list[str], level: str | None) -> None:
    """Count one logged decision, and each of its final actions."""
    m = get()
    level = level or "none"
    m.series(m.decisions, ruleset, level).inc()
    for action in actions:
        m.series(m.actions, ruleset, action, level).inc()


def error(reason: str) -> None:
    if has_app_context() and "vigil.metrics" in current_app.extensions:
        m = get()
        m.series(m.errors, reason).inc()


def observe(endpoint: str, seconds: float) -> None:
    m = get()
    m.series(m.latency, endpoint).observe(seconds)


def init_app(app: Flask) -> None:
    app.extensions["vigil.metrics"] = Metrics()
