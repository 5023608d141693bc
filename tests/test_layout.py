"""The house rules of the source tree (docs/architecture.md), read from the source itself.

Each rule is what lets a newcomer walk the code: a file's name says which one it is, the layers
import one way, and only `cli/` reaches for Typer or Rich.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "imagine"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, bool]]:
    """Each imagine module this file imports (at any depth, outside TYPE_CHECKING blocks),
    and whether the import is at the module's top level."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import module` imports the module; a name from a module, the module
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [sub for sub in subs if sub in known]
            if len(names) < len(subs):
                names.append(node.module)
        else:
            continue
        for name in names:
            if name in known:
                yield name, id(node) in top


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            part = []
            while True:
                other = stack.pop()
                part.append(other)
                if other == module:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_two_source_files_share_a_name() -> None:
    names = Counter(
        path.name
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    assert [name for name, count in names.items() if count > 1] == []


def test_the_import_graph_has_no_cycles_not_even_through_lazy_imports() -> None:
    known = _modules()
    graph = {
        module: {name for name, _ in _imports(path, known) if name != module}
        for module, path in known.items()
    }
    assert _cycles(graph) == []


# What each layer of the core must never import (docs/architecture.md: one way only).
BELOW = {
    "workflow": ("cli",),
    "engine": ("cli", "workflow"),
    "api": ("cli", "workflow", "engine", "ledger"),
    "ledger": ("cli", "workflow", "engine"),
    "media": ("cli", "workflow", "engine", "ledger"),
}


def test_the_layers_import_one_way() -> None:
    known = _modules()
    wrong = []
    for module, path in known.items():
        parts = module.split(".")
        layer = parts[1] if len(parts) > 2 else None
        for name, _ in _imports(path, known):
            above = name.split(".")[1] if name.count(".") >= 1 else None
            if layer in BELOW and above in BELOW[layer]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_only_the_command_line_imports_typer_or_rich() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            offenders += [
                f"{path.relative_to(SRC)}: {root}"
                for root in roots
                if root in ("typer", "rich", "click")
            ]
    assert offenders == []


def test_the_checks_see_what_they_are_meant_to() -> None:
    # A rule that could not fail proves nothing: the graph builder finds a cycle made on purpose,
    # and a lazy import counts.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    known = _modules()
    lazy = dict(_imports(known["imagine.cli.drive"], known))
    assert lazy["imagine.cli.live"] is False  # imported inside a function, and still an edge
    assert lazy["imagine.lifecycle"] is True
