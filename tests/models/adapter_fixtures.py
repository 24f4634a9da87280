"""Tiny synthetic data, user modules and a fresh-process runner for the adapter tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[2]
ANALYSES = ["binary", "multi_ordinal", "multi_onehot", "regression"]
ANALYSIS_TYPE = {
    "binary": "classification_binary",
    "multi_ordinal": "classification_multi",
    "multi_onehot": "classification_multi",
    "regression": "regression",
}
OUTPUT_ACTIVATION = {"binary": "sigmoid", "multi_ordinal": "softmax", "multi_onehot": "softmax", "regression": None}


@dataclass
class Split:
    """What preprocess hands over: one float64 array per input and a 2-D label."""

    features: list[np.ndarray]
    label: np.ndarray


def make_data(kind: str, rows: int = 96, seed: int = 0, inputs: int = 1) -> tuple[Split, Split]:
    """A learnable problem of the given kind, split 3:1 into train and evaluation."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    if kind == "binary":
        label = (x[:, 0] + x[:, 1] > 0).astype(float)[:, None]
    elif kind.startswith("multi"):
        index = x[:, :3].argmax(axis=1)
        label = index[:, None].astype(float) if kind == "multi_ordinal" else np.eye(3)[index]
    else:
        label = x[:, :2] @ np.array([[1.0, -0.5], [0.5, 2.0]])
    features = [x] if inputs == 1 else [x[:, :2], x[:, 2:]]
    cut = rows * 3 // 4
    return Split([f[:cut] for f in features], label[:cut]), Split([f[cut:] for f in features], label[cut:])


def architecture(library: str, kind: str, module: Path | None = None, estimator: str | None = None):
    from mlflow_qc.recipe import Architecture

    return Architecture(
        library=library,
        analysis_type=ANALYSIS_TYPE[kind],
        module=str(module) if module else None,
        estimator=estimator,
    )


def write_module(folder: Path, source: str, name: str = "user_model.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -c`` in a fresh process, away from the test's modules."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_output_and_history(kind: str, output, history: dict, epochs: int) -> None:
    """What every deep adapter owes: float64 activations of the right shape, Keras-style history."""
    assert output.dtype == np.float64
    if kind == "binary":
        assert output.shape == (24, 1) and ((output >= 0) & (output <= 1)).all()
    elif kind.startswith("multi"):
        assert output.shape == (24, 3)
        np.testing.assert_allclose(output.sum(axis=1), 1.0, rtol=1e-5)
    else:
        assert output.shape == (24, 2)
    metric = "mae" if kind == "regression" else "accuracy"
    assert set(history) == {"loss", "val_loss", metric, f"val_{metric}"}
    assert all(len(values) == epochs and isinstance(values[0], float) for values in history.values())
