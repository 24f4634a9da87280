"""Model adapters for Keras, PyTorch and scikit-learn behind one interface.

``adapter_for(architecture, n_classes)`` imports the library's adapter lazily, so an
sklearn run never imports tensorflow or torch; so do the library helpers below
(``MetricCutoff`` imports keras, ``train_loop``/``batches`` import torch).
"""

from mlflow_qc.models.base import ModelAdapter, TrainedModel
from mlflow_qc.models.cutoffs import cutoffs_met, parse_cutoffs
from mlflow_qc.models.registry import adapter_class, adapter_for, load_model, load_trained

_LAZY = {
    "MetricCutoff": "mlflow_qc.models.keras_adapter",
    "train_loop": "mlflow_qc.models.torch_loop",
    "batches": "mlflow_qc.models.torch_loop",
    "ProbabilityCrossEntropy": "mlflow_qc.models.torch_adapter",
}

# The lazy names stay out of __all__: a star import must not load keras or torch.
__all__ = [
    "ModelAdapter",
    "TrainedModel",
    "adapter_class",
    "adapter_for",
    "load_model",
    "load_trained",
    "cutoffs_met",
    "parse_cutoffs",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlflow_qc.models' has no attribute '{name}'")
