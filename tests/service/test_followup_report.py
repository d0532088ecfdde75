"""The evaluation of follow-up: what the report counts, per owner and per branch, by level,
over a period, at the service's clock; paging, bounds, and the export that streams it."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from app.service import followup_report
from app.store.errors import InvalidRequest
from tests.followup_book import DAY, T0, at, book, now  # noqa: F401  (fixtures)

FIGURES = ("opened", "done_on_time", "done_late", "waived", "overdue_now", "open")


def figures(row) -> tuple:
    return tuple(getattr(row, f) for f in FIGURES)


def test_per_owner_counts_what_became_of_each_task_opened_in_the_period(book, now):
    now(T0 + 10 * DAY)
    report = followup_report.report(book, "owner", T0 - DAY, T0 + 20 * DAY)
    groups = {g.key: g for g in report.groups}
    assert list(groups) == [None, "ann", "bob"]  # the queue first, then owners as people compare
    ann, bob, queue = groups["ann"], groups["bob"], groups[None]
    assert figures(ann.total) == (3, 1, 1, 1, 0, 0)
    assert ann.total.median_hours_to_act == 54.0  # 24 h and 84 h
    assert [(r.level, figures(r)) for r in ann.levels] == [("yellow", (1, 0, 0, 1, 0, 0)),
                                                           ("red", (2, 1, 1, 0, 0, 0))]
    assert figures(bob.total) == (2, 1, 0, 0, 1, 0)
    assert bob.total.median_hours_to_act == 6.0
    assert figures(queue.total) == (1, 0, 0, 0, 0, 1)
    assert queue.total.median_hours_to_act is None
    assert figures(report.totals.total) == (6, 2, 1, 1, 1, 1)
    assert report.totals.total.median_hours_to_act == 24.0  # 6 h, 24 h, 84 h
    for g in (*report.groups, report.totals):  # every row adds up
        for row in (g.total, *g.levels):
            assert row.opened == sum(figures(row)[1:])


def test_overdue_is_judged_at_the_clock(book, now):
    now(T0 + DAY)  # before anything fell due
    early = followup_report.report(book, "owner", T0 - DAY, T0 + 20 * DAY)
    assert {g.key: (g.total.overdue_now, g.total.open) for g in early.groups}["bob"] == (0, 1)
    assert early.now == at(T0 + DAY)
    now(T0 + 100 * DAY)
    late = followup_report.report(book, "owner", T0 - DAY, T0 + 20 * DAY)
    assert {g.key: g.total.overdue_now for g in late.groups} == {None: 1, "ann": 0, "bob": 1}


def test_per_branch_and_the_period(book, now):
    now(T0 + 10 * DAY)
    report = followup_report.report(book, "branch", T0 - 60 * DAY, T0 + 20 * DAY)
    assert {g.key: figures(g.total) for g in report.groups} == {"B1": (6, 2, 1, 1, 2, 0), "B2": (1, 0, 0, 0, 0, 1)}
    # the period counts the tasks opened in it: from is included, to is not
    narrow = followup_report.report(book, "branch", T0, T0 + 5 * DAY)
    assert {g.key: g.total.opened for g in narrow.groups} == {"B1": 5}


def test_default_period_is_the_last_30_days_and_bounds_are_refused(book, now):
    now(T0 + 10 * DAY)
    report = followup_report.report(book, "owner")
    assert (report.since, report.until) == (at(T0 - 20 * DAY), at(T0 + 10 * DAY))
    with pytest.raises(InvalidRequest) as empty:
        followup_report.report(book, "owner", T0, T0)
    assert empty.value.details[0]["path"] == "from"
    with pytest.raises(InvalidRequest) as long:
        followup_report.report(book, "owner", T0, T0 + 367 * DAY)
    assert long.value.details[0]["path"] == "to"
    with pytest.raises(InvalidRequest):
        followup_report.report(book, "customer", T0, T0 + DAY)


def test_groups_come_a_page_at_a_time(book, now):
    now(T0 + 10 * DAY)
    seen, cursor = [], None
    for _ in range(5):
        page = followup_report.report(book, "owner", T0 - DAY, T0 + 20 * DAY, limit=1, cursor=cursor)
        assert len(page.groups) == 1
        assert figures(page.totals.total) == (6, 2, 1, 1, 1, 1)  # totals are over every group
        seen.append(page.groups[0].key)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [None, "ann", "bob"]


def test_export_streams_every_group_and_level(book, now):
    now(T0 + 10 * DAY)
    exported = followup_report.export(book, "owner", T0 - DAY, T0 + 20 * DAY, "csv")
    rows = list(csv.DictReader(io.StringIO("".join(exported.chunks))))
    ann = [r for r in rows if r["group"] == "ann"]
    assert [(r["level"], r["opened"], r["done_on_time"], r["done_late"], r["waived"]) for r in ann] == [
        ("all", "3", "1", "1", "1"), ("red", "2", "1", "1", "0"), ("yellow", "1", "0", "0", "1")]
    assert ann[0]["median_hours_to_act"] == "54.0"
    assert {r["by"] for r in rows} == {"owner"} and rows[0]["as_of"] == at(T0 + 10 * DAY)
    lines = [json.loads(line) for line in
             "".join(followup_report.export(book, "branch", T0 - DAY, T0 + 20 * DAY, "jsonl").chunks).splitlines()]
    assert [(r["group"], r["level"], r["opened"]) for r in lines] == [
        ("B1", None, 5), ("B1", "red", 4), ("B1", "yellow", 1), ("B2", None, 1), ("B2", "red", 1)]


def test_a_period_ending_in_year_one_is_refused_not_a_crash(book, now):
    now(T0)
    with pytest.raises(InvalidRequest) as early:
        followup_report.report(book, "owner", None, dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc))
    assert early.value.details[0]["path"] == "to"
