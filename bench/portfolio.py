"""Benchmark of the portfolio review: snapshots per second with 1 and 2 worker processes,
and on a Dask cluster of 2 workers.

    python bench/portfolio.py [--n 200000] [--seed 7] [--chunk-size 200] [--passes 2] [--no-dask]

Generates ``--n`` personal-loan snapshots (seeded, app/portfolio/synthetic.py) into a
JSON Lines file, then reviews the file with the published personal-loan ruleset, first
with one worker process and then with two, in the same run: reading, parsing,
validating, evaluating and writing the results file, as ``flask --app wsgi portfolio
review`` does (without the decision log). It does that ``--passes`` times, alternating,
and keeps the best rate of each (other work on the machine only ever slows a run down);
then prints both rates, the speed-up, and the time one million snapshots would take at
the faster rate. Every run must write the same results file.

The Dask path: a Dask cluster on this machine (``distributed.LocalCluster``: a scheduler
and two single-threaded worker processes) reviews the same file in the same passes, as
``portfolio review --scheduler`` does (blocks of 2000 records read by the workers,
results written here in order); its rate is compared with the two local processes'.

Before that it measures the machine: the same busy loop in one and in two processes.
That speed-up is the most two workers can get here; on a machine whose two cores are
shared (hyper-threads, a busy neighbour) it is well under 2.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.engine import load_library  # noqa: E402
from app.portfolio import synthetic  # noqa: E402
from app.portfolio.readers import SnapshotFile  # noqa: E402
from app.portfolio.review import review  # noqa: E402

GOAL_SPEEDUP = 1.8
GOAL_MILLION_SECONDS = 180
GOAL_DASK_RATIO = 0.8


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_speedup(n: int = 10_000_000, tries: int = 3) -> float:
    """How much faster two processes do twice the work of one, on pure Python (best of
    ``tries``: other work on the machine only ever lowers it)."""
    ctx = multiprocessing.get_context("fork")
    best = 0.0
    with ctx.Pool(2) as pool:
        pool.map(_spin, [1000, 1000])          # start both workers before timing
        for _ in range(tries):
            t0 = time.perf_counter()
            pool.apply(_spin, (n,))
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            pool.map(_spin, [n, n], chunksize=1)
            two = time.perf_counter() - t0
            best = max(best, 2 * one / two)
    return best


def _children_cpu() -> float:
    """CPU seconds used by finished worker processes so far. A worker that had less than
    a whole core was waiting for one: the machine was busy with other work."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _start_dask(workers: int):
    """A Dask cluster on this machine, connected and checked as the command does it."""
    from distributed import LocalCluster

    from app.portfolio import cluster as dask_cluster
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                         host="127.0.0.1")
    connected = dask_cluster.connect(local.scheduler_address)
    connected.cluster_handle = local
    print(f"Dask: a scheduler and {workers} single-threaded worker processes at {local.scheduler_address}")
    return connected


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="snapshots to generate and review")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2,
                        help="review with 1 and 2 workers this many times, alternating; the best rate counts")
    parser.add_argument("--no-dask", action="store_true", help="leave out the review on a Dask cluster")
    args = parser.parse_args()

    library = load_library(ROOT / "rulesets", ROOT / "schemas")
    ruleset = library.ruleset("personal_loan")
    print(f"portfolio review benchmark: {args.n:,} generated personal-loan snapshots, {ruleset.id}@{ruleset.version}, "
          f"chunks of {args.chunk_size}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        source_path = synthetic.write_jsonl(tmp / "portfolio.jsonl", args.n, args.seed)
        size = source_path.stat().st_size
        print(f"generated {args.n:,} snapshots ({size / 1e6:,.0f} MB) in {time.perf_counter() - t0:,.1f} s")
        ceiling = machine_speedup()
        print(f"machine: a busy loop in 2 processes runs {ceiling:.2f}x one (best of 3)")
        rates: dict = {1: 0.0, 2: 0.0, "dask": 0.0}
        paired: list[float] = []           # Dask / 2 local processes, within each pass
        digests = set()
        dask = None if args.no_dask else _start_dask(2)
        try:
            for n in range(args.passes):
                for workers in (1, 2) + (("dask",) if dask else ()):
                    out = tmp / f"results-{workers}.jsonl"
                    before = _children_cpu()
                    source = SnapshotFile(source_path, ruleset.contract)
                    if workers == "dask":
                        summary = review(ruleset, source, out, cluster=dask, progress=False, restart=True)
                        what, share = "2 Dask workers", ""
                    else:
                        summary = review(ruleset, source, out, workers=workers, chunk_size=args.chunk_size,
                                         progress=False, restart=True)
                        share = (_children_cpu() - before) / (summary.seconds * workers)
                        what = f"{workers} worker process{'es' if workers > 1 else ''}"
                        share = f"; the workers had {share:.0%} of a core each"
                    assert summary.tally.rows == args.n and summary.tally.errors == 0, summary.tally
                    rates[workers] = max(rates[workers], summary.rate)
                    digests.add(_digest(out))
                    print(f"pass {n + 1}, {what}: {summary.rate:10,.0f} snapshots/s ({summary.seconds:,.1f} s{share})")
                    if workers == 2:
                        local_two = summary.rate
                    elif workers == "dask":
                        paired.append(summary.rate / local_two)
        finally:
            if dask is not None:
                dask.close()
                dask.cluster_handle.close()
        if len(digests) != 1:
            print("MISMATCH: the runs wrote different results files")
            return 1
        for workers in (1, 2):
            print(f"{workers} worker process{'es' if workers > 1 else ''}: {rates[workers]:10,.0f} snapshots/s "
                  f"(best of {args.passes})")
        speedup = rates[2] / rates[1]
        million = 1_000_000 / rates[2]
        print(f"speed-up, 2 vs 1: {speedup:.2f}x (goal {GOAL_SPEEDUP}x; a busy loop got {ceiling:.2f}x)")
        print(f"projected time for 1,000,000 snapshots with 2 workers: {million:,.0f} s "
              f"({million / 60:.1f} min; goal under {GOAL_MILLION_SECONDS // 60} min)")
        if dask:
            print(f"2 Dask workers:     {rates['dask']:10,.0f} snapshots/s (best of {args.passes})")
            print(f"Dask, 2 workers vs 2 local worker processes, pass by pass: "
                  f"{', '.join(f'{r:.2f}x' for r in paired)}; lowest {min(paired):.2f}x "
                  f"(goal at least {GOAL_DASK_RATIO}x)")
        print(f"every run wrote the same results file: sha256 {digests.pop()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
