"""The package's import graph: no cycles, lower layers never import higher ones.

Every ``import`` / ``from ... import`` statement of every module counts, at module level or
inside a function, and so does a module named by a string (``"mlflow_qc.models.keras_adapter"``,
the lazy lookups of the adapters). Layers, low to high (README: "Layout"):
"""

from pathlib import Path

import pytest

from mlflow_qc.import_graph import import_graph, module_files

PACKAGE = Path(__file__).resolve().parents[1] / "mlflow_qc"

LAYERS = [
    ("errors", "hashing", "classes", "progress", "import_graph", "suggest", "logs"),
    ("tracking",),
    ("overrides", "recipe", "recipe_data", "recipe_evaluation", "recipe_yaml", "recipe_columns"),
    ("data",),
    ("preprocess",),
    ("split",),
    ("cache",),
    ("models",),
    ("search", "adaptive"),
    ("prepare",),
    ("run",),
    ("evaluate", "serve", "results"),
    ("ui",),
    ("cli", "experiment", "scaffold", ""),  # "": the package's own __init__ (the facade)
]
LAYER_OF = {part: index for index, parts in enumerate(LAYERS) for part in parts}

MODULES = module_files(PACKAGE)
GRAPH = import_graph(MODULES)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYER_OF[parts[1] if len(parts) > 1 else ""]


def test_every_module_has_a_layer():
    unplaced = [module for module in MODULES if (module.split(".") + [""])[1] not in LAYER_OF]
    assert unplaced == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_layer_imports_a_higher_one():
    upward = [
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert upward == []


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("higher", ["mlflow_qc.evaluate", "mlflow_qc.serve", "mlflow_qc.ui"])
def test_the_trainer_imports_no_evaluation_serving_or_page(higher):
    offending = [
        f"{s} -> {t}"
        for s, targets in GRAPH.items()
        for t in targets
        if package_of(s) == "mlflow_qc.run" and package_of(t) == higher
    ]
    assert offending == []


def test_tracking_imports_nothing_of_mlflow_qc_but_errors():
    offending = [
        f"{s} -> {t}"
        for s, targets in GRAPH.items()
        for t in targets
        if package_of(s) == "mlflow_qc.tracking" and package_of(t) not in ("mlflow_qc.tracking", "mlflow_qc.errors")
    ]
    assert offending == []


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_pages_never_reach_the_trainer():
    pages = [m for m in MODULES if package_of(m) == "mlflow_qc.ui"]
    offending = sorted({t for page in pages for t in reachable(page) if package_of(t) == "mlflow_qc.run"})
    assert offending == []
