"""Adaptive search against the full grid (issue 29): resource, wall time and the chosen candidate's score.

Three workloads, each 27 candidates (3 x 3 x 3 hyperparameter values), ``--folds`` folds x 1 repeat, trained
in this process into a fresh sqlite store (the prepared arrays cached beforehand), once as the full grid and
once per adaptive method:

- ``sklearn``: an RBF ``SVC`` (9 C x 3 gamma) on a synthetic binary table (``--rows`` rows x 20 numeric
  columns, StandardScaler fit per fold and per rung subset), ``resource: samples``; resource = training
  rows x models.
- ``keras``: a Keras MLP (neurons x dropout x learning rate) on a synthetic binary table (``--rows`` rows x
  20 columns), the default training, ``resource: epochs``; resource = epochs actually trained.
- ``torch``: a PyTorch CNN (filters x dense units x learning rate) on scikit-learn's 8 x 8 digit images
  (a 4-D ``.npy``, 10 classes, ``--images`` of them), the default training, ``resource: epochs``.

With ``resource: epochs`` a model that continued its previous rung's model (tag ``qc.resumed_from``)
counts only the epochs it trained on top of it. Reported per variant: models trained, total resource,
wall time, and the chosen job's mean ``fold_validation_accuracy`` against the grid winner's 95 % interval
(t interval over its folds x repeats). TensorFlow and PyTorch run on one thread.

    nice -n 10 python bench/adaptive_search.py --workload keras --rows 1000 --folds 2     # ~12 min on 2 shared vCPUs
    nice -n 10 python bench/adaptive_search.py --workload torch --images 900 --folds 3    # ~2.5 min
    nice -n 10 python bench/adaptive_search.py --workload sklearn --rows 3000 --folds 3   # ~1.5 min

Each prints the Markdown table of bench/RESULTS.md ("Adaptive search").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEED, METRIC = 42, "fold_validation_accuracy"

KERAS_MLP = """
import keras


def fn_build(features_shape, label_shape, **hp):
    return keras.Sequential([
        keras.Input(shape=features_shape),
        keras.layers.Dense(hp["neurons"], activation="relu"),
        keras.layers.Dropout(hp["dropout"]),
        keras.layers.Dense(hp["neurons"], activation="relu"),
        keras.layers.Dense(label_shape[-1], activation="sigmoid"),
    ])
"""

TORCH_CNN = """
from torch import nn


def fn_build(features_shape, label_shape, **hp):
    channels, rows, columns = features_shape
    filters = hp["filters"]
    return nn.Sequential(
        nn.Conv2d(channels, filters, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(filters * (rows // 2) * (columns // 2), hp["units"]), nn.ReLU(),
        nn.Linear(hp["units"], label_shape[-1]), nn.Softmax(dim=1),
    )
"""


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    unit: str  # what the resource counts
    variants: dict


WORKLOADS = {
    "sklearn": Workload(
        "sklearn",
        "an RBF `SVC` (9 C x 3 gamma) on a synthetic binary table, `resource: samples`",
        "rows x models",
        {
            "halving": {"method": "halving", "resource": "samples"},
            "hyperband": {"method": "hyperband", "resource": "samples", "min_resource": 1 / 9},
        },
    ),
    "keras": Workload(
        "keras",
        "a Keras MLP (3 neurons x 3 dropout x 3 learning rates) on a synthetic binary table, `resource: epochs`",
        "epochs trained",
        {
            "halving": {"method": "halving", "resource": "epochs", "max_resource": 27},
            "hyperband": {"method": "hyperband", "resource": "epochs", "max_resource": 27, "min_resource": 3},
        },
    ),
    "torch": Workload(
        "torch",
        "a PyTorch CNN (3 filters x 3 dense units x 3 learning rates) on 8 x 8 digit images, `resource: epochs`",
        "epochs trained",
        {
            "halving": {"method": "halving", "resource": "epochs", "max_resource": 27},
            "hyperband": {"method": "hyperband", "resource": "epochs", "max_resource": 27, "min_resource": 3},
        },
    ),
}


def workspace(root: Path, rows: int, images: int) -> Path:
    import pandas as pd
    from sklearn.datasets import load_digits, make_classification

    (root / "data").mkdir(parents=True)
    (root / "recipes").mkdir()
    (root / "models").mkdir()
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=8, flip_y=0.05, random_state=SEED)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_parquet(root / "data" / "bench.parquet", index=False)
    digits = load_digits()
    chosen = np.random.default_rng(SEED).permutation(len(digits.target))[:images]
    np.save(root / "data" / "digits.npy", (digits.images[chosen] / 16.0).astype(np.float32)[:, None, :, :])
    pd.DataFrame({"digit": digits.target[chosen].astype(str)}).to_parquet(root / "data" / "digits.parquet")
    (root / "models" / "mlp_keras.py").write_text(KERAS_MLP)
    (root / "models" / "cnn_torch.py").write_text(TORCH_CNN)
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_QC_CACHE"] = str(root / ".qc_cache")
    os.environ["MLFLOW_QC_QUIET"] = "1"
    return root


def recipe(workload: str, name: str, folds: int, search: dict | None) -> dict:
    table = {"dataset": {"path": "../data/bench.parquet"}, "encoders": [{"sklearn": "StandardScaler"}]}
    data = {
        "inputs": [table],
        "target": {"column": "label"},
        "stratifier": {"size_test": 0.2, "fold_count": folds},
        "version": "off",
    }
    if workload == "sklearn":
        model = {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.svm.SVC",
            "hyperparameters": {
                "C": [float(c) for c in np.logspace(-2, 2, 9)],
                "gamma": [0.003, 0.03, 0.3],
            },
        }
    elif workload == "keras":
        model = {
            "library": "keras",
            "analysis_type": "classification_binary",
            "module": "../models/mlp_keras.py",
            "hyperparameters": {
                "neurons": [4, 16, 64],
                "dropout": [0.0, 0.25, 0.5],
                "learning_rate": [0.0001, 0.001, 0.01],
                "batch_size": [64],
            },
        }
    else:
        data = {
            "inputs": [{"dataset": {"path": "../data/digits.npy"}}],
            "target": {"column": "digit", "dataset": {"path": "../data/digits.parquet"}},
            "stratifier": {"size_test": 0.2, "fold_count": folds},
            "version": "off",
        }
        model = {
            "library": "pytorch",
            "analysis_type": "classification_multi",
            "module": "../models/cnn_torch.py",
            "hyperparameters": {
                "filters": [2, 4, 8],
                "units": [8, 16, 32],
                "learning_rate": [0.0003, 0.003, 0.03],
                "batch_size": [32],
            },
        }
    if search is None and workload != "sklearn":
        model["hyperparameters"]["epochs"] = [27]
    # one repeat, no permutation importance: the same for the grid and the adaptive searches
    trainer = {"repeat_count": 1, "permute_count": 0}
    spec = {"name": f"{workload}-{name}", "seed": SEED, "data": data, "model": model, "trainer": trainer}
    if search:
        spec["search"] = search
    return spec


def train(root: Path, spec: dict):
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.recipe import load_recipe

    path = root / "recipes" / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    started = time.perf_counter()
    result = Experiment.from_recipe(load_recipe(str(path))).run()
    return result, time.perf_counter() - started


def model_runs(result):
    import mlflow

    return mlflow.search_runs(
        [result.experiment_id],
        filter_string="tags.qc.level = 'model' and attributes.status = 'FINISHED'",
        output_format="pandas",
    )


def summary(result, workload: Workload, train_rows: float) -> dict:
    import pandas as pd

    runs = model_runs(result)
    if workload.unit == "rows x models":
        share = runs["params.resource"].astype(float) if "params.resource" in runs else np.ones(len(runs))
        resource = float((share * train_rows).sum())
    else:
        epochs = runs["params.epochs"].astype(float)
        resumed = runs.get("tags.qc.resumed_from")
        start = np.zeros(len(runs)) if resumed is None else pd.to_numeric(resumed, errors="coerce").fillna(0).to_numpy()
        resource = float((epochs.to_numpy() - start).sum())
    best = result.metrics()
    best = best[(best["status"] == "FINISHED") & (best["job_index"] == result.best_job_index)][METRIC]
    resumed = 0 if "tags.qc.resumed_from" not in runs else int(runs["tags.qc.resumed_from"].notna().sum())
    return {"models": len(runs), "resumed": resumed, "resource": resource, "scores": best.to_numpy()}


def interval(scores: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    half = stats.t.ppf(0.975, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores))
    return scores.mean() - half, scores.mean() + half


def bench(root: Path, workload: Workload, folds: int) -> None:
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import recipe_from_dict

    warm = recipe_from_dict(recipe(workload.name, "warm", folds, None), base_dir=str(root / "recipes"))
    entry = prepare(warm).entry
    train_rows = float(np.mean([len(entry.rows(context)["train"]) for context in entry.contexts]))
    results = {}
    for name, search in {"grid": None, **workload.variants}.items():
        result, seconds = train(root, recipe(workload.name, name, folds, search))
        results[name] = {**summary(result, workload, train_rows), "seconds": seconds}
    grid = results["grid"]
    low, high = interval(grid["scores"])
    print(
        f"\n### {workload.name}: {workload.description}\n\n27 candidates, {folds} folds x 1 repeat, "
        f"{train_rows:.0f} training samples per fold; grid winner's 95 % interval {low:.4f} .. {high:.4f}\n"
    )
    print(
        f"| variant | models (resumed) | resource ({workload.unit}) | share of grid | wall s | share of grid "
        "| chosen mean | inside | targets met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        mean = row["scores"].mean()
        inside = low <= mean <= high
        resource, wall = row["resource"] / grid["resource"], row["seconds"] / grid["seconds"]
        met = "" if name == "grid" else ("yes" if inside and resource <= 1 / 3 and wall <= 1 / 2 else "no")
        print(
            f"| {name} | {row['models']} ({row['resumed']}) | {row['resource']:.0f} | {resource:.2f} | "
            f"{row['seconds']:.1f} | {wall:.2f} | {mean:.4f} | {'yes' if inside else 'no'} | {met} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", nargs="+", choices=sorted(WORKLOADS), default=sorted(WORKLOADS))
    parser.add_argument("--rows", type=int, default=3000, help="rows of the synthetic tables")
    parser.add_argument("--images", type=int, default=900, help="digit images of the torch workload")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    if "torch" in args.workload:
        import torch

        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace(Path(tmp, "project"), args.rows, args.images)
        for name in args.workload:
            bench(root, WORKLOADS[name], args.folds)


if __name__ == "__main__":
    main()
