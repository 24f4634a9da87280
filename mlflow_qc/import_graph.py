"""The package's import graph, read from its source (nothing is imported).

Every ``import`` / ``from ... import`` statement of a module counts, at module level or inside a
function, and so does a module named by a string (``"mlflow_qc.models.keras_adapter:KerasAdapter"``,
the lazy lookups). ``tests/test_layers.py`` checks the layers on it; ``serve.bundle`` takes the
modules a served model needs from it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "mlflow_qc"
PACKAGE_DIR = Path(__file__).resolve().parent
NOT_MODULES = ("template",)  # the project template is the user's code, not the package


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[0] in NOT_MODULES:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((PACKAGE, *parts))] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module a dotted name lands in (``pkg.module.attribute`` -> ``pkg.module``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` names, anywhere in its source."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # a submodule, or a name defined in the module ``base``
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(f"{PACKAGE}."):
            found.add(node.value.split(":")[0])
    targets = {_resolve(name, modules) for name in found if name.startswith(PACKAGE)}
    return {target for target in targets if target and target != module}


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, set[str]]:
    modules = module_files() if modules is None else modules
    return {module: imports_of(module, modules) for module in modules}


class LazyImportGraph(dict):
    """``import_graph`` read a module at a time, when asked: a closure reads only the modules it reaches
    (a served model's 48 of 138: a third of a second less of every training's start)."""

    def __init__(self, modules: dict[str, Path] | None = None):
        super().__init__()
        self.modules = module_files() if modules is None else modules

    def __missing__(self, module: str) -> set[str]:
        self[module] = imports_of(module, self.modules)
        return self[module]


def closure(roots, graph: dict[str, set[str]]) -> set[str]:
    """The modules importing ``roots`` can load: what they name, transitively, and the packages above them.

    The facade (the package's own ``__init__``) is imported on the way to any module, but it names
    its modules lazily and sits above every layer, so what it names is not followed.
    """
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        parents = [".".join(parts[:end]) for end in range(1, len(parts))]
        todo.extend(parents)
        if module != PACKAGE:
            todo.extend(graph[module])
    return seen
