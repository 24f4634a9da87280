"""What a qc model carries so that it deploys anywhere: its inference code and its public requirements.

The code is MLflow's ``code_paths`` (the model's ``code/`` folder): the loader module
(``serve/qc_loader.py``) and one zip of exactly the package modules inference can import (the
loader's target, the pickled preprocessing, the adapters: ``INFERENCE_ROOTS`` and what they name,
read from the source by ``import_graph``). Both are built once per process and copied into each
model. The requirements are the public packages that code imports, pinned to this environment's
versions; never mlflow-qc, which is on no public registry.
"""

from __future__ import annotations

import ast
import atexit
import functools
import shutil
import sys
import tempfile
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.version import Version

from mlflow_qc.import_graph import PACKAGE_DIR, LazyImportGraph, closure, module_files
from mlflow_qc.models.registry import ADAPTER_MODULES
from mlflow_qc.serve import qc_loader
from mlflow_qc.tracking.names import MODEL_CODE_ARCHIVE

INFERENCE_ROOTS = (
    "mlflow_qc.serve.pyfunc",  # what qc_loader hands over to
    "mlflow_qc.preprocess.pipeline",  # pipeline.pkl: FittedPipeline and the classes it holds
    *(target.partition(":")[0] for target in ADAPTER_MODULES.values()),  # the adapter folder
)
LOADER_MODULE = Path(qc_loader.__file__).stem

# A tuple is a choice: the first distribution installed here (tensorflow-cpu or tensorflow).
_BASE_PACKAGES = (
    ("mlflow", "mlflow-skinny"),
    "scikit-learn",
    "scipy",
    "pandas",
    "numpy",
    "pyarrow",
    "pydantic",
    "pyyaml",
)
_IMAGE_PACKAGES = ("pillow",)
_LIBRARY_PACKAGES = {"sklearn": (), "keras": (("tensorflow-cpu", "tensorflow"), "keras"), "pytorch": ("torch",)}
# What those packages (and their own dependencies: joblib with scikit-learn) let a model module import unpinned.
_PINNED_IMPORTS = {
    "mlflow",
    "mlflow_qc",
    "sklearn",
    "joblib",
    "scipy",
    "pandas",
    "numpy",
    "pyarrow",
    "pydantic",
    "yaml",
    "PIL",
    "keras",
    "tensorflow",
    "torch",
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: the same code gives the same archive bytes


@functools.lru_cache(maxsize=None)
def pip_requirements(library: str, images: bool = False, module: str | None = None) -> tuple[str, ...]:
    """``package==version`` for this environment; never inferred (that costs seconds per model).

    ``module``: the user's model module, whose other imports (``import torchvision``) are pinned too.
    """
    pins = []
    for wanted in (*_BASE_PACKAGES, *(_IMAGE_PACKAGES if images else ()), *_LIBRARY_PACKAGES[library]):
        for package in (wanted,) if isinstance(wanted, str) else wanted:
            try:
                pins.append(_pin(package))
                break
            except metadata.PackageNotFoundError:
                continue
    return tuple(dict.fromkeys([*pins, *module_requirements(module)]))


def _pin(package: str) -> str:
    """A public version: a local build label (``torch 2.13.0+cpu``) is on no public index."""
    return f"{package}=={Version(metadata.version(package)).public}"


def module_requirements(path: str | None) -> list[str]:
    """Pins for what a model module imports beyond the packages every model of its library has."""
    if not path or not Path(path).is_file():
        return []
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    others = sorted(names - _PINNED_IMPORTS - set(sys.stdlib_module_names))
    if not others:
        return []
    providers = metadata.packages_distributions()  # ~0.3-1 s, only for a module that imports more
    unprovided = [name for name in others if name not in providers]
    if unprovided:
        warnings.warn(
            f"{path}: no installed package provides {unprovided}; a served model finds them only where they "
            "are importable (README: Serving and inference)",
            stacklevel=2,
        )
    return [_pin(package) for name in others for package in providers.get(name, ())]


def inference_modules() -> list[str]:
    """The package's modules a served model may import, by dotted name."""
    return sorted(closure(INFERENCE_ROOTS, LazyImportGraph()))


@functools.lru_cache(maxsize=1)
def code_paths() -> tuple[str, str]:
    """The loader module and the zip of the inference modules, written once per process."""
    folder = Path(tempfile.mkdtemp(prefix="qc-model-code-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    files = module_files()
    archive = folder / MODEL_CODE_ARCHIVE
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for module in inference_modules():
            path = files[module]
            name = f"{PACKAGE_DIR.name}/{path.relative_to(PACKAGE_DIR).as_posix()}"
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = 0o644 << 16  # rw-r--r-- when someone unzips it to read
            bundle.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return qc_loader.__file__, str(archive)
