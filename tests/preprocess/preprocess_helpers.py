"""Shared builders for the preprocess tests (a plain module: no fixtures needed)."""

import numpy as np
import pandas as pd

from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.preprocess import FittedPipeline
from mlflow_qc.recipe import Input, Pipeline, Target


def table() -> pd.DataFrame:
    """30 rows: float x, r; int n; str color; bool flag; str target y (yes/no); str species (3 classes)."""
    rng = np.random.default_rng(0)
    n = 30
    return pd.DataFrame(
        {
            "x": rng.normal(5, 2, n),
            "n": rng.integers(0, 5, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "flag": rng.choice([True, False], n),
            "r": rng.normal(-3, 1, n),
            "y": np.tile(["yes", "no"], n // 2),
            "species": np.tile(["a", "b", "c"], n // 3),
        }
    )


def make_spec(frame, target=None, **input_fields) -> Pipeline:
    return Pipeline(inputs=[Input(dataset=frame, **input_fields)], target=Target(**target) if target else None)


def datasets_of(spec: Pipeline):
    return [load_dataset(item.dataset) for item in spec.inputs]


def fit(frame, rows, target=None, analysis_type=None, **input_fields):
    """(fitted, arrays) for one input built from ``frame``."""
    spec = make_spec(frame, target, **input_fields)
    return FittedPipeline.fit_transform(spec, datasets_of(spec), None, rows, analysis_type)
