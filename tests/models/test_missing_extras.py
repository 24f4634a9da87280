"""A recipe whose library the install lacks (the base install has no Keras, TensorFlow or PyTorch) stops
before any run with one line naming the extra to install. ``mlflow-qc`` runs in a process where the
library cannot be imported: an import finder first in line answers as for a package that is absent."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow import MlflowClient

from tests.helpers import copy_recipe

ABSENT = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

HIDDEN = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Absent())
sys.argv = ["mlflow-qc", *sys.argv[2:]]
from mlflow_qc.cli import main
main()
"""


def without(packages: tuple[str, ...], *args) -> subprocess.CompletedProcess:
    """``mlflow-qc ARGS`` in a process where ``packages`` are not installed."""
    return subprocess.run(
        [sys.executable, "-c", ABSENT, ",".join(packages), *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("recipe", "packages", "extra"),
    [
        ("iris_pytorch.yaml", ("torch",), "pytorch"),
        ("demo.yaml", ("keras", "tensorflow"), "keras"),
    ],
)
def test_a_recipe_of_a_library_not_installed_names_the_extra_before_any_run(workspace, recipe, packages, extra):
    result = without(packages, "train", copy_recipe(recipe, workspace), "--overrides", "data.version=off")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: model.library: ") and f"pip install 'mlflow-qc[{extra}]'" in last, result.stderr
    client = MlflowClient()
    assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []


def test_an_import_error_inside_the_library_is_not_taken_for_a_missing_extra(monkeypatch):
    """Only the library's own packages count as missing: another failed import is raised as it is."""
    from mlflow_qc.errors import QCError
    from mlflow_qc.models.registry import adapter_class

    monkeypatch.setitem(sys.modules, "mlflow_qc.models.torch_adapter", None)  # the adapter itself fails to import
    with pytest.raises(ImportError) as raised:
        adapter_class("pytorch")
    assert not isinstance(raised.value, QCError) and raised.value.name == "mlflow_qc.models.torch_adapter"
