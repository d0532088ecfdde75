"""Impact simulation: what a candidate ruleset would change on a set of snapshots.

Every snapshot is evaluated by both rulesets. A customer's *outcome* is the warning
level, the review frequency and the final actions with their parameters; the report
lists every customer whose outcome differs, counts levels, actions and review
frequencies before and after, tabulates the level moves, names the rules behind the
changes, and keeps both full explanations for the most changed customers.

A rule is *behind* a change when, for a customer whose outcome changed, it fired under
one ruleset and not the other, or it fired under both but was edited to do something else
(other signals, actions, level or review frequency).
"""
from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from app.engine import Ruleset
from app.service.decide import DecisionRequest, Pinned, decide

from . import cluster as cluster_mod
from . import parallel
from .readers import SnapshotSet
from .snapshots import Decoder, RowError, customer_id


@dataclass
class Change:
    """One customer whose outcome differs."""

    ref: Any                     # where the snapshot came from: a line number or a decision id
    customer_id: str | None
    before: dict                 # {level, review_frequency, actions: ["name(param=value)", ...]}
    after: dict
    rules: list[str]             # the rules behind the change

    def to_dict(self) -> dict:
        return {"ref": self.ref, "customer_id": self.customer_id, "before": self.before, "after": self.after,
                "rules": self.rules}


@dataclass
class SimulationReport:
    baseline: dict                      # {id, version, hash, title}
    candidate: dict
    source: str
    snapshots: int = 0                  # evaluated under both rulesets
    errors: list = field(default_factory=list)      # [{ref, customer_id, side, reason, message, details}]
    changed: list = field(default_factory=list)     # [Change], in input order
    levels: list = field(default_factory=list)      # level names, lowest first (both rulesets')
    level_counts: dict = field(default_factory=dict)    # {level: {before, after, delta}}
    action_counts: dict = field(default_factory=dict)   # {action: {before, after, delta}}
    review_counts: dict = field(default_factory=dict)   # {frequency: {before, after, delta}}
    level_moves: list = field(default_factory=list)     # matrix[before][after], in `levels` order
    rules: list = field(default_factory=list)           # [{rule, changed_customers, newly_fired, ...}]
    rule_edits: dict = field(default_factory=dict)      # {added, removed, modified, other, details}
    action_titles: dict = field(default_factory=dict)   # {action: title}, both rulesets'
    param_changes: list = field(default_factory=list)   # [{action, param, before, after, customers}]
    data_quality_counts: dict = field(default_factory=dict)  # {field: {before, after, delta}}
    fired_differently: int = 0          # fired rules differ but the outcome does not
    top: list = field(default_factory=list)             # [{ref, customer_id, score, before, after}]
    seconds: float = 0.0

    @property
    def changed_count(self) -> int:
        return len(self.changed)

    @property
    def note(self) -> str | None:
        """Why a report holds nothing, said in words rather than as a page of zeros."""
        if self.snapshots or self.errors:
            return None
        return f"No snapshots to simulate on: {self.source} holds none."

    def to_dict(self) -> dict:
        return {
            "baseline": self.baseline, "candidate": self.candidate, "source": self.source,
            "snapshots": self.snapshots, "changed_count": self.changed_count,
            "error_count": len(self.errors), "errors": self.errors,
            "levels": self.levels, "level_counts": self.level_counts, "action_counts": self.action_counts,
            "review_counts": self.review_counts,
            "level_moves": {"levels": self.levels, "matrix": self.level_moves},
            "rules": self.rules, "rule_edits": self.rule_edits, "fired_differently": self.fired_differently,
            "action_titles": self.action_titles, "param_changes": self.param_changes,
            "data_quality_counts": self.data_quality_counts, "note": self.note,
            "changed": [c.to_dict() for c in self.changed], "top": self.top, "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        b, c = self.baseline, self.candidate
        share = f" ({self.changed_count / self.snapshots:.1%})" if self.snapshots else ""
        out = [f"Simulation of {c['id']}@{c['version']} against {b['id']}@{b['version']} on {self.snapshots:,} "
               f"snapshots from {self.source}",
               f"  candidate: {label(c)}; baseline: {label(b)}"]
        if self.note:
            return out + [f"  {self.note}"]
        out.append(f"  outcome changes for {self.changed_count:,} customers{share}; "
                   f"{self.fired_differently:,} more fire other rules with the same outcome; "
                   f"{len(self.errors):,} snapshots could not be evaluated")
        for detail in self.rule_edits.get("details", []):
            out.append(f"  rule {detail['rule']} {detail['change']}: " + "; ".join(
                f"{key} {shown_value(detail['before'].get(key))} -> {shown_value(detail['after'].get(key))}"
                for key in RULE_KEYS if detail["before"].get(key) != detail["after"].get(key)))
        out.append("  levels:  " + _deltas(self.level_counts, self.levels))
        out.append("  actions: " + _deltas(self.action_counts, sorted(self.action_counts)))
        out.append("  reviews: " + _deltas(self.review_counts, sorted(self.review_counts)))
        for change in self.param_changes:
            out.append(f"  {change['action']} {change['param']}: {shown_value(change['before'])} -> "
                       f"{shown_value(change['after'])} for {change['customers']:,} customers")
        if self.data_quality_counts:
            out.append("  data quality (implausible values read as missing): "
                       + _deltas(self.data_quality_counts, sorted(self.data_quality_counts)))
        moves = [(self.levels[i], self.levels[j], n) for i, row in enumerate(self.level_moves)
                 for j, n in enumerate(row) if n and i != j]
        out.append("  level moves: " + (", ".join(f"{a} -> {z} {n:,}" for a, z, n in moves) or "none"))
        for rule in self.rules[:10]:
            how = [f"{word} {rule[key]:,}" for key, word in (("newly_fired", "newly fired"),
                                                               ("no_longer_fired", "no longer fired"),
                                                               ("edited_and_fired", "fired in both, edited"))
                   if rule[key]]
            out.append(f"  {rule['rule']}{' (edited)' if rule['edited'] else ''}: behind "
                       f"{rule['changed_customers']:,} changes ({', '.join(how)})")
        return out


def label(side: dict) -> str:
    """How a report names a ruleset: its title, version and where it came from (a draft
    is never mistaken for the version it is compared with)."""
    return f"{side['title']}, version {side['version']}" + (f" ({side['origin']})" if side.get("origin") else "")


def shown_value(value) -> str:
    """A rule's part or a parameter as the report shows it: lists and mappings in YAML's
    flow style, without quotes."""
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _deltas(counts: dict, order) -> str:
    parts = []
    for name in order:
        n = counts.get(name)
        if n and (n["before"] or n["after"]):
            parts.append(f"{name} {n['before']:,} -> {n['after']:,} ({n['delta']:+,})")
    return ", ".join(parts) or "none"


# -- outcomes ---------------------------------------------------------------------------

def action_label(action: str, params: dict) -> str:
    if not params:
        return action
    return action + "(" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


def outcome(evaluation) -> dict:
    return {"level": evaluation.level, "review_frequency": evaluation.review_frequency,
            "actions": sorted(action_label(a.action, a.to_dict()["params"]) for a in evaluation.actions)}


# What a rule does once it fires; an edit elsewhere (its condition, title, clause) changes
# whether it fires, not what it does.
EFFECT_KEYS = ("signals", "actions", "level", "review")
# What the report shows of each edited rule, before and after.
RULE_KEYS = ("when", "signals", "actions", "level", "review", "priority")


def rule_edits(baseline: Ruleset, candidate: Ruleset) -> dict:
    """Which rules were added, removed or edited (and of those, which do something else
    when they fire); which other parts of the document changed."""
    before = {r["id"]: r for r in baseline.document.get("rules", [])}
    after = {r["id"]: r for r in candidate.document.get("rules", [])}
    both = set(before) & set(after)
    other = sorted(k for k in set(baseline.document) | set(candidate.document)
                   if k not in ("rules", "version") and baseline.document.get(k) != candidate.document.get(k))
    modified = sorted(r for r in both if before[r] != after[r])
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    details = [{"rule": r, "change": change, "before": {k: before.get(r, {}).get(k) for k in RULE_KEYS},
                "after": {k: after.get(r, {}).get(k) for k in RULE_KEYS}}
               for change, ids in (("edited", modified), ("added", added), ("removed", removed)) for r in ids]
    return {"added": added, "removed": removed, "modified": modified,
            "effect_changed": sorted(r for r in both if any(before[r].get(k) != after[r].get(k) for k in EFFECT_KEYS)),
            "other": other, "details": details}


# -- the work of one chunk --------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    baseline: Ruleset
    candidate: Ruleset
    decoder_before: Decoder
    decoder_after: Decoder
    edited: frozenset          # rules edited in any way
    effect_changed: frozenset  # rules that do something else when they fire
    levels: tuple
    top: int


@dataclass
class _Part:
    snapshots: int = 0
    errors: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    before: Counter = field(default_factory=Counter)     # (kind, name) -> customers
    after: Counter = field(default_factory=Counter)
    moves: Counter = field(default_factory=Counter)      # (level before, level after) -> customers
    causes: Counter = field(default_factory=Counter)     # (rule, how) -> changed customers
    params: Counter = field(default_factory=Counter)     # (action, param, before, after) -> customers
    fired_differently: int = 0
    top: list = field(default_factory=list)              # [(score, order, entry)]


def _count(counter: Counter, evaluation) -> None:
    counter["level", evaluation.level] += 1
    counter["review", evaluation.review_frequency] += 1
    for a in evaluation.actions:
        counter["action", a.action] += 1
    for finding in evaluation.data_quality:
        counter["data_quality", finding.field] += 1


def _param_changes(before, after) -> list[tuple]:
    """(action, param, value before, value after) for each action given under both
    rulesets with another value of a parameter."""
    params_before = {a.action: a.to_dict()["params"] for a in before.actions}
    out = []
    for a in after.actions:
        old = params_before.get(a.action)
        if old is None:
            continue
        new = a.to_dict()["params"]
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                out.append((a.action, name, old.get(name), new.get(name)))
    return out


def _score(ctx: _Context, before, after, out_before: dict, out_after: dict) -> tuple:
    """How much a customer's outcome changed: level steps, then adverse actions, then actions."""
    rank = {lv: i for i, lv in enumerate(ctx.levels)}
    steps = abs(rank.get(after.level, 0) - rank.get(before.level, 0))
    adverse_b = {a.action for a in before.actions if a.adverse}
    adverse_a = {a.action for a in after.actions if a.adverse}
    actions = set(out_before["actions"]) ^ set(out_after["actions"])
    return (steps, len(adverse_b ^ adverse_a), len(actions))


def _trial(ruleset: Ruleset, snapshot, validated: dict):
    """One side's evaluation: the one decision path, as a trial that logs nothing."""
    request = DecisionRequest(ruleset_id=ruleset.id, customer_id=customer_id(validated) or "", snapshot=snapshot,
                              ruleset_version=ruleset.version)
    return decide(request, Pinned(ruleset), validated=validated).evaluation


def _simulate_chunk(chunk: list) -> _Part:
    return simulate_items(parallel.context(), chunk)


def simulate_items(ctx: _Context, chunk: list) -> _Part:
    """Both rulesets on ``chunk`` ([(order, (ref, raw or snapshot))]): the one place a
    snapshot becomes part of the report, in a local worker process or on Dask."""
    part = _Part()
    for order, (ref, raw) in chunk:
        side = "baseline"
        try:
            snapshot, validated = ctx.decoder_before.decode(raw)
            before = _trial(ctx.baseline, snapshot, validated)
            side = "candidate"
            if ctx.candidate.contract is not ctx.baseline.contract:
                _, validated = ctx.decoder_after.decode(snapshot)
            after = _trial(ctx.candidate, snapshot, validated)
        except RowError as exc:
            part.errors.append({"ref": ref, "customer_id": exc.customer_id, "side": side, **exc.to_dict()})
            continue
        except Exception as exc:  # an engine failure on one snapshot must not stop the simulation
            part.errors.append({"ref": ref, "customer_id": None, "side": side,
                                "reason": getattr(exc, "reason", "internal_error"), "message": str(exc),
                                "details": []})
            continue
        part.snapshots += 1
        _count(part.before, before)
        _count(part.after, after)
        part.moves[before.level, after.level] += 1
        out_b, out_a = outcome(before), outcome(after)
        fired_b, fired_a = set(before.fired), set(after.fired)
        if out_b == out_a:
            if fired_b != fired_a:
                part.fired_differently += 1
            continue
        newly, gone = fired_a - fired_b, fired_b - fired_a
        edited = (fired_a & fired_b) & ctx.effect_changed
        for rule in newly:
            part.causes[rule, "newly_fired"] += 1
        for rule in gone:
            part.causes[rule, "no_longer_fired"] += 1
        for rule in edited:
            part.causes[rule, "edited_and_fired"] += 1
        for change in _param_changes(before, after):
            part.params[change] += 1
        cid = customer_id(validated)
        rules = sorted(newly | gone | edited)
        part.changed.append(Change(ref, cid, out_b, out_a, rules))
        score = _score(ctx, before, after, out_b, out_a)
        entry = (score, -order)
        if ctx.top and (len(part.top) < ctx.top or entry > part.top[0][:2]):
            item = (score, -order, {"ref": ref, "customer_id": cid, "score": list(score),
                                    "before": before.to_dict(), "after": after.to_dict(), "rules": rules})
            if len(part.top) < ctx.top:
                heapq.heappush(part.top, item)
            else:
                heapq.heapreplace(part.top, item)
    return part


def _items(snapshots: Iterable) -> Iterator[tuple[Any, Any]]:
    for n, item in enumerate(snapshots):
        if isinstance(item, tuple):
            yield item
        else:
            yield n + 1, item


def _chunked(items: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for order, item in enumerate(items):
        chunk.append((order, item))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- the work of one unit, on a Dask worker ---------------------------------------------------

@dataclass(frozen=True)
class SimulationTask:
    """What a Dask worker needs besides the unit: both rulesets as text, and the options."""

    baseline: "cluster_mod.RulesetText"
    candidate: "cluster_mod.RulesetText"
    edited: frozenset
    effect_changed: frozenset
    levels: tuple
    top: int


def simulate_unit(task: SimulationTask, unit) -> _Part:
    """Simulate one unit where it runs (a Dask worker): a ``Block`` of an input file,
    read here, or a chunk of snapshots sent from the client (the decision log's)."""
    baseline = cluster_mod.worker_ruleset(task.baseline)
    candidate = cluster_mod.worker_ruleset(task.candidate)
    layout = None
    if isinstance(unit, cluster_mod.Block):
        file, items = cluster_mod.read_block(unit, baseline.contract)
        layout = file.layout
        chunk = [(unit.first + n, (line, raw)) for n, (line, raw) in enumerate(items)]
    else:
        chunk = unit
    ctx = _Context(baseline, candidate, Decoder(baseline.contract, layout), Decoder(candidate.contract, layout),
                   task.edited, task.effect_changed, task.levels, task.top)
    return simulate_items(ctx, chunk)


def simulate(baseline: Ruleset, candidate: Ruleset, snapshots: Iterable | SnapshotSet, *, top: int = 10,
             workers: int = 0, cluster=None, chunk_size: int | None = None, layout=None, source: str = "snapshots",
             on_chunk=None, baseline_origin: str | None = None,
             candidate_origin: str | None = None) -> SimulationReport:
    """Compare ``candidate`` with ``baseline`` on ``snapshots``.

    ``snapshots`` holds snapshot objects, or ``(ref, snapshot)`` pairs where ``ref`` says
    where each came from (a line number, a decision id); a snapshot may also be a raw
    JSON line or CSV record (with ``layout``), decoded in the workers. It may also be a
    ``SnapshotSet`` (files), each record's ref then being its line. ``workers=0``
    evaluates in this process; with ``cluster`` (a connected ``cluster.Cluster``) the
    work runs on its Dask workers, which read the files themselves, or are sent chunks of
    the snapshots. ``on_chunk(n)`` is told how many were done so far and, for files, the
    bytes read (``on_chunk(n, position)``). ``baseline_origin`` and ``candidate_origin``
    say where each ruleset came from (``stored, draft``, a file), so the report labels them."""
    started = time.monotonic()
    if chunk_size is None:
        chunk_size = cluster_mod.BLOCK_SIZE if cluster is not None else 200
    levels = tuple(baseline.levels) + tuple(lv for lv in candidate.levels if lv not in baseline.levels)
    edits = rule_edits(baseline, candidate)
    ctx = _Context(baseline, candidate, Decoder(baseline.contract, layout), Decoder(candidate.contract, layout),
                   frozenset(edits["modified"]), frozenset(edits["effect_changed"]), levels, top)
    files = snapshots if isinstance(snapshots, SnapshotSet) else None
    if files is not None and files.sharded:
        raise ValueError(f"{files.path}: a simulation takes one file")
    report = SimulationReport(
        baseline={"id": baseline.id, "version": baseline.version, "hash": baseline.hash, "title": baseline.title,
                  "origin": baseline_origin},
        candidate={"id": candidate.id, "version": candidate.version, "hash": candidate.hash,
                   "title": candidate.title, "origin": candidate_origin},
        source=source, levels=list(levels), rule_edits=edits,
        action_titles={name: spec.title for ruleset in (baseline, candidate) for name, spec in ruleset.actions.items()})
    before, after, moves, causes, params = Counter(), Counter(), Counter(), Counter(), Counter()
    best: list = []
    done = 0
    reading = {"at": 0}
    if files is not None:
        def tracked(records):
            for shard, record in records:
                reading["at"] = files.position(shard, record.end)
                yield shard, record
        records = tracked(files.records(*files.start()))
    if cluster is not None:
        task = SimulationTask(cluster_mod.RulesetText.of(baseline), cluster_mod.RulesetText.of(candidate),
                              ctx.edited, ctx.effect_changed, levels, top)
        if files is not None:
            units = cluster_mod.blocks(files, records, chunk_size, files.start())
        else:
            units = _chunked(_items(snapshots), chunk_size)
        parts = cluster.ordered_map(simulate_unit, task, units)
    else:
        if files is not None:
            ctx = _Context(baseline, candidate, Decoder(baseline.contract, files.files[0].layout),
                           Decoder(candidate.contract, files.files[0].layout), ctx.edited, ctx.effect_changed,
                           levels, top)
            snapshots = ((record.line, record.raw) for _, record in records)
        parts = parallel.ordered_map(_simulate_chunk, _chunked(_items(snapshots), chunk_size), workers=workers,
                                     ctx=ctx)
    for part in parts:
        report.snapshots += part.snapshots
        report.errors.extend(part.errors)
        report.changed.extend(part.changed)
        report.fired_differently += part.fired_differently
        before.update(part.before)
        after.update(part.after)
        moves.update(part.moves)
        causes.update(part.causes)
        params.update(part.params)
        for item in part.top:
            if len(best) < top:
                heapq.heappush(best, item)
            elif item[:2] > best[0][:2]:
                heapq.heapreplace(best, item)
        done += part.snapshots + len(part.errors)
        if on_chunk:
            if files is not None:
                on_chunk(done, reading["at"])
            else:
                on_chunk(done)
    for kind, target in (("level", "level_counts"), ("action", "action_counts"), ("review", "review_counts"),
                         ("data_quality", "data_quality_counts")):
        names = sorted({name for k, name in list(before) + list(after) if k == kind})
        if kind == "level":
            names = list(levels)
        setattr(report, target, {name: {"before": before[kind, name], "after": after[kind, name],
                                        "delta": after[kind, name] - before[kind, name]} for name in names})
    report.level_moves = [[moves[b, a] for a in levels] for b in levels]
    report.param_changes = [{"action": a, "param": p, "before": old, "after": new, "customers": n}
                            for (a, p, old, new), n in sorted(params.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    rules: dict[str, dict] = {}
    for (rule, how), n in causes.items():
        entry = rules.setdefault(rule, {"rule": rule, "edited": rule in ctx.edited, "newly_fired": 0,
                                        "no_longer_fired": 0, "edited_and_fired": 0, "changed_customers": 0})
        entry[how] += n
        entry["changed_customers"] += n
    report.rules = sorted(rules.values(), key=lambda r: (-r["changed_customers"], r["rule"]))
    report.top = [entry for _, _, entry in sorted(best, key=lambda item: item[:2], reverse=True)]
    report.seconds = time.monotonic() - started
    return report
