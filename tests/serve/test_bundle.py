"""What a qc model carries (serve/bundle.py): the zipped inference modules and public, pinned requirements."""

from __future__ import annotations

import ast
import sys
import warnings
import zipfile
from importlib import metadata

import pytest

from mlflow_qc.import_graph import closure, import_graph, module_files
from mlflow_qc.serve.bundle import (
    _PINNED_IMPORTS,
    INFERENCE_ROOTS,
    code_paths,
    inference_modules,
    module_requirements,
    pip_requirements,
)


def test_the_inference_modules_hold_no_training_code():
    modules = set(inference_modules())
    assert {
        "mlflow_qc.serve.pyfunc",
        "mlflow_qc.preprocess.pipeline",
        "mlflow_qc.models.torch_adapter",
        "mlflow_qc",
    } <= modules
    training = {
        "mlflow_qc.run",
        "mlflow_qc.cache",
        "mlflow_qc.split",
        "mlflow_qc.prepare",
        "mlflow_qc.search",
        "mlflow_qc.experiment",
        "mlflow_qc.evaluate",
        "mlflow_qc.data.versioning",
        "mlflow_qc.serve.save",
        "mlflow_qc.serve.registry",
        "mlflow_qc.cli",
    }
    assert not [module for module in modules if module in training or module.rpartition(".")[0] in training]


def test_the_inference_modules_import_at_load_only_what_the_pins_provide():
    """A module-level import of a package the requirements do not pin breaks every served model
    where mlflow-qc is not installed (function-level imports run only where they are called)."""
    files = module_files()
    unpinned = set()
    for module in inference_modules():
        for node in ast.parse(files[module].read_text()).body:
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            unpinned.update(
                f"{module}: {name}"
                for name in names
                if name.split(".")[0] not in _PINNED_IMPORTS | set(sys.stdlib_module_names)
            )
    assert sorted(unpinned) == []


def test_the_closure_follows_names_in_strings_and_parent_packages_but_not_the_facade():
    graph = {
        "mlflow_qc": {"mlflow_qc.experiment"},
        "mlflow_qc.a": set(),
        "mlflow_qc.a.b": {"mlflow_qc.c"},
        "mlflow_qc.c": set(),
        "mlflow_qc.experiment": set(),
    }
    assert closure(["mlflow_qc.a.b"], graph) == {"mlflow_qc", "mlflow_qc.a", "mlflow_qc.a.b", "mlflow_qc.c"}
    assert closure(INFERENCE_ROOTS, import_graph()) == set(inference_modules())


def test_the_code_archive_holds_exactly_the_inference_modules_as_source():
    loader, archive = code_paths()
    names = zipfile.ZipFile(archive).namelist()
    assert all(name.endswith(".py") for name in names)
    assert (
        sorted(name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in names)
        == inference_modules()
    )
    assert loader.endswith("qc_loader.py")


def test_requirements_are_public_pins_of_this_environment():
    for library in ("sklearn", "keras", "pytorch"):
        pins = pip_requirements(library, images=True)
        names = [pin.split("==")[0] for pin in pins]
        assert "mlflow-qc" not in names and not [pin for pin in pins if "+" in pin]
        assert {"mlflow", "scikit-learn", "pandas", "numpy", "pyarrow", "pillow"} <= set(names)
    assert "torch==2.13.0" in pip_requirements(
        "pytorch"
    )  # the CPU build here is 2.13.0+cpu: pinned by its public version
    assert {"tensorflow-cpu", "keras"} <= {pin.split("==")[0] for pin in pip_requirements("keras")}
    assert "pillow" not in {pin.split("==")[0] for pin in pip_requirements("sklearn")}


def test_a_model_module_gets_pins_for_what_else_it_imports(tmp_path):
    module = tmp_path / "model.py"
    module.write_text(
        "import json\nimport numpy as np\nfrom tqdm import auto\nimport torch.nn\nfrom mlflow_qc.models import MetricCutoff\n"
        "def fn_build(*a, **hp):\n    import not_a_package_anywhere\n"
    )
    with pytest.warns(UserWarning, match=r"no installed package provides \['not_a_package_anywhere'\]"):
        pins = module_requirements(str(module))
    assert pins == [f"tqdm=={metadata.version('tqdm')}"]
    plain = tmp_path / "plain.py"
    plain.write_text("import keras\nfrom mlflow_qc.models import MetricCutoff\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module_requirements(str(plain)) == []
    with pytest.warns(UserWarning, match="not_a_package_anywhere"):
        assert pip_requirements("pytorch", False, str(module))[-1] == pins[0]
