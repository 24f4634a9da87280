"""mlflow_qc uses MLflow's public names only: no ``from mlflow... import _x`` and no ``._x`` on an MLflow
object (each would be a break at an MLflow upgrade; issue 25)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mlflow_qc"


def _mlflow_names(tree: ast.Module) -> set[str]:
    """Local names bound to MLflow modules or objects imported from MLflow."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] == "mlflow"
            )
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
            parts = node.module.split(".") + [alias.name for alias in node.names]
            found += [
                f"{path.name}:{node.lineno} from {node.module} import {p}"
                for p in parts
                if p.startswith("_") and not p.startswith("__")
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"{path.name}:{node.lineno} import {a.name}"
                for a in node.names
                if a.name.startswith("mlflow.") and any(p.startswith("_") for p in a.name.split("."))
            ]
    mlflow_names = _mlflow_names(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _root(node.value) in mlflow_names
        ):
            found.append(f"{path.name}:{node.lineno} .{node.attr} on {_root(node.value)}")
    return found


def _defined_privates(trees) -> set[str]:
    """Every ``_name`` the package defines (functions, classes, attributes, assignments)."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


_DEFINITION = re.compile(r"(?:\bdef|\bclass|\.)\s*(_[A-Za-z]\w*)|^\s*(_[A-Za-z]\w*)\s*[:=]", re.M)


def _imported_mlflow_files(trees) -> set[Path]:
    """The source files of the MLflow modules the package imports (where the classes it uses are defined)."""
    import importlib.util

    modules = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
                modules.add(node.module)
                modules.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names if alias.name.split(".")[0] == "mlflow")
    site = Path(importlib.util.find_spec("mlflow").origin).parent.parent  # mlflow's files, found without importing them
    files = set()
    for module in modules:
        base = site.joinpath(*module.split("."))
        files.update(path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file())
    return files


def _defined_by_regex(files) -> set[str]:
    """The ``_name`` definitions and attribute uses in MLflow's files, read as text (parsing is slower)."""
    names = set()
    for path in files:
        for found in _DEFINITION.findall(path.read_text(errors="replace")):
            names.update(name for name in found if name and not name.startswith("__"))
    return names


STDLIB = set(sys.stdlib_module_names)  # os._exit is not MLflow's
# plotly's figure internals (report.py reads a figure's data and layout without a deep copy): not MLflow's
NOT_MLFLOW = {"_data", "_layout"}


def test_the_package_uses_no_private_mlflow_name():
    found = [use for path in sorted(PACKAGE.rglob("*.py")) for use in private_uses(path)]
    assert found == []


def test_no_private_attribute_of_an_mlflow_object():
    """A ``._x`` on any object (whose type the source does not say) that mlflow_qc does not define itself
    but MLflow does: ``pyfunc._model_impl``, ``client._tracking_client``, ``dataset._to_mlflow_entity()``."""

    trees = {path: ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}
    ours = _defined_privates(trees.values())
    theirs = _defined_by_regex(_imported_mlflow_files(trees.values())) - ours - NOT_MLFLOW
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in theirs and _root(node.value) not in STDLIB:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
    assert found == []


def test_the_check_finds_private_names(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import mlflow\nfrom mlflow.types.utils import _infer_schema\nfrom mlflow.tracking._x import y\n"
        "from mlflow.pyfunc import PyFuncModel\nmlflow.tracking.fluent._get_experiment_id()\nPyFuncModel._model_impl\n"
    )
    assert len(private_uses(sample)) == 4
