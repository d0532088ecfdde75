"""The evaluation report of follow-up: per owner or per branch over a period, how many
tasks were opened, done on time, done late, waived, overdue now and still open, and the
median time to act, each broken down by level (app/store/followup_report.py computes it).

Used by the API (``GET /v1/follow-up/report`` and its export) and the console's
evaluation page, so both count the same way. "Now" is the service's clock, so a report
asked while the clock is set forward counts what is overdue at that time.
"""

from __future__ import annotations

import datetime as dt

import sqlite_utils

from app.store import followup_report as _store
from app.store import times
from app.store.errors import InvalidRequest
from app.store.followup_report import COLUMNS, COUNTS, EXPORT_FORMATS, GROUPINGS, Export, Group, Report, Row  # noqa: F401

# A period is at most a year and a day: one evaluation reads at most that many days of tasks.
MAX_PERIOD = dt.timedelta(days=366)
DEFAULT_PERIOD = dt.timedelta(days=30)
MAX_GROUPS = 1000


def _now() -> dt.datetime:
    from app.core import clock

    return clock.now()


def period(since: dt.datetime | None, until: dt.datetime | None, now: dt.datetime | None = None
           ) -> tuple[dt.datetime, dt.datetime]:
    """The period asked for: ``until`` defaults to now, ``since`` to 30 days before
    ``until``; refused when it is empty, reversed or longer than MAX_PERIOD."""
    now = now or _now()
    until = until or now
    if since is None:
        try:
            since = until - DEFAULT_PERIOD
        except OverflowError:  # `to` in the first days of year 1
            raise InvalidRequest("The period starts before the first day there is.",
                                 [{"path": "to", "message": "Too early: give `from` as well."}]) from None
    if since >= until:
        raise InvalidRequest("The period is empty: `from` must be before `to`.",
                             [{"path": "from", "message": f"{times.iso(since)} is not before {times.iso(until)}."}])
    if until - since > MAX_PERIOD:
        raise InvalidRequest(f"The period is longer than {MAX_PERIOD.days} days; ask for a shorter one.",
                             [{"path": "to", "message": f"At most {MAX_PERIOD.days} days after `from`."}])
    return since, until


def _order_levels(group: Group, order: dict[str, int]) -> Group:
    group.levels.sort(key=lambda r: (order.get(r.level or "", len(order)), r.level or ""))
    return group


def level_order(levels=("green", "yellow", "orange", "red")) -> dict[str, int]:
    return {name: i for i, name in enumerate(levels)}


def report(db: sqlite_utils.Database, by: str, since: dt.datetime | None = None, until: dt.datetime | None = None,
           *, limit: int = 100, cursor: str | None = None) -> Report:
    """The evaluation of the tasks opened in ``[since, until)`` at the service's time,
    at most ``limit`` groups a page (``cursor``: the page before's ``next_cursor``)."""
    now = _now()
    since, until = period(since, until, now)
    if not 1 <= limit <= MAX_GROUPS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_GROUPS}.", [{"path": "limit", "message": "Out of range."}])
    result = _store.report(db, by, times.iso(since), times.iso(until), times.iso(now), limit=limit, after=cursor)
    order = level_order()
    for group in (*result.groups, result.totals):
        _order_levels(group, order)
    return result


def export(db: sqlite_utils.Database, by: str, since: dt.datetime | None, until: dt.datetime | None,
           fmt: str) -> Export:
    """Every group's rows of the report, streamed as CSV or JSON Lines."""
    now = _now()
    since, until = period(since, until, now)
    return _store.export(db, by, times.iso(since), times.iso(until), times.iso(now), fmt)
