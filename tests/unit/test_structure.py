"""The package's shape (chapter-independent): no import cycle, no path into the book."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "invlearn"


def module_names() -> dict[str, Path]:
    """Module name inside the package (``grid``, ``chapters.report``; a sub-package by its own
    name, ``chapters``) → its file."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if len(parts) > 1 and parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph(type_only: bool = True) -> dict[str, set[str]]:
    """Module → the package modules it imports anywhere (module level or inside functions),
    the imports under ``if TYPE_CHECKING:`` included unless ``type_only`` is False: a cycle
    through a type hint is still a cycle of the design."""
    names = module_names()

    def resolve(parts: list[str]) -> str | None:
        """The longest leading part of ``parts`` that names a module of the package."""
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in names:
                return ".".join(parts[:k])
        return None

    graph = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text())
        package = list(path.relative_to(PACKAGE).parent.parts)
        typing_only = set() if type_only else {
            id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
            and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        targets: list[list[str]] = []
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1]
                module = base + (node.module.split(".") if node.module else [])
                targets += [module + [alias.name] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("invlearn."):
                module = node.module.split(".")[1:]
                targets += [module + [alias.name] for alias in node.names]
            elif isinstance(node, ast.Import):
                targets += [a.name.split(".")[1:] for a in node.names
                            if a.name.startswith("invlearn.")]
        edges = {resolve(target) for target in targets}
        graph[name] = {e for e in edges if e is not None} - {name}
    return graph


#: The modules that may import the chapter helpers: the command line (the top layer; its
#: ``grid`` command prints ``chapters.report``'s summary table) and the helpers themselves.
CHAPTER_USERS = {"cli"}


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


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop (the strongly
    connected components of more than one module, or a module importing itself), sorted."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return sorted(found)


def test_the_cycle_counter_counts_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "a"}, "f": {"f"}}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"], ["f"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_sees_type_only_imports(tmp_path, monkeypatch):
    (tmp_path / "one.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                     "    from .two import Thing\n")
    (tmp_path / "two.py").write_text("from .one import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert cycles(import_graph()) == [["one", "two"]]
    assert cycles(import_graph(type_only=False)) == []


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    graph = import_graph()  # type-only imports included
    assert {"methods", "ig", "config", "data"} <= set(graph)
    assert cycles(graph) == []
    assert find_cycle(graph) is None
    # Algorithm 1's module knows no trainer: only the losses, the row view and the settings
    assert graph["ig"] <= {"losses", "optim", "config", "errors"}
    # a run's record, the grid that runs records, the study that runs grids: each knows only
    # the ones below it
    assert not graph["record"] & {"grid", "study"}
    assert "study" not in graph["grid"] and "record" in graph["grid"]


def test_the_training_core_never_imports_the_chapter_helpers():
    graph = import_graph()
    chapters = {m for m in graph if m == "chapters" or m.startswith("chapters.")}
    assert {"chapters.report", "chapters.plots", "chapters.helpers"} <= chapters
    for module, edges in graph.items():
        if module not in chapters | CHAPTER_USERS:
            assert not edges & chapters, (module, edges & chapters)
    assert graph["cli"] & chapters == {"chapters.report"}


def test_no_private_name_crosses_a_module():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or "invlearn" in (
                    node.module or "")):
                private = [a.name for a in node.names if a.name.startswith("_")
                           and not a.name.startswith("__")]
                assert not private, (path.name, node.module, private)


def test_no_module_refers_to_the_book_by_path():
    # the package must work installed without the book beside it: no path built from the
    # package's own location; the CLI's default notebook is relative to the caller's folder
    for path in PACKAGE.rglob("*.py"):
        code = path.read_text()
        assert "parent.parent" not in code and "parents[" not in code, path.name
        for line in code.splitlines():
            if "__file__" in line:
                assert not re.search(r"book", line), (path.name, line)
        if path.stem != "cli":
            assert not re.search(r"""Path\(["']book["']\)""", code), path.name
