"""Bad data files: each a clear one-line error naming the column (or the file), or a documented
behaviour (README, "Data the trainer refuses"). In-process ``mlflow-qc prepare``/``train``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.e2e.test_recipe_fuzz import run_counts
from tests.helpers import cli_in_process

pytestmark = pytest.mark.e2e

ROWS = 60


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("data-fuzz")
    (root / "data").mkdir()
    (root / "recipes").mkdir()
    return root


@pytest.fixture
def inside(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(leaked, raising=False)
    return project


def table(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": rng.normal(size=rows), "b": rng.normal(size=rows), "y": np.array(["p", "q"] * (rows // 2))}
    )


def csv(frame: pd.DataFrame):
    return lambda path: frame.to_csv(path, index=False)


def text(content: str | bytes):
    return lambda path: path.write_bytes(content if isinstance(content, bytes) else content.encode())


def parquet(frame: pd.DataFrame):
    return lambda path: frame.to_parquet(path, index=False)


def changed(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    frame = frame.copy()
    for column, change in columns.items():
        frame[column] = change(frame[column].astype(object)) if callable(change) else change
    return frame


def at(row: int, value):
    def change(series):
        series = series.copy()
        series.iloc[row] = value
        return series

    return change


SCALER = [{"sklearn": "StandardScaler", "dtypes": ["float64"]}]
ONE_HOT = [{"sklearn": "OneHotEncoder", "dtypes": ["object", "str"]}, *SCALER]
REGRESSION = {"analysis_type": "regression", "estimator": "sklearn.linear_model.Ridge"}
many = pd.DataFrame(
    {
        "id": [f"id{i}" for i in range(50_000)],
        "b": np.random.default_rng(1).normal(size=50_000),
        "y": ["p", "q"] * 25_000,
    }
)
dates = table().assign(d=pd.date_range("2020-01-01", periods=ROWS).astype(str))

# name, file suffix, writer, recipe changes, expected: ("error", [substrings of the last line]) or ("trains"/"prepares", None)
CASES = [
    (
        "NaN in a feature",
        ".csv",
        csv(changed(table(), a=at(3, np.nan))),
        {},
        ("error", ["feature 'a'", "missing values"]),
    ),
    (
        "NaN filled by an imputer",
        ".csv",
        csv(changed(table(), a=at(3, np.nan))),
        {"encoders": [{"sklearn": "sklearn.impute.SimpleImputer", "dtypes": ["float64"]}]},
        ("trains", None),
    ),
    ("inf in a feature", ".csv", csv(changed(table(), a=at(3, np.inf))), {}, ("error", ["column 'a'", "infinite"])),
    (
        "-inf unclaimed",
        ".csv",
        csv(changed(table(), b=at(5, -np.inf))),
        {"encoders": []},
        ("error", ["column 'b'", "infinite"]),
    ),
    (
        "inf in a regression target",
        ".csv",
        csv(table().assign(y=np.r_[np.inf, np.arange(ROWS - 1.0)])),
        REGRESSION,
        ("error", ["data.target.column", "'y'", "infinite"]),
    ),
    ("empty file", ".csv", text(""), {}, ("error", ["data.inputs[0].dataset.path", ".csv", "No columns"])),
    ("header only", ".csv", text("a,b,y\n"), {}, ("error", ["data.inputs[0].dataset.path", "no rows"])),
    ("one class", ".csv", csv(table().assign(y="p")), {}, ("error", ["data.target.column", "'y' has 1 class"])),
    (
        "a class present once (only test could hold it)",
        ".csv",
        csv(changed(table(), y=at(0, "r"))),
        {"analysis_type": "classification_multi"},
        ("error", ["data.target.column", "class 'r' has 1 row"]),
    ),
    (
        "a rare class kept in every split",
        ".csv",
        csv(changed(table(), y=lambda s: s.where(s.index > 1, "r"))),
        {"analysis_type": "classification_multi"},
        ("trains", None),
    ),
    (
        "duplicate column names",
        ".csv",
        text("a,a,y\n" + "".join(f"{i},{i * 2},{'pq'[i % 2]}\n" for i in range(ROWS))),
        {},
        ("error", ["column name(s) [a] appear more than once", "rename_columns"]),
    ),
    (
        "numbers with a stray word",
        ".csv",
        csv(changed(table(), a=at(5, "abc"))),
        {},
        ("error", ["column 'a'", "'abc' (row 5)"]),
    ),
    (
        "mixed text and numbers one-hot encoded",
        ".csv",
        csv(changed(table(), a=at(5, "abc"))),
        {"encoders": ONE_HOT},
        ("trains", None),
    ),
    (
        "50,000 categories one-hot encoded",
        ".csv",
        csv(many),
        {"encoders": [{"sklearn": "OneHotEncoder", "columns": ["id"]}]},
        ("error", ["column 'id' has", "categories), over the", "GiB"]),
    ),  # as many as the training rows hold
    (
        "a 1-row split",
        ".csv",
        csv(table(10)),
        {"stratifier": {"size_test": 0.1}},
        ("error", ["data.stratifier.size_test", "test_size = 1"]),
    ),
    ("dates as text", ".csv", csv(dates), {}, ("error", ["column 'd'", "dates as text"])),
    ("dates as text, excluded", ".csv", csv(dates), {"exclude_columns": ["d"]}, ("trains", None)),
    (
        "nested lists in Parquet",
        ".parquet",
        parquet(table().assign(n=[[1, 2]] * ROWS)),
        {},
        ("error", ["column 'n'", "nested values"]),
    ),
    (
        "nested structs in Parquet",
        ".parquet",
        parquet(table().assign(n=[{"x": 1}] * ROWS)),
        {},
        ("error", ["column 'n'", "nested values"]),
    ),
    (
        "nested column excluded",
        ".parquet",
        parquet(table().assign(n=[[1, 2]] * ROWS)),
        {"exclude_columns": ["n"]},
        ("trains", None),
    ),
    (
        "nested target",
        ".parquet",
        parquet(table().assign(y=[[1]] * ROWS)),
        {},
        ("error", ["data.target.column", "column 'y'", "nested"]),
    ),
    (
        "missing target values",
        ".csv",
        csv(changed(table(), y=at(3, None))),
        {},
        ("error", ["data.target.column", "'y'", "missing"]),
    ),
    (
        "text that is not UTF-8",
        ".csv",
        text("a,b,y\n".encode() + "1,2,\xe9\n3,4,p\n".encode("latin-1") * 30),
        {},
        ("error", ["data.inputs[0].dataset.path", "utf-8"]),
    ),
    (
        "ragged rows",
        ".csv",
        text("a,b,y\n1,2,p\n1,2,3,4\n" * 30),
        {},
        ("error", ["data.inputs[0].dataset.path", "line 3"]),
    ),
    ("booleans as a feature", ".csv", csv(table().assign(flag=[True, False] * (ROWS // 2))), {}, ("trains", None)),
]


def write_recipe(root, name: str, data_file: str, changes: dict):
    changes = dict(changes)
    input_spec = {"dataset": {"path": f"../data/{data_file}"}, "encoders": changes.pop("encoders", SCALER)}
    if "exclude_columns" in changes:
        input_spec["exclude_columns"] = changes.pop("exclude_columns")
    recipe = {
        "name": f"data-{name}",
        "data": {
            "inputs": [input_spec],
            "target": {"column": "y"},
            "stratifier": changes.pop("stratifier", {"size_test": 0.2}),
            "version": "off",
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.linear_model.LogisticRegression",
            **changes,
        },
    }
    path = root / "recipes" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize("name, suffix, write, changes, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_data_is_refused_naming_the_column_or_behaves_as_documented(inside, name, suffix, write, changes, expected):
    slug = "".join(c if c.isalnum() else "-" for c in name)
    data_file = f"{slug}{suffix}"
    write(inside / "data" / data_file)
    recipe = write_recipe(inside, slug, data_file, changes)
    outcome, words = expected
    code, out, err = cli_in_process("--quiet", "train" if outcome == "trains" else "prepare", recipe)
    assert "Traceback" not in err, err[-3000:]
    assert run_counts(inside / "mlflow.db")[1] == 0
    if outcome == "trains":
        assert code == 0 and "1 model(s) finished" in out, err[-2000:]
        return
    assert code == 2, (code, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    for word in words:
        assert word in last, last
