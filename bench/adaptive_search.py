"""Adaptive search against the full grid (issue 29): resource, wall time and the chosen candidate's score.

Workload here: the scikit-learn one of issue 29 only (the Keras MLP and PyTorch CNN workloads are not
written yet): a synthetic binary classification (``--rows`` rows x 20 numeric columns, StandardScaler per
fold), an RBF ``SVC`` over 27 candidates (9 values of C x 3 of gamma), ``--folds`` folds x 1 repeat,
trained in this process into a fresh sqlite store (the prepared arrays cached beforehand), once as the
full grid and once per adaptive method with ``resource: samples``.

Reported per variant: models trained, total resource (training rows x models: every model of a fold
counts the rows it fit on), wall time, and the chosen job's mean ``fold_validation_accuracy`` against
the grid winner's 95 % interval (t interval over its folds x repeats).

    python bench/adaptive_search.py --rows 3000 --folds 3    # prints the Markdown for bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEED, METRIC = 42, "fold_validation_accuracy"
GRID = {"C": [float(c) for c in np.logspace(-2, 2, 9)], "gamma": [0.003, 0.03, 0.3]}


def workspace(root: Path, rows: int) -> Path:
    import pandas as pd
    from sklearn.datasets import make_classification

    (root / "data").mkdir(parents=True)
    (root / "recipes").mkdir()
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=8, flip_y=0.05, random_state=SEED)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_parquet(root / "data" / "bench.parquet", index=False)
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_QC_CACHE"] = str(root / ".qc_cache")
    os.environ["MLFLOW_QC_QUIET"] = "1"
    return root


def recipe(name: str, folds: int, search: dict | None) -> dict:
    spec = {
        "name": name,
        "seed": SEED,
        "data": {
            "inputs": [{"dataset": {"path": "../data/bench.parquet"}, "encoders": [{"sklearn": "StandardScaler"}]}],
            "target": {"column": "label"},
            "stratifier": {"size_test": 0.2, "fold_count": folds},
            "version": "off",
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.svm.SVC",
            "hyperparameters": {**GRID, "probability": [False]},
        },
    }
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


def summary(result, train_rows: float) -> dict:
    models = result.metrics()
    models = models[models["status"] == "FINISHED"]
    share = models["resource"].astype(float) if "resource" in models.columns else np.ones(len(models))
    best = models[models["job_index"] == result.best_job_index][METRIC]
    return {"models": len(models), "resource": float((share * train_rows).sum()), "scores": best.to_numpy()}


def interval(scores: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    half = stats.t.ppf(0.975, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores))
    return scores.mean() - half, scores.mean() + half


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    variants = {
        "grid": None,
        "halving": {"method": "halving", "resource": "samples"},
        "hyperband": {"method": "hyperband", "resource": "samples", "min_resource": 1 / 9},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace(Path(tmp, "project"), args.rows)
        from mlflow_qc.prepare import prepare
        from mlflow_qc.recipe import recipe_from_dict

        prepared = prepare(recipe_from_dict(recipe("warm", args.folds, None), base_dir=str(root / "recipes")))
        entry = prepared.entry
        train_rows = float(np.mean([len(entry.rows(context)["train"]) for context in entry.contexts]))
        results = {}
        for name, search in variants.items():
            result, seconds = train(root, recipe(name, args.folds, search))
            results[name] = {**summary(result, train_rows), "seconds": seconds}
    grid = results["grid"]
    low, high = interval(grid["scores"])
    print(
        f"{args.rows} rows, 27 candidates (SVC: 9 C x 3 gamma), {args.folds} folds x 1 repeat; "
        f"grid winner's 95 % interval {low:.4f} .. {high:.4f}\n"
    )
    print(
        "| variant | models | resource (rows x models) | share of grid | wall s | share of grid "
        "| chosen mean | inside |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        mean = row["scores"].mean()
        print(
            f"| {name} | {row['models']} | {row['resource']:.0f} | {row['resource'] / grid['resource']:.2f} | "
            f"{row['seconds']:.1f} | {row['seconds'] / grid['seconds']:.2f} | {mean:.4f} | "
            f"{'yes' if low <= mean <= high else 'no'} |"
        )


if __name__ == "__main__":
    main()
