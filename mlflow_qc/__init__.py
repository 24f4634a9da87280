"""mlflow_qc: seeded, leak-free, cross-validated experiments on MLflow and DVC."""
from mlflow_qc.errors import QCError
from mlflow_qc.experiment import Experiment
from mlflow_qc.recipe import (
    Architecture,
    DatasetSpec,
    Encoder,
    FeatureEncoder,
    Input,
    Interpolater,
    Pipeline,
    Recipe,
    Register,
    Search,
    Stratifier,
    Target,
    Trainer,
    load_recipe,
)

__version__ = "0.1.0"

__all__ = [
    "Architecture", "DatasetSpec", "Encoder", "Experiment", "FeatureEncoder", "Inference", "Input",
    "Interpolater", "Pipeline", "QCError", "Recipe", "Register", "Search", "Stratifier", "Target",
    "Trainer", "load_recipe",
]


def __getattr__(name):
    if name == "Inference":  # serving imports MLflow's pyfunc machinery: load it on demand
        from mlflow_qc.serve.inference import Inference

        return Inference
    raise AttributeError(f"module 'mlflow_qc' has no attribute {name!r}")
