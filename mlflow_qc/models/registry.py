"""Finding the adapter of a library, and loading a saved model with its adapter.

Each adapter module is imported only when asked: a scikit-learn run never loads keras or torch.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from mlflow_qc.errors import QCError
from mlflow_qc.models.base import ADAPTER_FILE, ModelAdapter
from mlflow_qc.models.user_module import USER_MODULE_FILE
from mlflow_qc.recipe import Architecture

ADAPTER_MODULES = {
    "keras": "mlflow_qc.models.keras_adapter:KerasAdapter",
    "pytorch": "mlflow_qc.models.torch_adapter:TorchAdapter",
    "sklearn": "mlflow_qc.models.sklearn_adapter:SklearnAdapter",
}
# The packages an adapter imports that the base install leaves out, and the extra that brings them.
LIBRARY_EXTRAS = {"keras": ({"keras", "tensorflow"}, "keras"), "pytorch": ({"torch"}, "pytorch")}


def adapter_class(library: str) -> type[ModelAdapter]:
    """Imports the library's adapter only when asked: sklearn never loads keras or torch."""
    if library not in ADAPTER_MODULES:
        raise QCError("model.library", f"'{library}' is not supported; expected one of {sorted(ADAPTER_MODULES)}")
    module, _, name = ADAPTER_MODULES[library].partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:
        packages, extra = LIBRARY_EXTRAS.get(library, (set(), None))
        missing = (error.name or "").partition(".")[0]
        if missing not in packages:
            raise
        raise QCError(
            "model.library",
            f"'{library}' needs the package {missing}, which is not installed; "
            f"expected it installed: pip install 'mlflow-qc[{extra}]'",
        ) from None


def adapter_for(architecture, n_classes: int | None = None, label_shape=None) -> ModelAdapter:
    return adapter_class(architecture.library)(architecture, n_classes, label_shape)


def load_model(library: str, folder: Path) -> Any:
    return adapter_class(library).load(Path(folder))


def load_trained(folder: Path) -> tuple[ModelAdapter, Any]:
    """The adapter (with the saved user module) and the model saved in ``folder``.

    For serving: ``adapter.predict(model, features)`` then runs the user's fn_predict
    from the copy saved with the model.
    """
    folder = Path(folder)
    meta = json.loads((folder / ADAPTER_FILE).read_text())
    module = folder / USER_MODULE_FILE
    architecture = Architecture(
        library=meta["library"],
        analysis_type=meta["analysis_type"],
        module=str(module) if module.is_file() else None,
        estimator=meta.get("estimator"),
    )
    adapter = adapter_for(architecture, meta.get("n_classes"), meta.get("label_shape"))
    return adapter, adapter.load(folder)
