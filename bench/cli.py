"""How long a `flask --app wsgi ...` command takes to start and finish.

    python bench/cli.py [--rounds 7] [--json]

On a fresh, migrated database holding the shipped policies, runs each command below in a
new process, the commands in turn within each round, and prints the median wall time of
each over the rounds, with its ratio to starting the bare interpreter in the same rounds
(`python -c pass`), so a busy machine shows in both.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "flask --app wsgi keys list": [str(BIN / "flask"), "--app", "wsgi", "keys", "list"],
    "flask --app wsgi db status": [str(BIN / "flask"), "--app", "wsgi", "db", "status"],
    "flask --app wsgi policies list": [str(BIN / "flask"), "--app", "wsgi", "policies", "list"],
    "flask --app wsgi decisions head": [str(BIN / "flask"), "--app", "wsgi", "decisions", "head"],
}


def _run(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="Also print the figures as one JSON line.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigil-bench-cli-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env["VIGIL_DATABASE"] = str(Path(tmp) / "vigil.db")
        for setup in (["db", "migrate"], ["policies", "import"]):
            _run([str(BIN / "flask"), "--app", "wsgi", *setup], env)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.rounds):
            for name, argv in COMMANDS.items():
                times[name].append(_run(argv, env))
    base = statistics.median(times["python -c pass"])
    figures = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        figures[name] = {"median_s": round(median, 3), "max_s": round(max(samples), 3),
                         "ratio": round(median / base, 1)}
        print(f"{name}: median {median:.3f} s, max {max(samples):.3f} s, {median / base:.1f}x the interpreter")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
