"""Portfolio work on a Dask cluster (dask.distributed): a review or a simulation runs as
tasks on the workers of an existing scheduler, and comes back here in input order.

What travels to a worker is plain data: the ruleset and its contract as YAML text with
their hashes (``RulesetText``), and a ``Block``, a range of records of one input file
(its path, byte range and first line), which the worker reads itself; the input must be
at the same path on every worker (a shared file system), as for ``dask.dataframe``.
A worker process compiles each ruleset once, in itself, and keeps it for every block it
reviews (``worker_ruleset``); the durable_rules handle is made there and never pickled.

The client (this process) writes everything: results in order, the checkpoint, and the
decision log, so a block's results are written once whatever happens to the workers.
Dask runs again the tasks of a worker that was lost; their outcome is only taken once.

``connect`` checks the cluster before any work is sent: the scheduler answers, there
are workers, and each runs the same Vigil (the same source code), durable_rules, Python
and Dask as this client, and sees the input files as this client does.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import yaml

from app.config import mask_keys
from app.engine import FactContract, Ruleset
from app.engine.masking import Masker

from . import parallel, remote
from .readers import Record, SnapshotFile, SnapshotSet

BLOCK_SIZE = 2000            # records per task: large enough that Dask's per-task cost is small
CONNECT_TIMEOUT = 10.0       # seconds to reach the scheduler
WORKERS_TIMEOUT = 30.0       # seconds to wait for a first worker, and for one when all are gone
IN_FLIGHT_PER_THREAD = 3     # tasks queued per worker thread: enough to keep every worker busy
_KEPT_RULESETS = 8           # compiled rulesets a worker keeps (most recently used)
_KEPT_FILES = 64             # input files a worker keeps open descriptions of


class ClusterError(Exception):
    """The cluster cannot be used, or failed; the message says what to do."""


# -- what travels ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RulesetText:
    """A ruleset and its contract as text, with the hashes they must compile to."""

    key: str
    ruleset: str
    ruleset_hash: str
    contract: str
    contract_hash: str

    @classmethod
    def of(cls, ruleset: Ruleset) -> "RulesetText":
        return cls(ruleset.key, _dump(ruleset.document), ruleset.hash, _dump(ruleset.contract.document),
                   ruleset.contract.hash)


def _dump(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Block:
    """A run of records of one input file, reviewed as one task."""

    shard: int
    name: str | None        # how results name the file (None: a single file)
    identity: dict          # path, format, size, mtime_ns: what the worker must find
    offset: int             # where the first record starts (or blank lines before it)
    line: int
    end: int                # offset just after the last record
    next_line: int
    count: int              # records in the block
    first: int              # how many records of the input come before it


def blocks(source: SnapshotSet, records: Iterator[tuple[int, Record]], size: int,
           start: tuple[int, int, int]) -> Iterator[Block]:
    """``records`` (read from ``start``: shard, offset, line) as blocks of at most
    ``size``, each within one file, in input order. Cutting reads the input once,
    quickly: it splits records, the workers parse them."""
    shard, offset, line = start
    count = first = 0
    last = None
    for index, record in records:
        if index != shard:
            if count:
                yield _block(source, shard, offset, line, last, count, first)
                first += count
            shard, count = index, 0
            offset, line = source.files[index].data_start, source.files[index].data_line
        count += 1
        last = record
        if count >= size:
            yield _block(source, shard, offset, line, last, count, first)
            first += count
            offset, line, count = last.end, last.next_line, 0
    if count:
        yield _block(source, shard, offset, line, last, count, first)


def _block(source: SnapshotSet, shard: int, offset: int, line: int, last: Record, count: int,
           first: int) -> Block:
    file = source.files[shard]
    return Block(shard, source.name(shard), file.identity(), offset, line, last.end, last.next_line, count, first)


# -- on a worker ----------------------------------------------------------------------------

_lock = threading.Lock()
_rulesets: "OrderedDict[tuple, Ruleset]" = OrderedDict()
_files: "OrderedDict[tuple, SnapshotFile]" = OrderedDict()
compiled_here: dict[str, int] = {}     # ruleset key -> times this process compiled it


_maskers: dict[str, Masker] = {}


def worker_masker(key_id: str) -> Masker:
    """The masker of this worker's own VIGIL_MASK_KEY, which must be the key ``key_id``
    names: the client sends only the id, never the key."""
    with _lock:
        masker = _maskers.get(key_id)
        if masker is None:
            keys = mask_keys(os.environ.get("VIGIL_MASK_KEY"))
            if not keys:
                raise ClusterError("this Dask worker has no VIGIL_MASK_KEY: start every worker with the service's "
                                   "masking key in its environment")
            masker = Masker(keys[0], older=keys[1:])
            if masker.key_id != key_id:
                raise ClusterError(f"this Dask worker's VIGIL_MASK_KEY (id {masker.key_id}) is not the key the "
                                   f"review masks with (id {key_id}): give every worker the service's key")
            _maskers[key_id] = masker
        return masker


def worker_ruleset(text: RulesetText) -> Ruleset:
    """The ruleset, compiled in this process the first time it is asked for, then kept."""
    key = (text.ruleset_hash, text.contract_hash)
    with _lock:
        ruleset = _rulesets.get(key)
        if ruleset is not None:
            _rulesets.move_to_end(key)
            return ruleset
        if not _rulesets:
            # a Dask nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which made
            # reviewing on a worker about twice as slow
            parallel.keep_freed_memory()
        contract = FactContract(yaml.safe_load(text.contract), f"{text.key} contract")
        ruleset = Ruleset(yaml.safe_load(text.ruleset), contract, text.key)
        if (ruleset.hash, contract.hash) != (text.ruleset_hash, text.contract_hash):
            raise ClusterError(f"this worker's Vigil reads {text.key} differently from the client's "
                               "(other hashes): install the same Vigil version on the workers and the client")
        ruleset.warm()
        compiled_here[text.key] = compiled_here.get(text.key, 0) + 1
        _rulesets[key] = ruleset
        while len(_rulesets) > _KEPT_RULESETS:
            _, old = _rulesets.popitem(last=False)
            old.close()
        return ruleset


def read_block(block: Block, contract: FactContract) -> tuple[SnapshotFile, list]:
    """The block's file (as this worker sees it) and its records, [(line, raw)]."""
    identity = block.identity
    key = (identity["path"], identity["size"], identity["mtime_ns"], contract.hash)
    with _lock:
        file = _files.get(key)
    if file is None:
        try:
            file = SnapshotFile(identity["path"], contract, identity["format"])
        except Exception as exc:
            raise ClusterError(f"a Dask worker cannot read {identity['path']} ({exc}): the input must be at the "
                               "same path on every worker (a shared file system)") from None
        if file.identity() != identity:
            raise ClusterError(f"a Dask worker sees another {identity['path']} than the client (size or time "
                               "differ): the input must be the same file on every worker")
        with _lock:
            _files[key] = file
            while len(_files) > _KEPT_FILES:
                _files.popitem(last=False)
    items = []
    records = file.records(block.offset, block.line)
    try:
        for record in records:
            items.append((record.line, record.raw))
            if record.end >= block.end:
                break
    finally:
        records.close()
    if len(items) != block.count:
        raise ClusterError(f"a Dask worker found {len(items)} records in {identity['path']} where the client "
                           f"found {block.count} (from line {block.line}): the file changed during the review")
    return file, items


def worker_state() -> dict:
    """For diagnosis: this worker process's id and how often it compiled each ruleset."""
    import os
    with _lock:
        return {"pid": os.getpid(), "compiled": dict(compiled_here)}


# -- on the client --------------------------------------------------------------------------

def security(tls_ca_file: str | None = None, tls_cert: str | None = None, tls_key: str | None = None):
    """Dask's security settings for a TLS cluster, or None to use Dask's own configuration."""
    if not (tls_ca_file or tls_cert or tls_key):
        return None
    if not (tls_ca_file and tls_cert):
        raise ClusterError("TLS needs the CA certificate (--tls-ca-file) and this client's certificate "
                           "(--tls-cert, with --tls-key unless the key is in the same file)")
    from distributed.security import Security
    return Security(tls_ca_file=tls_ca_file, tls_client_cert=tls_cert, tls_client_key=tls_key or None,
                    require_encryption=True)


class Cluster:
    """A connected, checked Dask client. Close it (or use ``with``)."""

    def __init__(self, client, address: str, workers_timeout: float = WORKERS_TIMEOUT):
        self.client = client
        self.address = address
        self.workers_timeout = workers_timeout

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # closing a client whose scheduler is gone must not hide the real error
            pass

    def threads(self) -> int:
        """Worker threads on the cluster now (tasks that can run at once)."""
        return sum(self.client.nthreads().values())

    def ordered_map(self, fn: Callable[[Any, Any], Any], task: Any, units: Iterable[Any]) -> Iterator[Any]:
        """``fn(task, unit)`` on the cluster for every unit, yielded in the order of
        ``units``; at most a few units per worker thread are sent ahead."""
        pending: deque = deque()
        limit = max(2, self.threads() * IN_FLIGHT_PER_THREAD)
        source = iter(units)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    try:
                        unit = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append(self.client.submit(fn, task, unit, pure=False))
                if not pending:
                    break
                future = pending.popleft()
                outcome = self._result(future)
                future.release()        # its result leaves the worker's memory now
                yield outcome
        finally:
            if pending:
                try:
                    self.client.cancel(list(pending))
                except Exception:
                    pass

    def _result(self, future) -> Any:
        from distributed import KilledWorker
        no_workers_since = None
        while True:
            try:
                return future.result(timeout=1.0)
            except TimeoutError:
                if self.client.status != "running":
                    raise ClusterError(f"the connection to the Dask scheduler at {self.address} was lost.") from None
                if self.threads() > 0:
                    no_workers_since = None
                    continue
                no_workers_since = no_workers_since or time.monotonic()
                if time.monotonic() - no_workers_since > self.workers_timeout:
                    raise ClusterError(f"the Dask cluster at {self.address} has had no workers for "
                                       f"{self.workers_timeout:g} s.") from None
            except KilledWorker as exc:
                raise ClusterError(f"a task was lost with every Dask worker that ran it ({exc}); a worker may be "
                                   "running out of memory.") from None
            except ClusterError:
                raise
            except Exception as exc:
                if type(exc).__name__ in ("CancelledError", "FutureCancelledError"):
                    raise ClusterError(f"the Dask scheduler at {self.address} cancelled the work ({exc}).") from None
                if type(exc).__module__.startswith("app."):
                    raise            # Vigil's own error, raised on a worker: it says what is wrong
                raise ClusterError(f"a task failed on the Dask cluster: {type(exc).__name__}: {exc}.") from None


def connect(address: str, *, security=None, inputs: Iterable[dict] = (), timeout: float = CONNECT_TIMEOUT,
            workers_timeout: float = WORKERS_TIMEOUT, mask_key_id: str | None = None) -> Cluster:
    """Connect to the scheduler at ``address`` and check its workers (see the module's
    docstring). ``inputs`` are the identities of the files the workers will read;
    ``mask_key_id``: the masking key every worker must hold, when the work masks."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("Dask is not installed here: pip install -r requirements.txt") from None
    try:
        client = Client(address, security=security, timeout=timeout, set_as_default=False, name="vigil")
    except Exception as exc:
        hint = "is it running (`dask scheduler`), is the address right"
        if not address.startswith("tls://"):
            hint += ", and does it need TLS (a tls:// address, --tls-ca-file, --tls-cert, --tls-key)?"
        elif security is None:
            hint += ", and where are the TLS certificates it needs (--tls-ca-file, --tls-cert, --tls-key)?"
        else:
            hint += ", and are the TLS certificates right?"
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({type(exc).__name__}: {exc}); {hint}") from None
    import cloudpickle
    cloudpickle.register_pickle_by_value(remote)
    cluster = Cluster(client, address, workers_timeout)
    try:
        try:
            client.wait_for_workers(1, timeout=workers_timeout)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {address} has no workers (waited {workers_timeout:g} s); "
                               f"start some where Vigil is installed: dask worker {address}") from None
        check_workers(cluster, list(inputs), mask_key_id)
    except BaseException:
        cluster.close()
        raise
    return cluster


def check_workers(cluster: Cluster, inputs: list[dict], mask_key_id: str | None = None) -> None:
    """Every worker runs what this client runs, and sees the inputs, and (``mask_key_id``)
    holds the masking key this client masks with; else ClusterError."""
    here = remote.describe()
    problems = []
    try:
        scheduler = cluster.client.run_on_scheduler(remote.describe)
    except Exception as exc:
        scheduler = exc
    if isinstance(scheduler, BaseException) or scheduler.get("vigil") is None:
        why = scheduler.get("vigil_error") if isinstance(scheduler, dict) else f"{type(scheduler).__name__}: {scheduler}"
        problems.append(f"the Dask scheduler cannot use Vigil ({why}); Dask's scheduler unpickles every task, so "
                        "it needs the same software as the workers: start it where Vigil is installed, from its "
                        "directory with PYTHONPATH set to it, e.g. `cd /path/to/vigil && PYTHONPATH=. "
                        ".venv/bin/dask scheduler`")
    elif scheduler["vigil"] != here["vigil"]:
        problems.append(f"the Dask scheduler runs another Vigil (source {scheduler['vigil'][:12]} at "
                        f"{scheduler.get('vigil_path')}, here {here['vigil'][:12]}): install the same Vigil on "
                        "the scheduler, the workers and the client")
    there = cluster.client.run(remote.describe, inputs, on_error="return")
    for worker, info in sorted(there.items()):
        if isinstance(info, BaseException):
            problems.append(f"Dask worker {worker} could not be asked what it runs: {type(info).__name__}: {info}")
            continue
        if info.get("vigil") is None:
            problems.append(f"Dask worker {worker} cannot use Vigil ({info.get('vigil_error')}): start the workers "
                            "where Vigil and its requirements are installed, from its directory with PYTHONPATH "
                            f"set to it, e.g. `cd /path/to/vigil && PYTHONPATH=. .venv/bin/dask worker "
                            f"{cluster.address}`")
            continue
        if info.get("durable_rules") is None:
            problems.append(f"Dask worker {worker} has no durable_rules ({info.get('durable_rules_error')}): "
                            "install Vigil's requirements there (pip install -r requirements.txt)")
            continue
        if info.get("vigil_error"):
            problems.append(f"Dask worker {worker}: {info['vigil_error']}")
            continue
        differ = [f"{name} {info.get(name)} (here {here.get(name)})"
                  for name in ("durable_rules", "python", "dask", "distributed", "cloudpickle", "semantics")
                  if info.get(name) != here.get(name)]
        if info["vigil"] != here["vigil"]:
            differ.insert(0, f"Vigil source {info['vigil'][:12]} at {info.get('vigil_path')} "
                             f"(here {here['vigil'][:12]})")
        if differ:
            problems.append(f"Dask worker {worker} runs other versions than this client: {', '.join(differ)}; "
                            "install the same Vigil and requirements on every worker and the client")
            continue
        if mask_key_id is not None and info.get("mask_key_id") != mask_key_id:
            held = f"another masking key (id {info['mask_key_id']})" if info.get("mask_key_id") else "no VIGIL_MASK_KEY"
            problems.append(f"Dask worker {worker} has {held}, and this review masks with key id {mask_key_id}: "
                            "start every worker with the service's VIGIL_MASK_KEY in its environment (the key is "
                            "never sent with the tasks)")
            continue
        for item in info.get("inputs_missing") or []:
            problems.append(f"Dask worker {worker} does not see {item['path']} as this client does "
                            f"({item['problem']}): the input must be at the same path on every worker "
                            "(a shared file system)")
    if problems:
        raise ClusterError("; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else ""))
