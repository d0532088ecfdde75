"""Searching and exporting the decision log.

Filters: customer, a time range on ``decided_at``, ruleset id and version, a rule that
fired, a final action, the warning level, and words of the explanation (SQLite FTS5).
Results are newest first (seq descending) with an opaque cursor that stays stable while
decisions are appended: a page holds the decisions older than the cursor's.

The rules, actions and explanation text are indexed from the logged rows here, not when a
decision is written: ``catch_up`` brings the index towards the newest decision, in small
batches, before a search or export that filters on them. Given a time budget it stops
once that is spent (after at least one batch, so every search moves it on), and the
answer says how far the index reaches (``Coverage``): a large backlog never holds a
search for minutes, and a decision not yet indexed is never silently missing. A purged
record is found only by what it keeps (time, ruleset, level), never by its rules,
actions or words.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import sqlite_utils

from app.core import codec
from app.store.db import immediate
from app.store.errors import InvalidRequest, LogUnavailable
from app.store.queries import check_text, seq_from_cursor

# Index this many decisions per write transaction: each batch holds the write lock every
# worker's decisions wait for, about 20 ms for 200.
INDEX_BATCH = 200

# The words a decision is found by, from its result and trail.
TextOf = Callable[[dict, list], str]


@dataclass(frozen=True)
class Filters:
    customer_id: str | None = None
    since: str | None = None          # decided_at >= since (ISO, UTC, as stored)
    until: str | None = None          # decided_at < until
    ruleset_id: str | None = None
    ruleset_version: int | None = None
    rule: str | None = None           # a rule that fired
    action: str | None = None         # a final action
    level: str | None = None          # the warning level
    q: str | None = None              # words of the explanation

    def __post_init__(self):
        check_text(customer_id=self.customer_id, ruleset_id=self.ruleset_id, rule=self.rule, action=self.action,
                   level=self.level, q=self.q)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def needs_index(self) -> bool:
        return self.rule is not None or self.action is not None or self.q is not None


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class Coverage:
    """How far the index of rules, actions and words reaches: every decision up to
    ``indexed_through`` (a seq) is in it, those after it up to ``newest`` are not yet."""

    indexed_through: int
    newest: int

    @property
    def complete(self) -> bool:
        return self.indexed_through >= self.newest

    def to_dict(self) -> dict:
        return {"indexed_through": self.indexed_through, "newest": self.newest, "complete": self.complete}


def coverage(db: sqlite_utils.Database) -> Coverage:
    try:
        row = db.execute("SELECT (SELECT indexed_seq FROM search_index_state), "
                         "(SELECT coalesce(max(seq), 0) FROM decisions)").fetchone()
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    return Coverage(row[0], row[1])


def catch_up(db: sqlite_utils.Database, text_of: TextOf, batch: int | None = None,
             seconds: float | None = None) -> int:
    """Index the decisions logged since the last call; return how many were indexed.
    ``seconds``: stop once this long has passed (checked after each batch, so at least
    one batch is indexed); None: go on until the newest decision is indexed.
    The text is worked out outside the write lock; inserting a batch holds it briefly.
    ``text_of(result, trail)``: the words a decision is found by (the service layer's
    narrative, app/service/log_search.py), always the same function for one log."""
    batch = batch or INDEX_BATCH
    deadline = None if seconds is None else time.monotonic() + seconds
    done = 0
    try:
        while True:
            if done and deadline is not None and time.monotonic() >= deadline:
                return done
            reach = coverage(db)
            if reach.complete:
                return done
            indexed = reach.indexed_through
            rows = db.execute("SELECT seq, result, trail FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?",
                              [indexed, batch]).fetchall()
            entries = []
            for seq, result, trail in rows:
                if result is None:  # purged
                    continue
                result, trail = json.loads(result), json.loads(trail)
                entries.append((seq, tuple(dict.fromkeys(result.get("fired") or ())),
                                tuple(dict.fromkeys(a["action"] for a in result.get("actions") or ())),
                                text_of(result, trail)))
            with immediate(db):
                if db.execute("SELECT indexed_seq FROM search_index_state").fetchone()[0] != indexed:
                    continue  # another worker indexed these meanwhile
                seqs = [e[0] for e in entries]
                # A record purged since it was read must not have its words indexed.
                purged = {r[0] for r in db.execute(
                    f"SELECT seq FROM decisions WHERE purged_at IS NOT NULL AND seq IN ({','.join('?' * len(seqs))})",
                    seqs).fetchall()} if seqs else set()
                for seq, rules, actions, text in entries:
                    if seq in purged:
                        continue
                    db.conn.executemany("INSERT INTO decision_rules (rule_id, seq) VALUES (?, ?)",
                                        [(r, seq) for r in rules])
                    db.conn.executemany("INSERT INTO decision_actions (action, seq) VALUES (?, ?)",
                                        [(a, seq) for a in actions])
                    db.execute("INSERT INTO decision_texts (seq, text) VALUES (?, ?)", [seq, text])
                db.execute("UPDATE search_index_state SET indexed_seq = ?", [rows[-1][0]])
            done += len(rows)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


def forget(db: sqlite_utils.Database, seqs: list[int]) -> None:
    """Drop purged records from the index. Call inside the purging transaction."""
    for table in ("decision_rules", "decision_actions", "decision_texts"):
        db.conn.executemany(f"DELETE FROM {table} WHERE seq = ?", [(s,) for s in seqs])


# ---------------------------------------------------------------- queries


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    kind, _, value = text.partition(":")
    return seq_from_cursor(value if kind == "seq" else None)


def _where(db, filters: Filters, before: int | None = None, through: int | None = None) -> tuple[str, list]:
    where, params = [], []
    for column, value in (("customer_id", filters.customer_id), ("ruleset_id", filters.ruleset_id),
                          ("ruleset_version", filters.ruleset_version), ("level", filters.level)):
        if value is not None:
            where.append(f"d.{column} = ?")
            params.append(value)
    if filters.since:
        where.append("d.decided_at >= ?")
        params.append(filters.since)
    if filters.until:
        where.append("d.decided_at < ?")
        params.append(filters.until)
    if filters.rule:
        where.append("d.seq IN (SELECT seq FROM decision_rules WHERE rule_id = ?)")
        params.append(filters.rule)
    if filters.action:
        where.append("d.seq IN (SELECT seq FROM decision_actions WHERE action = ?)")
        params.append(filters.action)
    if filters.q is not None:
        words = db.quote_fts(filters.q)  # every word quoted: the text is words, never FTS syntax
        if not words.strip('" '):
            raise InvalidRequest("Give at least one word to search for.",
                                 [{"path": "q", "message": "No words to search for."}])
        where.append("d.seq IN (SELECT rowid FROM decision_texts_fts WHERE decision_texts_fts MATCH ?)")
        params.append(words)
    if before is not None:
        where.append("d.seq < ?")
        params.append(before)
    if through is not None:
        where.append("d.seq <= ?")
        params.append(through)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def _run(db, sql: str, params: list):
    try:
        return db.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc).lower() or "match" in str(exc).lower():
            raise InvalidRequest("The search words cannot be searched for.",
                                 [{"path": "q", "message": "Not a searchable text."}]) from None
        raise LogUnavailable() from exc
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc


_SUMMARY = ("seq", "id", "decided_at", "customer_id", "ruleset_id", "ruleset_version", "ruleset_hash", "level",
            "review_frequency", "result", "purged_at")


@dataclass(frozen=True)
class Page:
    decisions: list[dict]
    next_cursor: str | None
    index: Coverage | None = None  # for a search by rule, action or words: how far it reaches


def _summary(row: tuple) -> dict:
    values = dict(zip(_SUMMARY, row))
    result = json.loads(values["result"]) if values["result"] is not None else None
    return {
        "seq": values["seq"], "decision_id": values["id"], "decided_at": values["decided_at"],
        "customer_id": values["customer_id"],
        "ruleset": {"id": values["ruleset_id"], "version": values["ruleset_version"], "hash": values["ruleset_hash"]},
        "level": values["level"], "review_frequency": values["review_frequency"],
        "actions": None if result is None else [
            {"action": a["action"], "params": a.get("params") or {}, "adverse": bool(a.get("adverse")),
             "rules": a.get("rules") or []} for a in result.get("actions") or ()],
        "fired": None if result is None else list(result.get("fired") or ()),
        "purged_at": values["purged_at"],
    }


def _index_for(db, filters: Filters, text_of: TextOf, seconds: float | None) -> Coverage | None:
    """For filters that read the index: index what the budget allows, and say how far
    the index reaches now."""
    if not filters.needs_index:
        return None
    catch_up(db, text_of, seconds=seconds)
    return coverage(db)


def search(db: sqlite_utils.Database, filters: Filters, cursor: str | None = None, limit: int = 50, *,
           text_of: TextOf, index_seconds: float | None = None) -> Page:
    """One page of decisions matching every filter, newest first. A search by rule,
    action or words first indexes what was logged since the last one, for at most
    ``index_seconds`` (None: all of it), and its page says how far the index reaches."""
    before = decode_cursor(cursor) if cursor else None
    reach = _index_for(db, filters, text_of, index_seconds)
    where, params = _where(db, filters, before=before)
    rows = _run(db, f"SELECT {', '.join('d.' + c for c in _SUMMARY)} FROM decisions d{where} "
                    "ORDER BY d.seq DESC LIMIT ?", [*params, int(limit) + 1]).fetchall()
    decisions = [_summary(r) for r in rows[:limit]]
    more = len(rows) > limit and decisions
    return Page(decisions, encode_cursor(decisions[-1]["seq"]) if more else None, reach)


# ---------------------------------------------------------------- export


EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("seq", "decision_id", "decided_at", "customer_id", "ruleset_id", "ruleset_version", "ruleset_hash",
               "level", "review_frequency", "actions", "fired", "client_request_id", "masked", "content_hash",
               "chain_hash", "purged_at")
_EXPORTED = ("seq", "id", "decided_at", "customer_id", "ruleset_id", "ruleset_version", "ruleset_hash", "level",
             "review_frequency", "result", "trail", "snapshot", "client_request_id", "masked", "content_hash",
             "chain_hash", "purged_at")
# Lines per chunk handed to the response: big enough to write efficiently, small enough
# that memory does not depend on the size of the export.
_CHUNK_ROWS = 500


@dataclass(frozen=True)
class Export:
    """An export about to be streamed: how many rows it holds, up to which seq (decisions
    logged after it started are not in it), and the chunks of text."""

    format: str
    count: int
    through_seq: int
    chunks: Iterator[str]


def export(db: sqlite_utils.Database, filters: Filters, fmt: str, *, text_of: TextOf,
           index_seconds: float | None = None) -> Export:
    """Every decision matching the filters, newest first, as CSV or JSON Lines, streamed
    from one SQL statement in constant memory. Filtered by rule, action or words, it
    indexes for at most ``index_seconds`` (None: until complete) and holds the decisions
    up to where the index reaches: ``through_seq`` says so."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(EXPORT_FORMATS)}.",
                             [{"path": "format", "message": "Unknown format."}])
    reach = _index_for(db, filters, text_of, index_seconds)
    through = _run(db, "SELECT coalesce(max(seq), 0) FROM decisions", []).fetchone()[0]
    if reach is not None:
        through = min(through, reach.indexed_through)
    where, params = _where(db, filters, through=through)
    count = _run(db, f"SELECT count(*) FROM decisions d{where}", params).fetchone()[0]
    sql = f"SELECT {', '.join('d.' + c for c in _EXPORTED)} FROM decisions d{where} ORDER BY d.seq DESC"
    lines = _csv_lines if fmt == "csv" else _jsonl_lines
    return Export(fmt, count, through, _chunks(db, sql, params, lines))


def _chunks(db, sql: str, params: list, lines) -> Iterator[str]:
    cursor = _run(db, sql, params)
    try:
        yield from lines(cursor)
    except sqlite3.Error as exc:
        raise LogUnavailable() from exc
    finally:
        cursor.close()  # ends the read transaction even when the client goes away


def _actions_text(actions) -> str:
    out = []
    for a in actions or ():
        params = a.get("params") or {}
        out.append(a["action"] + ("(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else ""))
    return "; ".join(out)


def _csv_lines(cursor) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in cursor:
        v = dict(zip(_EXPORTED, row))
        result = json.loads(v["result"]) if v["result"] is not None else {}
        writer.writerow((v["seq"], v["id"], v["decided_at"], v["customer_id"], v["ruleset_id"], v["ruleset_version"],
                         v["ruleset_hash"], v["level"], v["review_frequency"], _actions_text(result.get("actions")),
                         ";".join(result.get("fired") or ()), v["client_request_id"], v["masked"], v["content_hash"],
                         v["chain_hash"], v["purged_at"]))
        n += 1
        if n % _CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(cursor) -> Iterator[str]:
    # result, trail and snapshot are JSON already: written as they were logged.
    dumps = codec.dumps
    parts: list[str] = []
    for row in cursor:
        v = dict(zip(_EXPORTED, row))
        parts.append(
            f'{{"seq":{v["seq"]},"decision_id":{dumps(v["id"])},"decided_at":{dumps(v["decided_at"])},'
            f'"customer_id":{dumps(v["customer_id"])},"ruleset":{{"id":{dumps(v["ruleset_id"])},'
            f'"version":{v["ruleset_version"]},"hash":{dumps(v["ruleset_hash"])}}},"level":{dumps(v["level"])},'
            f'"review_frequency":{dumps(v["review_frequency"])},"result":{v["result"] or "null"},'
            f'"trail":{v["trail"] or "null"},"snapshot":{v["snapshot"] or "null"},'
            f'"client_request_id":{dumps(v["client_request_id"])},"masked":{dumps(v["masked"])},'
            f'"content_hash":{dumps(v["content_hash"])},"chain_hash":{dumps(v["chain_hash"])},'
            f'"purged_at":{dumps(v["purged_at"])}}}\n')
        if len(parts) == _CHUNK_ROWS:
            yield "".join(parts)
            parts.clear()
    yield "".join(parts)
