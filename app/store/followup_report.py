"""The evaluation of follow-up: per owner or per branch, what was opened over a period and
what became of it, computed in SQL over the tasks table.

Every figure counts the tasks *opened* in the period ``[since, until)``, so each row adds
up: ``opened = done_on_time + done_late + waived + overdue_now + open``. A task is done on
time when it was completed at or before its due time (as escalations left it), late after;
``overdue_now`` and ``open`` are the tasks not closed yet, past their due time at ``now``
or not. The median time to act is over the completed tasks, from opening to completion,
in hours. Each group has one row per level and one for all levels (``level`` None).

What it costs is bounded: the tasks are read through the index on their opening time, a
page holds at most ``limit`` groups (the next page starts after the last group's key), and
an export streams the rows from one statement in constant memory.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlite_utils

from app.store.errors import InvalidRequest, LogUnavailable

GROUPINGS = ("owner", "branch")
COUNTS = ("opened", "done_on_time", "done_late", "waived", "overdue_now", "open")
COLUMNS = ("group", "level", *COUNTS, "median_hours_to_act")
EXPORT_FORMATS = ("csv", "jsonl")
_CHUNK_ROWS = 500
_ALL = "\x00all"  # sorts before every level name: a group's all-levels row comes first


@dataclass
class Row:
    """One group's figures, for one level or (``level`` None) all of them."""

    group: str | None
    level: str | None
    opened: int = 0
    done_on_time: int = 0
    done_late: int = 0
    waived: int = 0
    overdue_now: int = 0
    open: int = 0
    median_hours_to_act: float | None = None

    def to_dict(self) -> dict:
        return {"group": self.group, "level": self.level, **{c: getattr(self, c) for c in COUNTS},
                "median_hours_to_act": self.median_hours_to_act}


@dataclass
class Group:
    key: str | None
    total: Row
    levels: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"key": self.key, **{k: v for k, v in self.total.to_dict().items() if k not in ("group", "level")},
                "levels": [{k: v for k, v in r.to_dict().items() if k != "group"} for r in self.levels]}


@dataclass
class Report:
    by: str
    since: str
    until: str
    now: str
    groups: list[Group]
    totals: Group
    next_cursor: str | None


def _sql(by: str, *, paged: bool) -> str:
    """The figures of each (group, level) and each group over all levels, in group then
    level order. With ``paged``, only the groups after ``:after`` and at most ``:limit``
    of them; the totals over every group come as the group with key NULL and ``:all``.
    """
    if by not in GROUPINGS:
        raise InvalidRequest(f"by must be one of {', '.join(GROUPINGS)}.",
                             [{"path": "by", "message": "Unknown grouping."}])
    column = "owner_id" if by == "owner" else "branch"
    opened = ("SELECT coalesce({c}, '') AS grp, coalesce(level, '') AS level, status, due_at, done_at,"
              " CASE WHEN status = 'done' THEN (julianday(done_at) - julianday(opened_at)) * 24.0 END AS hours"
              " FROM tasks WHERE opened_at >= :since AND opened_at < :until").format(c=column)
    if paged:
        groups = ("SELECT DISTINCT coalesce({c}, '') AS grp FROM tasks"
                  " WHERE opened_at >= :since AND opened_at < :until AND (:after IS NULL OR coalesce({c}, '') > :after)"
                  " ORDER BY grp LIMIT :limit").format(c=column)
        opened = f"SELECT t.* FROM ({opened}) t WHERE t.grp IN ({groups})"
    return f"""
WITH t AS ({opened}),
rows AS (
    SELECT grp, level, status, due_at, done_at, hours FROM t
    UNION ALL SELECT grp, :all, status, due_at, done_at, hours FROM t
),
ranked AS (
    SELECT grp, level, hours,
           row_number() OVER (PARTITION BY grp, level ORDER BY hours) AS n,
           count(*) OVER (PARTITION BY grp, level) AS of
    FROM rows WHERE hours IS NOT NULL
),
medians AS (
    SELECT grp, level, avg(hours) AS median FROM ranked
    WHERE n IN ((of + 1) / 2, (of + 2) / 2) GROUP BY grp, level
)
SELECT r.grp, r.level, count(*) AS opened,
       sum(r.status = 'done' AND r.done_at <= r.due_at) AS done_on_time,
       sum(r.status = 'done' AND r.done_at > r.due_at) AS done_late,
       sum(r.status = 'waived') AS waived,
       sum(r.status NOT IN ('done', 'waived') AND r.due_at < :now) AS overdue_now,
       sum(r.status NOT IN ('done', 'waived') AND r.due_at >= :now) AS open,
       m.median
FROM rows r LEFT JOIN medians m ON m.grp = r.grp AND m.level = r.level
GROUP BY r.grp, r.level
ORDER BY r.grp, r.level = :all DESC, r.level
"""


def _totals_sql() -> str:
    return """
WITH t AS (
    SELECT coalesce(level, '') AS level, status, due_at, done_at,
           CASE WHEN status = 'done' THEN (julianday(done_at) - julianday(opened_at)) * 24.0 END AS hours
    FROM tasks WHERE opened_at >= :since AND opened_at < :until
),
rows AS (SELECT level, status, due_at, done_at, hours FROM t
         UNION ALL SELECT :all, status, due_at, done_at, hours FROM t),
ranked AS (
    SELECT level, hours, row_number() OVER (PARTITION BY level ORDER BY hours) AS n,
           count(*) OVER (PARTITION BY level) AS of
    FROM rows WHERE hours IS NOT NULL
),
medians AS (SELECT level, avg(hours) AS median FROM ranked WHERE n IN ((of + 1) / 2, (of + 2) / 2) GROUP BY level)
SELECT NULL, r.level, count(*),
       sum(r.status = 'done' AND r.done_at <= r.due_at),
       sum(r.status = 'done' AND r.done_at > r.due_at),
       sum(r.status = 'waived'),
       sum(r.status NOT IN ('done', 'waived') AND r.due_at < :now),
       sum(r.status NOT IN ('done', 'waived') AND r.due_at >= :now),
       m.median
FROM rows r LEFT JOIN medians m ON m.level = r.level
GROUP BY r.level ORDER BY r.level = :all DESC, r.level
"""


def _row(values) -> Row:
    grp, level, *counts, median = values
    return Row(group=grp, level=None if level == _ALL else (level or None),
               **{c: int(v or 0) for c, v in zip(COUNTS, counts)},
               median_hours_to_act=None if median is None else round(median, 2))


def _execute(db: sqlite_utils.Database, sql: str, params: dict):
    try:
        return db.execute(sql, params)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def _grouped(rows: list[Row]) -> list[Group]:
    groups: list[Group] = []
    for row in rows:
        if row.level is None:
            groups.append(Group(key=row.group, total=row))
        else:
            groups[-1].levels.append(row)
    return groups


def report(db: sqlite_utils.Database, by: str, since: str, until: str, now: str, *, limit: int = 100,
           after: str | None = None) -> Report:
    """The evaluation of the tasks opened in ``[since, until)`` (stored timestamps), at
    ``now``, by owner or branch: at most ``limit`` groups after the key ``after``."""
    params = {"since": since, "until": until, "now": now, "all": _ALL, "after": after, "limit": limit + 1}
    rows = [_row(r) for r in _execute(db, _sql(by, paged=True), params).fetchall()]
    groups = _grouped(rows)
    next_cursor = None
    if len(groups) > limit:
        groups = groups[:limit]
        next_cursor = groups[-1].key or ""
    totals = _grouped([_row(r) for r in _execute(db, _totals_sql(), params).fetchall()])
    total = totals[0] if totals else Group(key=None, total=Row(group=None, level=None))
    for g in groups:
        g.key = g.key or None
        g.total.group = g.key
        for r in g.levels:
            r.group = g.key
    return Report(by=by, since=since, until=until, now=now, groups=groups, totals=total, next_cursor=next_cursor)


@dataclass(frozen=True)
class Export:
    format: str
    by: str
    since: str
    until: str
    now: str
    chunks: Iterator[str]


def export(db: sqlite_utils.Database, by: str, since: str, until: str, now: str, fmt: str) -> Export:
    """Every group's rows (all levels first, then each level), as CSV or JSON Lines,
    streamed from one statement."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(EXPORT_FORMATS)}.",
                             [{"path": "format", "message": "Unknown format."}])
    sql = _sql(by, paged=False)
    params = {"since": since, "until": until, "now": now, "all": _ALL}
    cursor = _execute(db, sql, params)
    return Export(fmt, by, since, until, now, _chunks(cursor, by, since, until, now, fmt))


def _chunks(cursor, by, since, until, now, fmt) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(("by", *COLUMNS, "from", "to", "as_of"))
    n = 0
    try:
        for values in cursor:
            row = _row(values)
            key = row.group or None
            if fmt == "csv":
                writer.writerow((by, key or "", row.level or "all", *(getattr(row, c) for c in COUNTS),
                                 "" if row.median_hours_to_act is None else row.median_hours_to_act,
                                 since, until, now))
            else:
                buffer.write(json.dumps({"by": by, **row.to_dict(), "group": key, "from": since, "to": until,
                                         "as_of": now}) + "\n")
            n += 1
            if n % _CHUNK_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    finally:
        cursor.close()
