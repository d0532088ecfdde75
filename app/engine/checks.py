"""What ``rulesets validate`` and ``rulesets test`` do, shared by every command line."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .errors import RulesetInvalid
from .library import Library, load_contracts, read_yaml, ruleset_files
from .scenarios import run_file, scenario_files


def _ruleset_paths(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(ruleset_files(p))
        elif p.name.endswith(".scenarios.yaml"):
            out.append(p.with_name(p.name[:-len(".scenarios.yaml")] + ".yaml"))
        else:
            out.append(p)
    return out


def validate(paths: list[Path], schemas_dir: Path, echo: Callable[[str], None]) -> tuple[bool, Library]:
    """Check every contract and the given rulesets; print one line per problem."""
    library = Library()
    problems = []
    load_contracts(library, schemas_dir, problems)
    for problem in problems:
        echo(f"ERROR {problem}")
    ok = not problems
    for path in _ruleset_paths(paths):
        try:
            ruleset = library.add_ruleset(read_yaml(path), str(path))
        except RulesetInvalid as exc:
            ok = False
            for problem in exc.problems:
                echo(f"ERROR {problem}")
            echo(f"FAIL  {path}: not loaded ({len(exc.problems)} problem(s))")
            continue
        echo(f"OK    {path}: {ruleset.key} {ruleset.hash[:19]}, {len(ruleset.rules)} rules, "
             f"contract {ruleset.contract.key}")
    return ok, library


def test(paths: list[Path], schemas_dir: Path, echo: Callable[[str], None], verbose: bool = False) -> bool:
    ok, library = validate(paths, schemas_dir, lambda line: echo(line) if line.startswith(("ERROR", "FAIL")) else None)
    passed = failed = 0
    for path in scenario_files([Path(p) for p in paths]):
        report = run_file(library, path)
        echo(f"{report.file}:")
        for problem in report.problems:
            echo(f"  ERROR {problem}")
            ok = False
        for result in report.results:
            if result.passed:
                passed += 1
                if verbose:
                    echo(f"  PASS {result.name}")
            else:
                failed += 1
                ok = False
                echo(f"  FAIL {result.name}")
                for diff in result.diffs:
                    echo(f"       {diff}")
        if not verbose:
            echo(f"  {sum(r.passed for r in report.results)}/{len(report.results)} scenarios pass")
        if report.unfired_rules:
            echo(f"  rules no scenario fires: {', '.join(report.unfired_rules)}")
    echo("-" * 60)
    echo(f"PASS: {passed}/{passed + failed}" + ("" if ok else "  (FAILED)"))
    return ok
