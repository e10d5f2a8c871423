"""The package's shape (chapter-independent): no import cycle, no path into the book."""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "invlearn"


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports anywhere (module level or inside functions)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test)
                       for n in ast.walk(block)}  # imports for type hints never run
        edges = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    edges.add(node.module.split(".")[0])
                else:
                    edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("invlearn."):
                edges.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                edges.update(a.name.split(".")[1] for a in node.names
                             if a.name.startswith("invlearn."))
        graph[path.stem] = {e for e in edges if (PACKAGE / f"{e}.py").exists()} - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert {"methods", "ig", "config", "data"} <= set(graph)
    assert find_cycle(graph) is None


def test_no_module_refers_to_the_book_by_path():
    # the package must work installed without the book beside it: no path built from the
    # package's own location; the CLI's default notebook is relative to the caller's folder
    for path in PACKAGE.glob("*.py"):
        code = path.read_text()
        assert "parent.parent" not in code and "parents[" not in code, path.name
        for line in code.splitlines():
            if "__file__" in line:
                assert not re.search(r"book", line), (path.name, line)
        if path.stem != "cli":
            assert not re.search(r"""Path\(["']book["']\)""", code), path.name
