"""The user's module file (fn_build, fn_train, ...) imported under a stable name.

The name derives from the file's content, so the copy saved beside a model imports
under the same name as the original did at training time. Pickled PyTorch modules
and Keras custom objects reference their classes through that name, which lets a
served model load without the recipe or the original file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

USER_MODULE_FILE = "user_module.py"
FUNCTION_NAMES = ("fn_build", "fn_train", "fn_predict", "fn_lose", "fn_optimize")


def module_name(path: str | Path) -> str:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return f"mlflow_qc_user_{digest}"


def import_user_module(path: str | Path) -> ModuleType:
    """Import the file as ``mlflow_qc_user_<content hash>``, registered in sys.modules."""
    name = module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing: dataclasses and pickle look the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def copy_user_module(path: str | Path, folder: Path) -> Path:
    target = Path(folder) / USER_MODULE_FILE
    shutil.copyfile(path, target)
    return target


def import_saved_module(folder: Path) -> ModuleType | None:
    """Import the module copy saved beside a model, if there is one."""
    path = Path(folder) / USER_MODULE_FILE
    return import_user_module(path) if path.is_file() else None


def user_functions(module: ModuleType) -> dict:
    """AIQC's user functions the module defines (fn_build required)."""
    return {name: getattr(module, name) for name in FUNCTION_NAMES if callable(getattr(module, name, None))}
