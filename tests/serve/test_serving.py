"""``mlflow models serve -m models:/NAME@ALIAS`` for real: exact answers, 4xx for bad requests."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_qc import Inference
from mlflow_qc.models import load_trained
from mlflow_qc.tracking.names import MODEL_DATA_DIR as DATA_DIR
from mlflow_qc.tracking.names import MODEL_LIBRARY_DIR as MODEL_DIR
from mlflow_qc.tracking.names import MODEL_PIPELINE_FILE as PIPELINE_FILE
from tests.serve.serving_helpers import (
    EXOPLANETS_MODEL,
    IRIS_MODEL,
    invoke,
    scoring_server,
    served_frame,
    split_payload,
)

pytestmark = pytest.mark.e2e

IRIS_URI = f"models:/{IRIS_MODEL}@champion"
EXOPLANETS_URI = f"models:/{EXOPLANETS_MODEL}@champion"
SPECIES = {"setosa", "versicolor", "virginica"}


@pytest.fixture(scope="module")
def exoplanets_url(exoplanets):
    with scoring_server(exoplanets, EXOPLANETS_URI) as url:
        yield url


def iris_rows(project, count: int, seed: int = 0) -> pd.DataFrame:
    table = pd.read_csv(project.root / "data" / "iris.tsv", sep="\t").drop(columns="species")
    return table.sample(count, replace=count > len(table), random_state=seed).reset_index(drop=True)


def test_served_rows_equal_in_process_predict(iris, iris_url, inside):
    inside(iris)
    inference = Inference(IRIS_URI)
    loaded = mlflow.pyfunc.load_model(IRIS_URI)
    for count in (1, 1000):
        rows = iris_rows(iris, count)
        served = served_frame(invoke(iris_url, split_payload(rows)))
        assert len(served) == count
        pd.testing.assert_frame_equal(served, inference.predict(rows), check_exact=True)
        pd.testing.assert_frame_equal(served, loaded.predict(rows), check_exact=True)
    assert list(served.columns) == ["prediction", *(f"probability_{s}" for s in sorted(SPECIES))]
    assert set(served["prediction"]) == SPECIES  # one-hot target decoded to the species names
    np.testing.assert_allclose(served.filter(like="probability_").sum(axis=1), 1.0, rtol=1e-9)


def test_records_orient_gives_the_same_answers(iris, iris_url):
    rows = iris_rows(iris, 5, seed=3)
    by_split = served_frame(invoke(iris_url, split_payload(rows)))
    by_records = served_frame(invoke(iris_url, {"dataframe_records": rows.to_dict(orient="records")}))
    pd.testing.assert_frame_equal(by_split, by_records, check_exact=True)


def _payload(change):
    def build(project):
        return change(iris_rows(project, 2, seed=1))

    return build


MALFORMED = [
    (
        "missing column",
        _payload(lambda rows: split_payload(rows.drop(columns="petal_width"))),
        ["petal_width", "missing"],
    ),
    (
        "wrong type",
        _payload(lambda rows: split_payload(rows.astype({"sepal_width": object}).assign(sepal_width="wide"))),
        ["sepal_width"],
    ),
    ("empty body", lambda project: "", ["JSON"]),
    ("wrong JSON shape: a list", lambda project: "[1, 2, 3]", ["JSON dictionary", "list"]),
    (
        "wrong JSON shape: unknown key",
        lambda project: {"rows": [[1, 2, 3, 4]]},
        ["exactly one of the input fields", "dataframe_split"],
    ),
    ("wrong JSON shape: split as a list", lambda project: {"dataframe_split": [1, 2]}, ["split format"]),
    ("extra column", _payload(lambda rows: split_payload(rows.assign(colour="red"))), ["colour", "unexpected"]),
    ("no column names", _payload(lambda rows: {"inputs": rows.to_numpy().tolist()}), ["column names"]),
    ("no rows", _payload(lambda rows: split_payload(rows.iloc[:0])), ["no rows"]),
    (
        "missing value",
        _payload(lambda rows: split_payload(rows.astype({"sepal_length": object}).assign(sepal_length=None))),
        ["sepal_length", "missing values"],
    ),
    ("not JSON", lambda project: "a,b\n1,2", ["JSON"]),
]


@pytest.mark.parametrize("name, build, expected", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_request_gets_4xx_naming_the_problem_and_serving_goes_on(iris, iris_url, name, build, expected):
    response = invoke(iris_url, build(iris))
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:1000])
    message = response.json()["message"]
    for word in expected:
        assert word in message, message
    valid = iris_rows(iris, 3, seed=2)
    after = served_frame(invoke(iris_url, split_payload(valid)))
    assert len(after) == 3 and set(after["prediction"]) <= SPECIES


def test_served_regression_is_on_the_original_kelvin_scale(exoplanets, exoplanets_url, inside):
    inside(exoplanets)
    table = pd.read_parquet(exoplanets.root / "data" / "exoplanets.parquet")  # the gap-free original
    truth = table.pop("SurfaceTempK")
    served = served_frame(invoke(exoplanets_url, split_payload(table)))
    pd.testing.assert_frame_equal(served, Inference(EXOPLANETS_URI).predict(table), check_exact=True)
    np.testing.assert_allclose(served["prediction"], _decoded_by_hand(table), rtol=1e-12)
    predicted = served["prediction"].to_numpy()
    assert truth.min() * 0.5 < predicted.min() and predicted.max() < truth.max() * 1.5
    assert abs(predicted.mean() - truth.mean()) < 0.25 * truth.std()  # a standardised scale would sit near 0


def _decoded_by_hand(table: pd.DataFrame) -> np.ndarray:
    """The registered model's own pieces: fitted preprocessing, estimator, then the target's PowerTransformer."""
    from sklearn.preprocessing import PowerTransformer

    folder = mlflow.artifacts.download_artifacts(EXOPLANETS_URI)
    pipeline = pd.read_pickle(Path(folder, "data", DATA_DIR, PIPELINE_FILE))
    adapter, model = load_trained(Path(folder, "data", DATA_DIR, MODEL_DIR))
    features = pipeline.transform([table[columns] for columns in pipeline.raw_columns])
    encoded = np.asarray(adapter.predict(model, features), dtype=np.float64).reshape(-1, 1)
    [transformer] = pipeline.target.encoder.fitted
    assert isinstance(transformer, PowerTransformer)
    return transformer.inverse_transform(encoded)[:, 0]


def test_an_unseen_category_is_answered_as_the_held_out_rows_were(exoplanets, exoplanets_url, inside):
    """The one-hot encoder learnt TypeFlag's categories from the training rows; a category they lack
    is all zeros in its columns, as in the held-out splits the model was scored on (README: "Serving")."""
    inside(exoplanets)
    table = pd.read_parquet(exoplanets.root / "data" / "exoplanets.parquet").drop(columns="SurfaceTempK").head(2)
    unseen = table.assign(TypeFlag=9)
    response = invoke(exoplanets_url, split_payload(unseen))
    assert response.status_code == 200, response.text
    pd.testing.assert_frame_equal(served_frame(response), Inference(EXOPLANETS_URI).predict(unseen), check_exact=True)
    pipeline = pd.read_pickle(
        Path(mlflow.artifacts.download_artifacts(EXOPLANETS_URI), "data", DATA_DIR, PIPELINE_FILE)
    )
    [features] = pipeline.transform([unseen[pipeline.raw_columns[0]]])
    flags = [k for k, name in enumerate(pipeline.feature_names[0]) if name.startswith("TypeFlag=")]
    assert flags and not features[:, flags].any()


def test_concurrent_good_and_bad_requests_each_get_their_own_answer(iris, iris_url):
    from concurrent.futures import ThreadPoolExecutor

    good = iris_rows(iris, 4, seed=5)
    expected = served_frame(invoke(iris_url, split_payload(good)))
    bad = split_payload(good.assign(colour="red"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: invoke(iris_url, bad if i % 2 else split_payload(good)), range(24)))
    for i, response in enumerate(answers):
        if i % 2:
            assert response.status_code == 400 and "colour" in response.json()["message"]
        else:
            pd.testing.assert_frame_equal(served_frame(response), expected, check_exact=True)
