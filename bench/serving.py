"""Serving cost of the mlflow_qc pyfunc against the same scikit-learn pipeline as a plain ``sklearn`` model.

Workload (issue 4): synthetic binary classification, 20,000 rows x 32 columns (24 numeric,
8 categorical); StandardScaler on the numeric columns, OneHotEncoder on the categorical ones,
LogisticRegression. mlflow_qc trains it from a recipe (one model, no folds); the plain model is
the equivalent sklearn ``Pipeline`` logged with ``mlflow.sklearn.log_model`` (explicit pip
requirements, cloudpickle), once answering ``predict`` (labels, the flavor's default) and once
``predict_proba`` (class probabilities, closer to mlflow_qc's label + probability columns).
All are served with ``mlflow models serve --env-manager local`` at the same time on loopback
ports and measured in one run, taking turns request by request.

    python bench/serving.py                 # prints the Markdown table
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ROWS, NUMERIC, CATEGORICAL, SEED = 20_000, 24, 8, 42


def make_table() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    numeric = {f"x{i:02d}": rng.normal(size=ROWS) for i in range(NUMERIC)}
    categorical = {f"c{i}": rng.choice([f"k{j}" for j in range(5)], size=ROWS) for i in range(CATEGORICAL)}
    table = pd.DataFrame({**numeric, **categorical})
    logit = sum(table[f"x{i:02d}"] * (i % 3 - 1) for i in range(NUMERIC)) + (table["c0"] == "k1") * 1.5
    table["label"] = np.where(logit + rng.normal(size=ROWS) > 0, "yes", "no")
    return table


RECIPE = """
name: bench-serving
seed: 42
data:
  inputs:
    - dataset: {path: table.parquet}
      encoders:
        - {sklearn: StandardScaler, dtypes: [float64]}
        - {sklearn: OneHotEncoder, dtypes: [str]}
  target: {column: label, encoder: {sklearn: LabelBinarizer}}
  stratifier: {size_test: 0.2}
  version: "off"
model:
  library: sklearn
  analysis_type: classification_binary
  estimator: sklearn.linear_model.LogisticRegression
  hyperparameters: {C: [1.0], max_iter: [1000]}
"""


def train_qc(root: Path) -> tuple[str, callable]:
    """Train the recipe; return the model URI and a function that logs the model once more."""
    from mlflow.tracking import MlflowClient

    from mlflow_qc.experiment import Experiment
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.run.fit_model import fit_and_evaluate
    from mlflow_qc.run.plan import Job, plan_tasks
    from mlflow_qc.serve.save import save_qc_model
    from mlflow_qc.tracking.names import MODEL_ARTIFACT

    (root / "recipe.yaml").write_text(RECIPE)
    recipe = load_recipe(root / "recipe.yaml")
    result = Experiment.from_recipe(recipe).run()
    client = MlflowClient()
    experiment_id = client.get_run(result.run_id).info.experiment_id
    [model_run] = client.search_runs([experiment_id], "tags.`qc.level` = 'model'")
    prepared = prepare(recipe)
    [task] = plan_tasks([Job(0, {"C": 1.0, "max_iter": 1000})], prepared.entry.contexts, 1, recipe.seed)
    fitted = fit_and_evaluate(task, recipe.model, prepared.entry)

    def log_once() -> None:
        run_id = client.create_run(experiment_id).info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            save_qc_model(Path(tmp, MODEL_ARTIFACT), fitted, prepared.entry, task.context)
            client.log_artifacts(run_id, tmp)

    return model_run.data.tags["qc.model_uri"], log_once


def train_plain(table: pd.DataFrame, predict_fn: str) -> tuple[str, callable]:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = table.drop(columns="label")
    numeric = [c for c in features if c.startswith("x")]
    categorical = [c for c in features if c.startswith("c")]
    columns = ColumnTransformer(
        [("scale", StandardScaler(), numeric), ("one_hot", OneHotEncoder(sparse_output=False), categorical)]
    )
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression(C=1.0, max_iter=1000))]).fit(
        features, table["label"]
    )
    example = features.head(5)
    signature = infer_signature(example, getattr(pipeline, predict_fn)(example))
    requirements = [f"scikit-learn=={__import__('sklearn').__version__}", f"mlflow=={mlflow.__version__}"]
    mlflow.set_experiment("bench-plain")

    def log_once() -> str:
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                serialization_format="cloudpickle",
                pip_requirements=requirements,
                signature=signature,
                input_example=example,
                pyfunc_predict_fn=predict_fn,
            )
        return info.model_uri

    return log_once(), log_once


def interleaved_medians(actions: dict[str, callable], count: int) -> dict[str, float]:
    """Median seconds of each action over ``count`` rounds, the actions taking turns (one warm-up round)."""
    seconds = {name: [] for name in actions}
    for round_index in range(count + 1):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            if round_index:
                seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def model_bytes(model_uri: str) -> int:
    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(model_uri))
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def predictors(uris: dict[str, str], rows: pd.DataFrame) -> dict[str, callable]:
    import mlflow.pyfunc

    models = {name: mlflow.pyfunc.load_model(uri) for name, uri in uris.items()}
    return {name: (lambda model=model: model.predict(rows)) for name, model in models.items()}


def body(rows: pd.DataFrame) -> bytes:
    import json

    return json.dumps({"dataframe_split": rows.to_dict(orient="split", index=False)}).encode()


def latency_and_throughput(urls: dict[str, str], features: pd.DataFrame, requests_1row: int, requests_10k: int) -> dict:
    """Alternating between the servers: 1-row latencies (p50, p99) and 10,000-row throughput."""
    rng = np.random.default_rng(SEED)
    one_row = [body(features.iloc[[i]]) for i in rng.integers(0, len(features), requests_1row)]
    big = body(features.sample(10_000, random_state=SEED))
    sessions = {name: requests.Session() for name in urls}
    headers = {"Content-Type": "application/json"}

    def post(name: str, payload: bytes) -> float:
        started = time.perf_counter()
        response = sessions[name].post(f"{urls[name]}/invocations", data=payload, headers=headers, timeout=120)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        return elapsed

    for name in urls:  # warm up
        for payload in one_row[:50]:
            post(name, payload)
        post(name, big)
    latencies = {name: [] for name in urls}
    for payload in one_row:
        for name in urls:
            latencies[name].append(post(name, payload))
    throughput = {name: [] for name in urls}
    for _ in range(requests_10k):
        for name in urls:
            throughput[name].append(10_000 / post(name, big))
    return {
        name: {
            "p50_ms": 1000 * float(np.percentile(latencies[name], 50)),
            "p99_ms": 1000 * float(np.percentile(latencies[name], 99)),
            "rows_per_s": statistics.median(throughput[name]),
        }
        for name in urls
    }


VARIANTS = {
    "mlflow_qc": "mlflow_qc pyfunc",
    "sklearn": "plain sklearn flavor",
    "sklearn_proba": "plain sklearn, predict_proba",
}


def table_markdown(results: dict) -> str:
    rows = [
        ("p50 latency, 1-row request over HTTP (ms)", "p50_ms", "{:.2f}", "<= 1.3x"),
        ("p99 latency, 1-row request over HTTP (ms)", "p99_ms", "{:.2f}", "<= 1.3x"),
        ("throughput, 10,000-row requests (rows/s)", "rows_per_s", "{:,.0f}", ">= 0.77x"),
        ("in-process predict, 10,000 rows (ms)", "predict_ms", "{:.1f}", ""),
        ("model size on disk (KiB)", "size_kib", "{:.1f}", ""),
        ("log one model (median ms)", "log_ms", "{:.0f}", "< 200 ms (mlflow_qc)"),
    ]
    header = [
        "measure",
        VARIANTS["mlflow_qc"],
        VARIANTS["sklearn"],
        "ratio",
        VARIANTS["sklearn_proba"],
        "ratio",
        "target",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|---:|---:|---|"]
    for label, key, fmt, target in rows:
        qc, plain, proba = (results[name][key] for name in VARIANTS)
        cells = [
            label,
            fmt.format(qc),
            fmt.format(plain),
            f"{qc / plain:.2f}x",
            fmt.format(proba),
            f"{qc / proba:.2f}x",
            target,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> str:
    import platform

    import mlflow
    import sklearn

    return (
        f"Python {platform.python_version()}, mlflow {mlflow.__version__}, scikit-learn {sklearn.__version__}, "
        f"pandas {pd.__version__}, {os.cpu_count()} CPU(s); {ROWS:,} rows x {NUMERIC + CATEGORICAL} columns"
    )


def serving_workspace(root: Path) -> tuple[Path, pd.DataFrame]:
    """``root`` as the cwd of an in-process serving benchmark: a sqlite store and cache of its own,
    no progress bars, the benchmark's table written to table.parquet (and returned)."""
    os.chdir(root)
    os.environ.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        MLFLOW_QC_CACHE=str(root / "cache"),
        MLFLOW_QC_QUIET="1",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
    )
    table = make_table()
    table.to_parquet(root / "table.parquet", index=False)
    return root, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-1row", type=int, default=1000)
    parser.add_argument("--requests-10k", type=int, default=20)
    parser.add_argument("--log-count", type=int, default=15)
    parser.add_argument("--predict-count", type=int, default=15)
    args = parser.parse_args()

    from tests.serve.serving_helpers import Project, scoring_server

    with tempfile.TemporaryDirectory() as tmp:
        root, table = serving_workspace(Path(tmp))
        features = table.drop(columns="label")
        models = {
            "mlflow_qc": train_qc(root),
            "sklearn": train_plain(table, "predict"),
            "sklearn_proba": train_plain(table, "predict_proba"),
        }
        uris = {name: uri for name, (uri, _) in models.items()}
        logging = interleaved_medians({name: log_once for name, (_, log_once) in models.items()}, args.log_count)
        predicting = interleaved_medians(
            predictors(uris, features.sample(10_000, random_state=SEED)), args.predict_count
        )
        results = {
            name: {
                "log_ms": 1000 * logging[name],
                "predict_ms": 1000 * predicting[name],
                "size_kib": model_bytes(uri) / 1024,
            }
            for name, uri in uris.items()
        }
        with ExitStack() as servers:
            urls = {name: servers.enter_context(scoring_server(Project(root), uri)) for name, uri in uris.items()}
            served = latency_and_throughput(urls, features, args.requests_1row, args.requests_10k)
        for name in results:
            results[name].update(served[name])
        os.chdir(REPO)
    print(environment())
    print()
    print(table_markdown(results))


if __name__ == "__main__":
    main()
