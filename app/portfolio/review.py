"""Portfolio review: evaluate every snapshot of a file, one result line per record.

Results are written in input order, one JSON line per input record (a decision, or the
reason the record could not be decided), so the results file of a run that was stopped
and resumed is byte for byte the file of a run that was not, and the file written by
worker processes on this machine is byte for byte the file written by a Dask cluster
(app/portfolio/cluster.py): both evaluate with ``review_items`` and this module writes.
The input is one file or many shards (``SnapshotSet``); results of sharded input name
the shard of each record (``file``) before its line.

Crash safety. Three things are written, in this order, for every chunk of records:

1. the decisions, committed to the decision log (when logging), each with the client
   request id ``review:<run id>:<line>``, which the log keeps unique;
2. the result lines, appended to the results file;
3. now and then (``checkpoint_every`` seconds), after an fsync of the results file, the
   checkpoint ``<results>.checkpoint``: how many records are done, where the next one
   starts in the input (shard, offset, line), how long the results file is, and the
   counts so far. It is replaced atomically (write, fsync, rename).

``resume`` starts from the checkpoint, then takes every complete result line written
after it (checking that each names the input line it should), truncates a torn last
line, and carries on with the next record. Records whose results were never written are
evaluated again; their decisions, if already logged, are found by their client request
id and not logged twice.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sys
import time
import uuid
from collections import Counter
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

from app import store
from app.core import clock, codec
from app.engine import EngineError, Ruleset
from app.engine.masking import Masker
from app.service.decide import Decided, DecisionRequest, Pinned, RequestIdReused, decide
from app.service import followup
from app.service.decide import log as log_decisions
from app.store import decision_log, tasks, times

from . import cluster as cluster_mod
from . import parallel
from .progress import Progress, duration
from .readers import Record, SnapshotFile, SnapshotSet
from .snapshots import Decoder, RowError, customer_id

CHECKPOINT_VERSION = 1


class ReviewError(Exception):
    """The review cannot start, or cannot go on."""


# -- counts -------------------------------------------------------------------------------

@dataclass
class Tally:
    """What a set of result lines holds."""

    rows: int = 0
    decided: int = 0
    errors: int = 0
    levels: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    reviews: Counter = field(default_factory=Counter)
    error_reasons: Counter = field(default_factory=Counter)
    # Decisions with a value that failed its plausibility check, per field.
    data_quality: Counter = field(default_factory=Counter)

    def add(self, result: dict) -> None:
        self.rows += 1
        error = result.get("error")
        if error is not None:
            self.errors += 1
            self.error_reasons[error["reason"]] += 1
            return
        self.decided += 1
        self.levels[result["level"]] += 1
        self.reviews[result["review_frequency"]] += 1
        for action in result["actions"]:
            self.actions[action["action"]] += 1
        for finding in result.get("data_quality") or ():
            self.data_quality[finding["field"]] += 1

    def merge(self, other: "Tally") -> None:
        self.rows += other.rows
        self.decided += other.decided
        self.errors += other.errors
        self.levels.update(other.levels)
        self.actions.update(other.actions)
        self.reviews.update(other.reviews)
        self.error_reasons.update(other.error_reasons)
        self.data_quality.update(other.data_quality)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "decided": self.decided, "errors": self.errors,
                "levels": dict(self.levels), "actions": dict(self.actions),
                "review_frequencies": dict(self.reviews), "error_reasons": dict(self.error_reasons),
                "data_quality": dict(self.data_quality)}

    @classmethod
    def from_dict(cls, data: dict) -> "Tally":
        return cls(data["rows"], data["decided"], data["errors"], Counter(data["levels"]),
                   Counter(data["actions"]), Counter(data["review_frequencies"]), Counter(data["error_reasons"]),
                   Counter(data.get("data_quality") or {}))


# -- the work of one chunk, in a worker -------------------------------------------------

@dataclass(frozen=True)
class _Context:
    ruleset: Ruleset
    decoders: Any          # shard -> Decoder (a list, or a mapping filled as shards are met)
    names: tuple           # shard -> how results name it (None: a single file)
    run_id: str
    log: bool
    trail: bool
    masker: Masker | None = None
    # customer id -> the actions whose follow-up task is overdue at the review's start
    # (read from the log being written; None when not logging)
    overdue: dict | None = None


@dataclass
class _Chunk:
    shard: int
    items: list            # [(line, raw)]
    end: int               # input offset after the last record
    next_line: int         # input line after the last record


@dataclass
class _Done:
    text: str                                   # the result lines
    tally: Tally
    errors: list                                # [(file or None, line, RowError.to_dict())]
    decisions: list                             # Decision rows to log, in order
    shard: int
    end: int
    next_line: int
    lines: list                                 # input line of each result line


def client_request_id(run_id: str, line: int, file: str | None = None) -> str:
    return f"review:{run_id}:{line}" if file is None else f"review:{run_id}:{file}:{line}"


def _where(file: str | None, line: int) -> dict:
    return {"line": line} if file is None else {"file": file, "line": line}


def result_for(line: int, cid: str | None, evaluation, trail: bool = False, file: str | None = None) -> dict:
    out = {**_where(file, line), "customer_id": cid, "level": evaluation.level,
           "review_frequency": evaluation.review_frequency,
           "actions": [a.to_dict() for a in evaluation.actions],
           "overridden": [o.to_dict() for o in evaluation.overridden],
           "signals": list(evaluation.signals), "fired": list(evaluation.fired),
           "data_quality": [f.to_dict() for f in evaluation.data_quality]}
    if trail:
        out["trail"] = [f.to_dict() for f in evaluation.firings]
    return out


def error_for(line: int, cid: str | None, error: RowError, file: str | None = None) -> dict:
    out: dict = _where(file, line)
    if cid is not None:
        out["customer_id"] = cid
    out["error"] = error.to_dict()
    return out


def decide_raw(ctx: _Context, decoder: Decoder, raw, request_id: str) -> Decided:
    """Decode and validate one record and decide on it, through the one decision path
    (the same as ``POST /v1/decisions``). Raises RowError."""
    started = time.perf_counter()
    snapshot, validated = decoder.decode(raw)
    cid = customer_id(validated)
    request = DecisionRequest(ruleset_id=ctx.ruleset.id, customer_id=cid or "", snapshot=snapshot,
                              ruleset_version=ctx.ruleset.version, client_request_id=request_id)
    try:
        return decide(request, Pinned(ctx.ruleset), masker=ctx.masker, started=started, validated=validated,
                      follow_up=followup.facts_from(ctx.overdue) if ctx.overdue is not None else None)
    except EngineError as exc:
        raise RowError(exc.reason, exc.message, customer_id=cid) from None
    except Exception as exc:  # one record must not stop the review
        raise RowError("internal_error", f"This record could not be evaluated ({type(exc).__name__}).",
                       customer_id=cid) from None


def review_items(ctx: _Context, shard: int, items: list, end: int, next_line: int) -> _Done:
    """Evaluate ``items`` ([(line, raw)], records of one shard) into their result lines.
    The one place a record becomes a result, in a local worker process or on Dask."""
    file = ctx.names[shard]
    decoder = ctx.decoders[shard]
    parts: list[str] = []
    tally = Tally()
    errors, decisions, lines = [], [], []
    for line, raw in items:
        try:
            decided = decide_raw(ctx, decoder, raw, client_request_id(ctx.run_id, line, file))
            result = result_for(line, customer_id(decided.validated), decided.evaluation, ctx.trail, file)
            if ctx.log:
                decisions.append(decided.row)
        except RowError as exc:
            result = error_for(line, exc.customer_id, exc, file)
            errors.append((file, line, exc.to_dict()))
        tally.add(result)
        lines.append(line)
        parts.append(codec.dumps(result) + "\n")
    return _Done("".join(parts), tally, errors, decisions, shard, end, next_line, lines)


def _review_chunk(chunk: _Chunk) -> _Done:
    return review_items(parallel.context(), chunk.shard, chunk.items, chunk.end, chunk.next_line)


def _chunks(records: Iterator[tuple[int, Record]], size: int) -> Iterator[_Chunk]:
    """Chunks of at most ``size`` records, each within one shard."""
    items: list = []
    last = None
    shard = None
    for index, record in records:
        if items and index != shard:
            yield _Chunk(shard, items, last.end, last.next_line)
            items = []
        shard = index
        items.append((record.line, record.raw))
        last = record
        if len(items) >= size:
            yield _Chunk(shard, items, last.end, last.next_line)
            items = []
    if items:
        yield _Chunk(shard, items, last.end, last.next_line)


# -- the work of one block, on a Dask worker ------------------------------------------------

@dataclass(frozen=True)
class ReviewTask:
    """What a Dask worker needs besides the block: the ruleset as text, and the options."""

    ruleset: "cluster_mod.RulesetText"
    run_id: str
    log: bool
    trail: bool
    mask_key_id: str | None = None  # the worker masks with its own key, which must be this one
    overdue: dict | None = None


def review_block(task: ReviewTask, block: "cluster_mod.Block") -> _Done:
    """Review one block of an input file where it runs (a Dask worker): the ruleset is
    compiled once per worker process and kept; the block is read from its file."""
    ruleset = cluster_mod.worker_ruleset(task.ruleset)
    file, items = cluster_mod.read_block(block, ruleset.contract)
    masker = cluster_mod.worker_masker(task.mask_key_id) if task.mask_key_id else None
    ctx = _Context(ruleset, {block.shard: Decoder(ruleset.contract, file.layout)}, {block.shard: block.name},
                   task.run_id, task.log, task.trail, masker, task.overdue)
    return review_items(ctx, block.shard, items, block.end, block.next_line)


# -- checkpoint -------------------------------------------------------------------------

def checkpoint_path(results: Path) -> Path:
    return results.with_name(results.name + ".checkpoint")


def read_checkpoint(results: str | Path) -> dict | None:
    path = checkpoint_path(Path(results))
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: unreadable checkpoint ({exc})") from None
    if state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise ReviewError(f"{path}: not a checkpoint this version can resume")
    return state


def _write_checkpoint(results: Path, state: dict) -> None:
    path = checkpoint_path(results)
    tmp = path.with_name(path.name + ".tmp")
    state["updated_at"] = _now()
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


# -- the summary ------------------------------------------------------------------------

@dataclass
class ReviewSummary:
    run_id: str
    ruleset: str
    input: str
    results: str
    tally: Tally
    workers: int
    seconds: float
    rows_this_run: int
    resumed_at_line: int | None
    complete: bool
    log: str | None = None
    logged: int = 0
    already_logged: int = 0
    scheduler: str | None = None
    resumed_in: str | None = None      # the shard resumed in (sharded input)
    follow_ups: dict = field(default_factory=dict)   # owner (or queue) -> follow-ups asked of them

    @property
    def rate(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "ruleset": self.ruleset, "input": self.input, "results": self.results,
                "complete": self.complete, "resumed_at_line": self.resumed_at_line, **self.tally.to_dict(),
                "workers": self.workers, "seconds": round(self.seconds, 3), "rows_this_run": self.rows_this_run,
                "rows_per_second": round(self.rate, 1), "log": self.log, "logged": self.logged,
                "already_logged": self.already_logged, "scheduler": self.scheduler,
                "follow_ups": dict(self.follow_ups)}

    def lines(self, level_order: tuple[str, ...] = ()) -> list[str]:
        t = self.tally
        state = "Reviewed" if self.complete else "Stopped after"
        out = [f"{state} {t.rows:,} records of {self.input} with {self.ruleset} (run {self.run_id})"]
        if self.resumed_at_line is not None:
            where = f"{self.resumed_in} " if self.resumed_in else ""
            out.append(f"  resumed at {where}line {self.resumed_at_line:,}")
        out.append(f"  decided {t.decided:,}, errors {t.errors:,}"
                   + (" (" + ", ".join(f"{r} {n:,}" for r, n in sorted(t.error_reasons.items())) + ")"
                      if t.errors else ""))
        order = [lv for lv in level_order if lv in t.levels] + sorted(set(t.levels) - set(level_order))
        out.append("  levels:  " + ", ".join(f"{lv} {t.levels[lv]:,}" for lv in order))
        out.append("  actions: " + ", ".join(f"{a} {n:,}" for a, n in sorted(t.actions.items(),
                                                                           key=lambda kv: (-kv[1], kv[0]))))
        out.append("  reviews: " + ", ".join(f"{r} {n:,}" for r, n in sorted(t.reviews.items(),
                                                                           key=lambda kv: (-kv[1], kv[0]))))
        if t.data_quality:
            out.append("  data quality (implausible values read as missing): " + ", ".join(
                f"{f} {n:,}" for f, n in sorted(t.data_quality.items(), key=lambda kv: (-kv[1], kv[0]))))
        where = f" on the Dask cluster at {self.scheduler}" if self.scheduler else ""
        out.append(f"  throughput: {self.rows_this_run:,} records in {duration(self.seconds)} "
                   f"({self.rate:,.0f}/s, {self.workers} worker{'s' if self.workers != 1 else ''}{where})")
        out.append(f"  results: {self.results}")
        if self.log:
            out.append(f"  decision log: {self.logged:,} decisions logged"
                       + (f", {self.already_logged:,} already there" if self.already_logged else "")
                       + f" ({self.log})")
            if self.follow_ups:
                out.append("  follow-up tasks opened or updated, per owner: " + ", ".join(
                    f"{who} {n:,}" for who, n in sorted(self.follow_ups.items(), key=lambda kv: (-kv[1], kv[0]))))
        return out


class Interrupted(Exception):
    """The review was stopped (Ctrl-C); the checkpoint lets it resume."""

    def __init__(self, summary: ReviewSummary):
        super().__init__("interrupted")
        self.summary = summary


# -- the review -------------------------------------------------------------------------

def review(ruleset: Ruleset, source: SnapshotFile | SnapshotSet, results: str | Path, *,
           workers: int | None = None, cluster=None, chunk_size: int | None = None, log: str | None = None,
           log_synchronous: str = "FULL", log_busy_timeout_ms: int = 5000, run_id: str | None = None,
           resume: bool = False, restart: bool = False, trail: bool = False, progress: bool = True,
           stream: TextIO | None = None, show_errors: int = 1000, checkpoint_every: float = 1.0,
           masker: Masker | None = None, task_queue: str = followup.DEFAULT_QUEUE) -> ReviewSummary:
    """Review every record of ``source`` with ``ruleset``; write results to ``results``.

    With ``cluster`` (a connected ``cluster.Cluster``) the records are evaluated on its
    Dask workers, a block of ``chunk_size`` records (default 2000) per task; otherwise by
    ``workers`` processes here, ``chunk_size`` (default 200) records at a time. Raises
    ReviewError when it cannot start (or a decision cannot be logged, or the cluster
    fails), and Interrupted on Ctrl-C, after saving a checkpoint to resume from. ``masker``:
    mask personal fields as every path that writes the log does (VIGIL_MASK_PERSONAL).
    Logged decisions open the follow-up tasks they ask for, as every decision does, once
    (a resumed review's decisions already logged open nothing); ``task_queue``: where a
    task goes when the snapshot names neither manager nor branch."""
    results = Path(results)
    source = SnapshotSet.of(source)
    if chunk_size is None:
        chunk_size = cluster_mod.BLOCK_SIZE if cluster is not None else 200
    log = str(Path(log).resolve()) if log else None
    db = None
    if log:
        try:
            db = store.connect(log, synchronous=log_synchronous, busy_timeout_ms=log_busy_timeout_ms)
            decision_log.check(db)
        except store.StoreError as exc:
            if db is not None:
                db.close()
            raise ReviewError(f"cannot log to {log}: {exc.message} Has it been created (db migrate)?") from None
    try:
        with only_writer(results):
            return _review(ruleset, source, results, db, workers=workers, cluster=cluster, chunk_size=chunk_size,
                           log=log, run_id=run_id, resume=resume, restart=restart, trail=trail, progress=progress,
                           stream=stream or sys.stderr, show_errors=show_errors, checkpoint_every=checkpoint_every,
                           masker=masker, task_queue=task_queue)
    finally:
        if db is not None:
            db.close()


@contextlib.contextmanager
def only_writer(results: Path) -> Iterator[None]:
    """Refuse a second review of the same results file while one runs (another terminal,
    a scheduled run that overlaps), instead of letting the two interleave lines and
    checkpoints. The lock is an flock on ``<results>.lock``, removed when the review
    ends; it goes with the process that holds it, so a review that crashed leaves at
    most an unlocked file, which the next review takes over."""
    results.parent.mkdir(parents=True, exist_ok=True)
    path = results.with_name(results.name + ".lock")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise ReviewError(f"{results} is being written by another review"
                              f"{f' (process {holder})' if holder.isdigit() else ''}: wait for it to end, "
                              "or write to another file") from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # locked a file its previous holder had just removed: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # releases the lock


def _review(ruleset: Ruleset, source: SnapshotSet, results: Path, db, *, workers, cluster, chunk_size, log, run_id,
            resume, restart, trail, progress, stream, show_errors, checkpoint_every, masker,
            task_queue) -> ReviewSummary:
    if cluster is not None:
        workers = cluster.threads()
    elif workers is None:
        workers = parallel.default_workers()
    rs_key = {"id": ruleset.id, "version": ruleset.version, "hash": ruleset.hash}
    state = read_checkpoint(results)
    if resume:
        if state is None:
            raise ReviewError(f"{results}: no checkpoint to resume from; start the review again")
        _check_resumable(state, ruleset, source, log, trail)
    else:
        if (state is not None or results.exists()) and not restart:
            what = "an unfinished review" if state and not state.get("complete") else "results"
            raise ReviewError(f"{results} already holds {what}: resume it with --resume, "
                              "or start over with --restart")
        shard, offset, line = source.start()
        state = {"checkpoint_version": CHECKPOINT_VERSION, "run_id": run_id or new_run_id(),
                 "started_at": _now(), "input": source.identity(), "ruleset": rs_key, "log": log,
                 "trail": trail, "rows": 0, "shard": shard, "input_offset": offset, "next_line": line,
                 "results_bytes": 0, "tally": Tally().to_dict(), "complete": False}
        results.parent.mkdir(parents=True, exist_ok=True)
        with open(results, "wb") as fh:
            os.fsync(fh.fileno())
        _write_checkpoint(results, state)
    run_id = state["run_id"]
    tally = Tally.from_dict(state["tally"])
    resumed_at = None
    with open(results, "r+b") as fh:
        if resume:
            _catch_up(fh, source, state, tally)
            resumed_at, resumed_shard = state["next_line"], state.get("shard", 0)
            state["tally"] = tally.to_dict()
            _write_checkpoint(results, state)
        fh.seek(state["results_bytes"])
        state.setdefault("shard", 0)
        names = tuple(source.name(i) for i in range(len(source.files)))
        meter = Progress(source.size, source.position(state["shard"], state["input_offset"]), tally.rows,
                         stream=stream, enabled=progress)
        started = time.monotonic()
        rows_before = tally.rows
        counts = {"logged": 0, "already": 0, "shown": 0}
        asked: dict[str, int] = {}
        overdue = None
        if db is not None and followup.reads_follow_up(ruleset):
            overdue = tasks.overdue_by_customer(db, times.iso(clock.now()))
        last_checkpoint = time.monotonic()

        def checkpoint(complete: bool = False) -> None:
            fh.flush()
            os.fsync(fh.fileno())
            state.update(tally=tally.to_dict(), complete=complete)
            _write_checkpoint(results, state)

        def summary(complete: bool) -> ReviewSummary:
            return ReviewSummary(run_id, f"{ruleset.id}@{ruleset.version}", str(source.path), str(results), tally,
                                 workers, time.monotonic() - started, tally.rows - rows_before, resumed_at,
                                 complete, log, counts["logged"], counts["already"],
                                 cluster.address if cluster is not None else None,
                                 source.name(resumed_shard) if resumed_at is not None else None, dict(asked))

        records = source.records(state["shard"], state["input_offset"], state["next_line"])
        if cluster is not None:
            task = ReviewTask(cluster_mod.RulesetText.of(ruleset), run_id, db is not None, trail,
                              masker.key_id if masker is not None and db is not None else None, overdue)
            outcomes = cluster.ordered_map(review_block, task, cluster_mod.blocks(
                source, records, chunk_size, (state["shard"], state["input_offset"], state["next_line"])))
        else:
            ctx = _Context(ruleset, [Decoder(ruleset.contract, f.layout) for f in source.files], names, run_id,
                           db is not None, trail, masker, overdue)
            outcomes = parallel.ordered_map(_review_chunk, _chunks(records, chunk_size), workers=workers, ctx=ctx)
        try:
            for done in outcomes:
                if done.decisions:
                    _log(db, done.decisions, counts, ruleset, asked, task_queue)
                data = done.text.encode("utf-8")
                fh.write(data)
                tally.merge(done.tally)
                state.update(rows=tally.rows, shard=done.shard, input_offset=done.end, next_line=done.next_line,
                             results_bytes=state["results_bytes"] + len(data))
                for file, line, error in done.errors:
                    if counts["shown"] < show_errors:
                        meter.message(describe_error(line, error, file))
                    elif counts["shown"] == show_errors:
                        meter.message("(more bad records: see the results file, lines with \"error\")")
                    counts["shown"] += 1
                meter.update(tally.rows, source.position(done.shard, done.end))
                if time.monotonic() - last_checkpoint >= checkpoint_every:
                    checkpoint()
                    last_checkpoint = time.monotonic()
            checkpoint(complete=True)
            meter.close()
            return summary(True)
        except KeyboardInterrupt:
            checkpoint()
            meter.close()
            raise Interrupted(summary(False)) from None
        except BrokenProcessPool:
            checkpoint()
            meter.close()
            raise ReviewError(f"a worker process died after {tally.rows:,} records; the review can be "
                              "resumed with --resume") from None
        except cluster_mod.ClusterError as exc:
            checkpoint()
            meter.close()
            raise ReviewError(f"{exc} The review stopped after {tally.rows:,} records; it can be resumed "
                              "with --resume") from None
        except store.StoreError as exc:
            checkpoint()
            meter.close()
            raise ReviewError(f"the decision log failed after {tally.rows:,} records ({exc.message}); "
                              "the review can be resumed with --resume") from None
        finally:
            outcomes.close()
            records.close()


def describe_error(line: int, error: dict, file: str | None = None) -> str:
    details = "; ".join(f"{d['path']}: {d['message']}" for d in error.get("details") or [])
    where = f"{file} line {line}" if file is not None else f"line {line}"
    return f"{where}: {error['reason']}: {details or error['message']}"


def _log(db, decisions: list, counts: dict, ruleset: Ruleset, asked: dict, task_queue: str) -> None:
    """Log decisions with the follow-up tasks they ask for (in the same transaction, so a
    resumed or repeated review opens them once); ``asked`` counts them per owner."""
    follow_ups = [followup.for_row(ruleset, d, task_queue) for d in decisions]
    for decision, wanted, logged in zip(decisions, follow_ups, log_decisions(db, decisions, follow_ups)):
        if isinstance(logged, RequestIdReused):
            raise ReviewError(f"client request id {decision.client_request_id} is already logged for another "
                              "request; use another --run-id")
        counts["already" if logged.replayed else "logged"] += 1
        if wanted is not None and not logged.replayed:
            for request in wanted.requests:
                who = request.owner or f"queue {request.queue}"
                asked[who] = asked.get(who, 0) + 1


def _check_resumable(state: dict, ruleset: Ruleset, source: SnapshotSet, log: str | None, trail: bool) -> None:
    if state.get("complete"):
        return
    if state["input"] != source.identity():
        started_on = state["input"].get("path") or f"{len(state['input'].get('shards', []))} shards"
        raise ReviewError(f"{source.path} is not the input the review started on, or it has changed since "
                          f"(started on {started_on})")
    want = state["ruleset"]
    if (ruleset.id, ruleset.version, ruleset.hash) != (want["id"], want["version"], want["hash"]):
        raise ReviewError(f"the review started with {want['id']}@{want['version']} ({want['hash']}); "
                          f"{ruleset.id}@{ruleset.version} ({ruleset.hash}) is loaded now")
    if state["log"] != log:
        raise ReviewError(f"the review started logging to {state['log'] or 'no decision log'}; "
                          f"resume it with the same log")
    if state["trail"] != trail:
        raise ReviewError("resume with the same --trail setting the review started with")


def _catch_up(fh, source: SnapshotSet, state: dict, tally: Tally) -> None:
    """Take the complete result lines written after the checkpoint; drop a torn last line."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size < state["results_bytes"]:
        raise ReviewError(f"the results file is shorter than its checkpoint ({size} < {state['results_bytes']} "
                          "bytes): it was changed by something else; start over with --restart")
    fh.seek(state["results_bytes"])
    tail = fh.read()
    if tail and not state.get("complete"):
        records = source.records(state.get("shard", 0), state["input_offset"], state["next_line"])
        start = 0
        while True:
            end = tail.find(b"\n", start)
            if end < 0:
                break
            try:
                result = json.loads(tail[start:end])
                shard, record = next(records)
            except (ValueError, StopIteration):
                break
            if (not isinstance(result, dict) or result.get("line") != record.line
                    or result.get("file") != source.name(shard)):
                break
            tally.add(result)
            state.update(rows=tally.rows, shard=shard, input_offset=record.end, next_line=record.next_line,
                         results_bytes=state["results_bytes"] + end + 1 - start)
            start = end + 1
        records.close()
    fh.truncate(state["results_bytes"])
    fh.flush()
    os.fsync(fh.fileno())
