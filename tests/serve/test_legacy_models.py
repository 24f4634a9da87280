"""Models logged before the package was layered (tests/fixtures/legacy_models) still load and
answer exactly as they did: their MLmodel names ``mlflow_qc.serve.pyfunc`` as loader and their
pickles name the preprocessing classes where they were."""

import shutil
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_models"


@pytest.mark.parametrize("name", ["iris_sklearn", "exoplanets_sklearn", "iris_pytorch"])
def test_a_model_logged_before_the_layering_loads_and_predicts_the_same(name, tmp_path):
    folder = shutil.copytree(FIXTURES / name, tmp_path / name)
    assert "loader_module: mlflow_qc.serve.pyfunc" in (folder / "MLmodel").read_text()
    model = mlflow.pyfunc.load_model(str(folder))
    answers = model.predict(pd.read_parquet(FIXTURES / f"{name}_input.parquet"))
    pd.testing.assert_frame_equal(answers, pd.read_parquet(FIXTURES / f"{name}_expected.parquet"), rtol=1e-9)


def test_a_legacy_model_still_refuses_a_missing_column(tmp_path):
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model(str(shutil.copytree(FIXTURES / "iris_sklearn", tmp_path / "model")))
    rows = pd.read_parquet(FIXTURES / "iris_sklearn_input.parquet").drop(columns=["petal_width"])
    with pytest.raises(MlflowException, match="petal_width"):
        model.predict(rows)
