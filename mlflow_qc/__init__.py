"""mlflow_qc: seeded, leak-free, cross-validated experiments on MLflow and DVC.

Every name of the facade loads on first use (PEP 562), so importing one module of the package
(``mlflow_qc.serve.pyfunc`` in a serving environment, a plugin entry point inside MLflow)
loads that module and what it imports, never the trainer.
"""

import importlib

__version__ = "0.1.0"

_FACADE = {
    "QCError": "mlflow_qc.errors",
    "Experiment": "mlflow_qc.experiment",
    "Inference": "mlflow_qc.serve.inference",
    **{
        name: "mlflow_qc.recipe"
        for name in (
            "Architecture",
            "DatasetSpec",
            "Encoder",
            "FeatureEncoder",
            "Input",
            "Interpolater",
            "Pipeline",
            "Recipe",
            "Register",
            "Search",
            "Stratifier",
            "Target",
            "Trainer",
            "load_recipe",
        )
    },
}

__all__ = sorted(_FACADE)


def __getattr__(name):
    if name in _FACADE:
        value = getattr(importlib.import_module(_FACADE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_qc' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FACADE))
