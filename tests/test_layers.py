"""Imports run one way, ``graph -> gnn -> serving -> {api, socialrec}``, with no cycles
(issue 21). Read from the source with ``ast``: every import counts, including those inside
functions and ``TYPE_CHECKING`` blocks, because each one is a dependency of the design.
Tests under ``tests/<package>/`` import nothing above ``<package>``, helper modules included."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Each package's layer; a module may import its own layer or lower ones.
LAYERS: dict[str, int] = {"graph": 0, "gnn": 1, "serving": 2, "api": 3, "socialrec": 3}
#: The one import between the two top layers: ``socialrec serve`` starts the HTTP app.
ALLOWED_ACROSS: frozenset[tuple[str, str]] = frozenset(
    {("socialrec.commands.serve", "api.app"), ("socialrec.commands.serve", "api.logging_config")}
)

#: What schemas may import besides other schemas: the profile segments' type aliases.
SCHEMA_IMPORTS: frozenset[str] = frozenset({"serving.profile"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in LAYERS
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }


def _imports(
    name: str, path: Path, known: set[str], tops: Collection[str] = tuple(LAYERS)
) -> Iterator[str]:
    """The modules under ``tops`` that ``name`` imports (a ``from x import y`` names ``x.y``
    when that is a module, else ``x``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target.split(".")[0] in tops)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) - {name} for name, path in modules.items()}


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point to a higher layer or across the two top layers."""
    found = []
    for source, targets in graph.items():
        for target in sorted(targets):
            top_s, top_t = source.split(".")[0], target.split(".")[0]
            upward = _layer(target) > _layer(source)
            across = top_s != top_t and _layer(target) == _layer(source) == 3
            if (upward or across) and (source, target) not in ALLOWED_ACROSS:
                found.append(f"{source} -> {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _test_graph() -> dict[str, set[str]]:
    """Each module under tests/ and what it imports from the project and from tests/."""
    modules = {_module_name(p): p for p in sorted((REPO_ROOT / "tests").rglob("*.py"))}
    known = set(modules)
    tops = (*LAYERS, "tests")
    return {name: set(_imports(name, path, known, tops)) - {name} for name, path in modules.items()}


def upward_test_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer (or across the top two) by a module under tests/<package>/,
    directly or through the helper modules under tests/ it imports."""
    found = []
    for source in sorted(graph):
        parts = source.split(".")
        if len(parts) < 3 or parts[1] not in LAYERS:
            continue
        own, seen, todo = LAYERS[parts[1]], {source}, [source]
        while todo:
            for target in sorted(graph.get(todo.pop(), ())):
                if target.startswith("tests.") and target not in seen:
                    seen.add(target)
                    todo.append(target)
                elif not target.startswith("tests."):
                    top = target.split(".")[0]
                    across = own == _layer(target) == 3 and top != parts[1]
                    if _layer(target) > own or across:
                        found.append(f"{source} -> {target}")
    return sorted(set(found))


def test_tests_import_the_layer_they_test() -> None:
    assert upward_test_imports(_test_graph()) == []


def test_imports_run_one_way() -> None:
    assert upward_imports(_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(_graph()) == []


def test_schemas_are_shapes() -> None:
    """Request and response schemas hold no domain logic: besides other schemas they import
    only ``SCHEMA_IMPORTS`` (conversions live in the route helpers of ``api/``)."""
    found = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        if source.startswith("api.schemas.")
        for target in sorted(targets)
        if not target.startswith("api.schemas") and target not in SCHEMA_IMPORTS
    ]
    assert found == []


def test_routes_do_not_import_other_routes() -> None:
    graph = _graph()
    shared = [
        f"{source} -> {target}"
        for source, targets in graph.items()
        if source.startswith("api.routes.")
        for target in targets
        if target.startswith("api.routes.")
    ]
    assert shared == []


@pytest.mark.parametrize(
    ("graph", "upward", "cyclic"),
    [
        ({"graph.a": {"gnn.b"}, "gnn.b": set()}, ["graph.a -> gnn.b"], []),
        ({"serving.a": {"api.b"}, "api.b": set()}, ["serving.a -> api.b"], []),
        ({"socialrec.a": {"api.b"}, "api.b": set()}, ["socialrec.a -> api.b"], []),
        (
            {"graph.a": {"graph.b"}, "graph.b": {"graph.c"}, "graph.c": {"graph.a"}},
            [],
            [["graph.a", "graph.b", "graph.c"]],
        ),
        (
            {
                "api.a": {"serving.b", "graph.c"},
                "serving.b": {"gnn.d"},
                "gnn.d": set(),
                "graph.c": set(),
            },
            [],
            [],
        ),
    ],
)
def test_the_checks_find_what_they_look_for(
    graph: dict[str, set[str]], upward: list[str], cyclic: list[list[str]]
) -> None:
    assert upward_imports(graph) == upward
    assert cycles(graph) == cyclic


def test_the_tests_check_follows_helper_modules() -> None:
    graph = {
        "tests.graph.test_a": {"tests.helper", "graph.x"},
        "tests.helper": {"serving.y"},
        "tests.gnn.test_b": {"gnn.z", "graph.x"},
        "tests.socialrec.test_c": {"api.app", "serving.y"},
        "tests.api.test_d": {"serving.y", "api.app"},
        "tests.test_top": {"socialrec.cli"},
    }
    assert upward_test_imports(graph) == [
        "tests.graph.test_a -> serving.y",
        "tests.socialrec.test_c -> api.app",
    ]
