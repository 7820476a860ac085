"""No import cycle inside sercore or runner (issue 9): builds the intra-package import graph with `ast`.

Every import counts: module-level, function-level and under `if TYPE_CHECKING:`. A deferred or type-only import
that closes a loop still ties the modules into one unit (neither can be understood, moved or tested alone);
deferring it only hides the loop from Python's loader.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sercore", "runner")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` imports, anywhere in its body."""
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()

    def resolve(target: str) -> str | None:
        while target and target not in known:  # `from pkg.mod import func` -> pkg.mod
            target = target.rpartition(".")[0]
        return target or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (hit := resolve(alias.name)) is not None:
                    out.add(hit)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            mod = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            for alias in node.names:  # `from . import aggregate` names a module; `from .x import f` a function
                if (hit := resolve(f"{mod}.{alias.name}")) is not None:
                    out.add(hit)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    return {name: imported(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
            for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (first module repeated at the end), or None: the standard library's topological sorter
    names the loop it meets."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return None


def test_graph_sees_both_kinds_of_import() -> None:
    graph = import_graph()
    assert "runner.shards" in graph["runner.plan"]  # module level
    assert "runner.reduce.report" in graph["runner.cli"]  # function level (cli._reduce)
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100


def test_cycle_finder_names_the_loop() -> None:
    loop = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert loop is not None and loop[0] == loop[-1] and set(loop) == {"a", "b", "c"} and len(loop) == 4
    assert find_cycle({"a": {"b"}, "b": set(), "d": {"a"}}) is None


def test_no_import_cycle() -> None:
    loop = find_cycle(import_graph())
    assert loop is None, "import cycle: " + " -> ".join(loop or [])
