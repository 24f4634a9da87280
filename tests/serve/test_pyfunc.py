"""The QC pyfunc itself: input checks, the extra-column guard, quiet and fast saving, a PyTorch model."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.exceptions import MlflowException
from mlflow.types import ColSpec, Schema

from mlflow_qc.errors import QCError
from mlflow_qc.serve.bundle import pip_requirements
from mlflow_qc.serve.save import input_schema, save_qc_model
from mlflow_qc.serve.schema import conform
from tests.serve.serving_helpers import IRIS_MODEL

SCHEMA = Schema([ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "kind")])
NOISE = ("Validating input example against model signature", "Hint: Inferred schema contains integer")


def test_conform_orders_and_casts_castable_columns():
    frame = pd.DataFrame({"kind": ["a", "b"], "n": [1.0, 2.0], "x": [1, 2]})
    out = conform(frame, SCHEMA)
    assert list(out.columns) == ["x", "n", "kind"]
    assert out.dtypes.astype(str).to_dict() == {"x": "float64", "n": "int64", "kind": "str"}
    numbers_as_text = conform(pd.DataFrame({"x": ["1.5", None], "n": [3, 4], "kind": [7, 8]}), SCHEMA)
    assert numbers_as_text["x"].tolist()[0] == 1.5 and np.isnan(numbers_as_text["x"].tolist()[1])
    assert numbers_as_text["kind"].tolist() == ["7", "8"]


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"x": [1.0], "n": [1]}), r"input: column\(s\) \[kind\] missing"),
        (pd.DataFrame({"x": [1.0], "n": [1], "kind": ["a"], "y": [0]}), r"input: unexpected column\(s\) \[y\]"),
        (
            pd.DataFrame({"x": ["one"], "n": [1], "kind": ["a"]}),
            r"column 'x': str values such as \['one'\] do not fit double",
        ),
        (
            pd.DataFrame({"x": [1.0], "n": [1.5], "kind": ["a"]}),
            r"column 'n': float64 values such as \[1.5\] do not fit long",
        ),
        (
            pd.DataFrame({"x": [1.0], "n": [np.nan], "kind": ["a"]}),
            r"column 'n': .* do not fit long; expected whole numbers without gaps",
        ),
        (pd.DataFrame({"x": [True], "n": [1], "kind": ["a"]}), r"column 'x': bool values"),
        (pd.DataFrame({"x": [], "n": [], "kind": []}), r"input: no rows"),
    ],
)
def test_conform_names_the_column_it_cannot_take(frame, message):
    with pytest.raises(QCError, match=message):
        conform(frame, SCHEMA)


@pytest.mark.e2e
def test_extra_columns_fail_for_qc_models_only(iris, inside, tmp_path):
    inside(iris)
    rows = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t").head(3)
    qc_model = mlflow.pyfunc.load_model(f"models:/{IRIS_MODEL}@champion")
    with pytest.raises(MlflowException, match=r"unexpected column\(s\) \[species\]") as raised:
        qc_model.predict(rows)
    assert raised.value.get_http_status_code() == 400
    from sklearn.linear_model import LogisticRegression

    features = rows.drop(columns="species")
    plain = LogisticRegression().fit(pd.concat([features, features + 3]), ["a", "a", "a", "b", "b", "b"])
    mlflow.sklearn.save_model(
        plain,
        tmp_path / "plain",
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
        input_example=features,
    )
    assert len(mlflow.pyfunc.load_model(str(tmp_path / "plain")).predict(rows)) == 3  # MLflow's own rule: drop extras


@pytest.mark.e2e
def test_a_bad_request_leaves_nothing_behind(iris, inside):
    inside(iris)
    model = mlflow.pyfunc.load_model(f"models:/{IRIS_MODEL}@champion")
    rows = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t").drop(columns="species").head(4)
    first = model.predict(rows)
    for bad in (rows.iloc[:0], rows.assign(petal_width="x"), rows.drop(columns="sepal_length"), rows.to_numpy()):
        with pytest.raises(MlflowException):
            model.predict(bad)
    pd.testing.assert_frame_equal(model.predict(rows), first, check_exact=True)


@pytest.mark.e2e
def test_training_logs_no_per_model_noise(iris, exoplanets):
    for project in (iris, exoplanets):  # exoplanets has an integer column
        for line in NOISE:
            assert line not in project.training_stderr


def test_input_schema_keeps_integer_columns_without_the_hint():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = input_schema(pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5]}))
    assert [t.name for t in schema.input_types()] == ["long", "double"]


@pytest.mark.e2e
def test_saving_a_model_is_fast_quiet_and_pinned(iris, inside, caplog):
    inside(iris)
    outcome, entry, context = _trained_outcome(iris.root / "recipes" / "iris.yaml")
    seconds = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        warnings.catch_warnings(record=True) as caught,
        caplog.at_level(logging.INFO),
    ):
        warnings.simplefilter("always")
        for attempt in range(5):
            started = time.perf_counter()
            save_qc_model(Path(tmp, f"model{attempt}"), outcome, entry, context)
            seconds.append(time.perf_counter() - started)
        requirements = Path(tmp, "model0", "requirements.txt").read_text().split()
        assert Path(tmp, "model0", "input_example.json").exists()
        mlmodel = yaml.safe_load(Path(tmp, "model0", "MLmodel").read_text())
        files = sum(f.stat().st_size for f in Path(tmp, "model0").rglob("*") if f.is_file())
    assert "signature" in mlmodel
    # every file counted, the MLmodel as copied from the scaffold (its identity lines differ by a few characters)
    assert abs(mlmodel["model_size_bytes"] - files) <= 16, (mlmodel["model_size_bytes"], files)
    assert statistics.median(seconds) < 0.2, seconds
    assert requirements == list(pip_requirements("sklearn"))
    assert not [w for w in caught if any(line in str(w.message) for line in NOISE)]
    assert not [r for r in caplog.records if any(line in r.getMessage() for line in NOISE)]


def _trained_outcome(recipe_path: Path):
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.run.fit_model import fit_and_evaluate
    from mlflow_qc.run.plan import Job, plan_tasks

    recipe = load_recipe(recipe_path)
    prepared = prepare(recipe)
    [task, *_] = plan_tasks([Job(0, {"C": 1.0})], prepared.entry.contexts, 1, recipe.seed)
    return fit_and_evaluate(task, recipe.model, prepared.entry), prepared.entry, task.context


LOAD_AND_PREDICT = """
import sys, mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_csv(sys.argv[2], sep="\\t").drop(columns="species").iloc[[int(i) for i in sys.argv[3].split(",")]]
model.predict(rows).to_json(sys.argv[4], orient="split", double_precision=15)
"""


@pytest.mark.e2e
def test_pytorch_model_served_from_a_fresh_process_reproduces_training(iris_torch):
    project, root = iris_torch, iris_torch.root
    client = mlflow.MlflowClient(project.tracking_uri)
    [model_run] = client.search_runs([client.get_run(project.run_id).info.experiment_id], "tags.`qc.level` = 'model'")
    logged = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=model_run.info.run_id, artifact_path="qc/predictions.parquet", tracking_uri=project.tracking_uri
        )
    )
    test = logged[logged["split"] == "test"]
    out = root / "served.json"
    rows = ",".join(str(r) for r in test["row"])
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_AND_PREDICT,
            model_run.data.tags["qc.model_uri"],
            root / "data" / "iris.tsv",
            rows,
            out,
        ],
        cwd=root,
        env={**os.environ, **project.env},
        check=True,
        capture_output=True,
    )
    served = pd.read_json(out, orient="split")
    assert served["prediction"].tolist() == test["prediction"].tolist()
    np.testing.assert_allclose(
        served.filter(like="probability_").to_numpy(), test.filter(like="probability_").to_numpy(), atol=1e-6
    )
    assert (
        json.loads(
            Path(
                mlflow.artifacts.download_artifacts(
                    f"runs:/{model_run.info.run_id}/model/data/qc/qc_model.json", tracking_uri=project.tracking_uri
                )
            ).read_text()
        )["library"]
        == "pytorch"
    )
