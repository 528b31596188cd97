"""No import circles in imgprint: between modules, and between its packages.

Every import counts (at module level and inside functions: a lazy import is
still a circle, only one that fails later), except those under
``TYPE_CHECKING``. Importing ``a.b.c`` also runs ``a/b/__init__.py``, so it
counts as importing ``a.b`` too, unless the importer is inside ``a.b`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import PROJECT

PACKAGE = PROJECT / "imgprint"


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [f"{module}.{alias.name}" for alias in node.names] + [module]


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text())):
            for target in _targets(name, path, node):
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if not target.startswith("imgprint"):
                    continue
                # The target and every package __init__ on its way, except the
                # importer's own packages (those are being imported already).
                parts = target.split(".")
                for i in range(2, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    if dep in mods and dep != name and not name.startswith(dep + "."):
                        deps.add(dep)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same edges between imgprint's sub-packages (``imgprint.formats``, ...);
    a top-level module is its own node."""

    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])

    out: dict[str, set[str]] = {}
    for name, deps in graph.items():
        out.setdefault(unit(name), set()).update(unit(d) for d in deps if unit(d) != unit(name))
    return out


def test_no_module_import_circle():
    assert cycles(import_graph(modules())) == []


def test_no_package_import_circle():
    assert cycles(package_graph(import_graph(modules()))) == []


def test_the_check_finds_a_circle(tmp_path):
    root = tmp_path / "imgprint"
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from imgprint.a.x import f\n")
    (root / "a" / "x.py").write_text("def f():\n    from imgprint import b\n")
    (root / "b.py").write_text("from imgprint.a import x\n")
    (root / "c.py").write_text("from typing import TYPE_CHECKING\n"
                               "if TYPE_CHECKING:\n    from imgprint import b\n")
    graph = import_graph(modules(root))
    # b imports a.x, which runs a/__init__; a.x imports b inside a function.
    assert cycles(graph) == [["imgprint.a", "imgprint.a.x", "imgprint.b"]]
    assert cycles(package_graph(graph)) == [["imgprint.a", "imgprint.b"]]
    assert graph["imgprint.c"] == set()
