"""The layers (README "Layout"): each module imports only from the layers it may.

Every import is read from the source, those inside functions too, so a lazy import
cannot hide an edge the layering forbids.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.config import ROOT

# (layer, the imports it must not make). A name covers its submodules.
FORBIDDEN = {
    "app.core": ("app.",),  # but app.core itself, allowed below
    "app.engine": ("app.",),  # but app.engine and app.core
    "app.store": ("app.engine", "app.service", "app.api", "app.cli", "app.portfolio", "app.console"),
    "app.service": ("app.api", "app.cli", "app.portfolio", "app.console"),
    "app.portfolio": ("app.api", "app.cli", "app.console"),
    # The API may use the portfolio package's public names, not its modules.
    "app.api": ("app.portfolio.", "app.cli", "app.console"),
    "migrations": ("app",),
}
ALLOWED = {"app.core": ("app.core",), "app.engine": ("app.engine", "app.core")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, relative ones made absolute; for
    ``from X import Y`` both X and X.Y (Y may be a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[:len(parent) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return out


def _matches(module: str, prefix: str) -> bool:
    if prefix.endswith("."):
        return module.startswith(prefix)
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> str | None:
    for layer in FORBIDDEN:
        if _matches(module, layer):
            return layer
    return None


def _sources() -> list[Path]:
    return sorted(p for d in ("app", "migrations") for p in (ROOT / d).rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_across_a_forbidden_edge(path):
    module = _module_name(path)
    layer = _layer(module)
    if layer is None:
        return
    portfolio_public = set()
    if layer == "app.api":
        import app.portfolio

        portfolio_public = {f"app.portfolio.{n}" for n in app.portfolio.__all__}
    crossings: dict[int, str] = {}  # the first forbidden name of each import statement
    for line, imported in _imports(path):
        if line in crossings or imported in portfolio_public:
            continue
        if any(_matches(imported, ok) for ok in ALLOWED.get(layer, ())):
            continue
        if any(_matches(imported, forbidden) for forbidden in FORBIDDEN[layer]):
            crossings[line] = f"{path.relative_to(ROOT)}:{line} imports {imported} ({layer} may not)"
    assert not crossings, "\n".join(crossings.values())


def test_the_store_and_the_service_import_no_circle():
    graph: dict[str, set[str]] = {}
    for path in _sources():
        module = _module_name(path)
        if module.startswith(("app.store", "app.service")):
            graph[module] = {m for _, m in _imports(path) if m in graph or m.startswith(("app.store", "app.service"))}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    seen: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = 1
        for dep in sorted(graph[node]):
            if seen.get(dep) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(dep):] + [node, dep])
                                     if dep in trail else f"import circle through {node} -> {dep}")
            if dep not in seen:
                visit(dep, trail + [node])
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [])


def test_the_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    # The test above must be able to fail: a store module importing the engine lazily.
    fake = ROOT / "app" / "store" / "_layer_probe.py"
    assert not fake.exists()
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "def f():\n    from app.engine import Ruleset\n"
                        if self == fake else _read(self, *a, **k))
    with pytest.raises(AssertionError, match="imports app.engine"):
        test_no_module_imports_across_a_forbidden_edge(fake)


_read = Path.read_text
