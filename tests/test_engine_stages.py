"""The engine's stages have a contract: each sees the run only through ``stage.Run``, no stage
imports the runner or another stage, and the modules of the engine import one another one way."""

from __future__ import annotations

import ast
from pathlib import Path

import imagine.engine.runner

ENGINE = Path(imagine.engine.runner.__file__).parent
STAGES = ("submission", "polling", "finish")


def _imports() -> dict[str, set[str]]:
    """Each engine module and the engine modules it imports (TYPE_CHECKING imports too)."""
    names = {path.stem for path in ENGINE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in ENGINE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "imagine.engine":
                found |= {alias.name for alias in node.names if alias.name in names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= _engine_module(node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found |= _engine_module(alias.name)
        graph[path.stem] = found - {path.stem}
    return graph


def _engine_module(name: str) -> set[str]:
    parts = name.split(".")
    return {parts[2]} if parts[:2] == ["imagine", "engine"] and len(parts) > 2 else set()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    seen: dict[str, bool] = {}  # False while a module's imports are being walked

    def walk(module: str, path: list[str]) -> list[str] | None:
        if seen.get(module) is False:
            return [*path[path.index(module) :], module]
        if module in seen:
            return None
        seen[module] = False
        for imported in sorted(graph.get(module, ())):
            if found := walk(imported, [*path, module]):
                return found
        seen[module] = True
        return None

    for module in sorted(graph):
        if found := walk(module, []):
            return found
    return None


def test_the_engine_has_no_import_cycle() -> None:
    assert _cycle(_imports()) is None


def test_no_stage_imports_the_runner_or_another_stage() -> None:
    graph = _imports()
    for stage in STAGES:
        assert graph[stage].isdisjoint({"runner", *STAGES}), (stage, graph[stage])


def test_the_stage_interface_imports_no_stage() -> None:
    """``stage.py`` is a leaf: only the vocabulary of updates, itself importing nothing of the
    engine."""
    graph = _imports()
    assert graph["stage"] <= {"events"}
    assert graph["events"] == set()
