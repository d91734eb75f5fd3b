"""The layers of ``minicnn`` import only downward, and no import cycle crosses a package.

Every module's imports are read with ``ast`` (those inside functions and ``TYPE_CHECKING``
blocks included) and each ``minicnn`` import is placed in the layer table below.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minicnn"

# The layer order, lowest first (DESIGN.md): a module may import its own layer and the layers
# below. The package root ``minicnn`` (the facade: ``minicnn.tensor``, ``minicnn.nn``, ...)
# sits with nn and optim, the highest layer it imports.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("backend", ("minicnn.backend", "minicnn.parallel", "minicnn.memory", "minicnn.fileio",
                 "minicnn.random", "minicnn.cuda")),
    ("autograd", ("minicnn.autograd",)),
    ("kernels", ("minicnn.kernels",)),
    ("ops", ("minicnn.ops", "minicnn.creation")),
    ("nn, optim", ("minicnn.nn", "minicnn.optim", "minicnn")),
    ("data", ("minicnn.data",)),
    ("train, models", ("minicnn.train", "minicnn.models", "minicnn.experiments")),
    ("cli", ("minicnn.runner", "minicnn.rundir", "minicnn.report", "minicnn.cli",
             "minicnn.__main__")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    """Index in ``LAYERS`` of the longest prefix that matches ``module``."""
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and \
                    prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    if best is None:
        raise AssertionError(f"{module} is in no layer of the table: add it to LAYERS")
    return best


def imports(module: str) -> set[str]:
    """The ``minicnn`` modules that ``module`` imports (``from pkg import sub`` as ``pkg.sub``
    when ``sub`` is a module)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m == "minicnn" or m.startswith("minicnn.")}


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_downward(module: str) -> None:
    upward = sorted(f"{target} ({LAYERS[layer(target)][0]})" for target in imports(module)
                    if layer(target) > layer(module))
    assert not upward, f"{module} ({LAYERS[layer(module)][0]}) imports upward: {upward}"


def _package(module: str) -> str:
    """``minicnn.ops.conv`` -> ``minicnn.ops``; top-level modules are their own package."""
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        graph.setdefault(_package(module), set()).update(
            _package(t) for t in imports(module) if _package(t) != _package(module))
    assert not cycles(graph), f"import cycles between packages: {cycles(graph)}"


# NOTE: private names of autograd/tensor.py used by ops and creation, until tensor.py names
# them publicly (its owner's change); this list must shrink, never grow.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def private_imports(module: str) -> set[tuple[str, str, str]]:
    """``(module, source, name)`` for each ``from source import _name`` in ``module``."""
    path = MODULES[module]
    return {(module, node.module, alias.name)
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minicnn")
            for alias in node.names
            if alias.name.startswith("_") and not alias.name.startswith("__")}


def test_no_private_name_is_imported_across_files() -> None:
    found = set().union(*(private_imports(m) for m in MODULES))
    assert found - KNOWN_PRIVATE_IMPORTS == set(), "private names imported across files"
    assert KNOWN_PRIVATE_IMPORTS - found == set(), "fixed: remove it from the known list"


def test_the_checks_can_fail() -> None:
    """The reader sees an upward import and a cycle when there is one."""
    assert layer("minicnn.kernels.conv") < layer("minicnn.ops.conv")
    assert "minicnn.kernels.conv" in imports("minicnn.ops.conv")
    assert "minicnn.kernels.conv_cpu" in imports("minicnn.kernels.conv")
    assert "minicnn.nn" in imports("minicnn")  # ``from minicnn import nn``
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a", "e"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
