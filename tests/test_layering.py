"""The import graph shows the layers: no cycles, no private names across modules, layers point down.

The graph is read from the source with ``ast`` (every ``import`` and ``from ... import``,
including the ones inside functions), over the three packages. A module's edges go to the
modules it names; ``from pkg import name`` counts as an edge to ``pkg.name`` when that is a
module, else to ``pkg``. Importing a package's ``__init__`` from one of its own submodules is
allowed only when the ``__init__`` does not import that submodule back (that is a cycle too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("primeflow_lib", "primeflow_pipelines", "primeflow_workbench")
# a layer may import the layers after it in this list, never the ones before it
LAYER_ORDER = ("primeflow_workbench", "primeflow_pipelines", "primeflow_lib")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[module_name(path)] = path
    return found


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from X import ...`` statement names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_edges(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the project modules it imports; and every ``from m import _private`` found."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    private: list[str] = []
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = resolve_from(mod, is_package, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in modules:
                        targets.append(sub)
                    else:
                        targets.append(source)
                        if (
                            alias.name.startswith("_")
                            and not alias.name.startswith("__")
                            and source in modules
                            and source != mod
                        ):
                            private.append(f"{mod} imports {alias.name} from {source} ({path.name}:{node.lineno})")
            for target in targets:
                # `import a.b.c` names a.b.c; walk up to the nearest project module
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].add(target)
    return graph, private


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


@pytest.fixture(scope="module")
def graph_and_private() -> tuple[dict[str, set[str]], list[str]]:
    return import_edges(all_modules())


def test_no_import_cycles(graph_and_private) -> None:
    graph, _ = graph_and_private
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (function-local imports included):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_private_imports_across_modules(graph_and_private) -> None:
    _, private = graph_and_private
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def test_layers_point_down(graph_and_private) -> None:
    graph, _ = graph_and_private
    rank = {pkg: i for i, pkg in enumerate(LAYER_ORDER)}
    upward = [
        f"{src} -> {dst}"
        for src, dsts in graph.items()
        for dst in dsts
        if rank[dst.split(".")[0]] < rank[src.split(".")[0]]
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_guard_sees_cycles_private_names_and_local_imports(tmp_path: Path) -> None:
    """The guard would fail on a cycle closed by a function-local import and on a private import."""
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": set()}
    assert find_cycles(graph) == [["p.a", "p.b", "p.c"]]

    (tmp_path / "a.py").write_text("import x.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from x.a import _hidden\n    return _hidden\n")
    mods = {"x.a": tmp_path / "a.py", "x.b": tmp_path / "b.py"}
    edges, private = import_edges(mods)
    assert edges == {"x.a": {"x.b"}, "x.b": {"x.a"}}
    assert find_cycles(edges) == [["x.a", "x.b"]]
    assert len(private) == 1 and "_hidden" in private[0]
