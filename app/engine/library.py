"""Loading every contract and ruleset from their directories."""
from __future__ import annotations

import difflib
import threading
from pathlib import Path
from typing import Iterable

import yaml

from .contract import FactContract
from .errors import ContractNotFound, Problem, RulesetInvalid, RulesetNotFound
from .ruleset import Ruleset


# libyaml's parser when PyYAML has it: the same data, many times faster than the
# pure-Python one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, source: str) -> object:
    """A policy document's YAML text as data, or RulesetInvalid naming the file and line.

    Aliases are refused: ``*name`` repeats a node, and a few hundred bytes of aliases to
    aliases stand for gigabytes (a "billion laughs"). The text is read as events first
    (no values are built), so a refused document costs no more than reading it."""
    try:
        for event in yaml.parse(text, Loader=YAML_LOADER):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark is not None else None
                raise RulesetInvalid([Problem(source, f"YAML aliases are not allowed (found *{event.anchor}); "
                                                      "write the value out where it is used", line=line)])
        return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RulesetInvalid([Problem(source, f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                                      line=line)]) from None
    except RecursionError:
        raise RulesetInvalid([Problem(source, "not valid YAML: nested too deeply")]) from None
    except ValueError as exc:  # an integer over Python's conversion limit
        raise RulesetInvalid([Problem(source, f"not valid YAML: {exc}")]) from None


def read_text(path: Path) -> str:
    """A policy file's text, or RulesetInvalid naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetInvalid([Problem(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}")])


def read_yaml(path: Path) -> object:
    return parse_yaml(read_text(path), str(path))


def ruleset_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).glob("*.yaml") if not p.name.endswith(".scenarios.yaml"))


class Library:
    """The contracts and rulesets a process serves, every version side by side."""

    def __init__(self):
        self._contracts: dict[tuple[str, int], FactContract] = {}
        self._rulesets: dict[tuple[str, int], Ruleset] = {}
        self._lock = threading.Lock()

    # -- adding -------------------------------------------------------------------------
    def add_contract(self, document: dict, source: str = "<contract>") -> FactContract:
        contract = FactContract(document, source)
        key = (contract.id, contract.version)
        existing = self._contracts.get(key)
        if existing is not None and existing.hash != contract.hash:
            raise RulesetInvalid([Problem(source, f"contract {contract.key} is already loaded with other content",
                                          path="version")])
        with self._lock:
            self._contracts[key] = existing or contract
        return self._contracts[key]

    def compile_ruleset(self, document: dict, source: str = "<ruleset>") -> Ruleset:
        """Check and compile a ruleset document against a loaded contract, without adding it."""
        if not isinstance(document, dict):
            raise RulesetInvalid([Problem(source, "a ruleset must be a mapping")])
        ref = document.get("contract")
        contract = None
        if isinstance(ref, str) and "@" in ref:
            cid, _, ver = ref.partition("@")
            contract = self._contracts.get((cid, int(ver))) if ver.isdigit() else None
        if contract is None:
            known = ", ".join(sorted(c.key for c in self._contracts.values())) or "none"
            raise RulesetInvalid([Problem(source, f"contract {ref!r} is not loaded (loaded: {known}); "
                                                  "write it as id@version", path="contract")])
        return Ruleset(document, contract, source)

    def add_ruleset(self, document: dict, source: str = "<ruleset>") -> Ruleset:
        ruleset = self.compile_ruleset(document, source)
        key = (ruleset.id, ruleset.version)
        existing = self._rulesets.get(key)
        if existing is not None and existing.hash != ruleset.hash:
            raise RulesetInvalid([Problem(source, f"ruleset {ruleset.key} is already loaded with other content; "
                                                  "raise the version", path="version")])
        with self._lock:
            self._rulesets.setdefault(key, ruleset)
        return self._rulesets[key]

    # -- lookup -------------------------------------------------------------------------
    def rulesets(self) -> list[Ruleset]:
        return sorted(self._rulesets.values(), key=lambda r: (r.id, r.version))

    def ruleset(self, ruleset_id: str, version: int | None = None) -> Ruleset:
        if version is None:
            versions = [r for (rid, _), r in self._rulesets.items() if rid == ruleset_id]
            if not versions:
                known = sorted({rid for rid, _ in self._rulesets})
                close = difflib.get_close_matches(str(ruleset_id), known, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the rulesets are {', '.join(known) or 'none'}"
                raise RulesetNotFound(f"no ruleset {ruleset_id!r} is loaded{hint}")
            return max(versions, key=lambda r: r.version)
        try:
            return self._rulesets[(ruleset_id, version)]
        except KeyError:
            raise RulesetNotFound(f"ruleset {ruleset_id!r} version {version} is not loaded") from None

    def contracts(self) -> list[FactContract]:
        return sorted(self._contracts.values(), key=lambda c: (c.id, c.version))

    def contract(self, contract_id: str, version: int | None = None) -> FactContract:
        if version is None:
            versions = [c for (cid, _), c in self._contracts.items() if cid == contract_id]
            if not versions:
                raise ContractNotFound(f"no fact contract {contract_id!r} is loaded")
            return max(versions, key=lambda c: c.version)
        try:
            return self._contracts[(contract_id, version)]
        except KeyError:
            raise ContractNotFound(f"fact contract {contract_id!r} version {version} is not loaded") from None


def load_contracts(library: Library, schemas_dir: Path, problems: list[Problem]) -> None:
    for path in sorted(Path(schemas_dir).glob("*.yaml")):
        try:
            library.add_contract(read_yaml(path), str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)


def load_library(rulesets_dir: str | Path, schemas_dir: str | Path,
                 only: Iterable[Path] | None = None) -> Library:
    """Load every contract, then every ruleset; raise RulesetInvalid listing all problems."""
    library = Library()
    problems: list[Problem] = []
    load_contracts(library, Path(schemas_dir), problems)
    files = list(only) if only is not None else ruleset_files(Path(rulesets_dir))
    for path in files:
        try:
            library.add_ruleset(read_yaml(path), str(path))
        except RulesetInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise RulesetInvalid(problems)
    return library
