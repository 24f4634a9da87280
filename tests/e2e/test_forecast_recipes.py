"""Forecasting and grouped recipes of recipes/ trained for real through ``mlflow run``: windows that
share no time step across splits and folds (read from qc/splits.json alone), scalers fit on each
fold's training time range alone, a served forecaster, image forecasting, and the leak that a
shuffled split of grouped data hides."""

import json
import pickle

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from mlflow_qc.models.metrics import FORECASTING_METRICS
from tests.e2e.test_nd_recipes import trained
from tests.serve.serving_helpers import invoke, scoring_server, served_frame, split_payload

pytestmark = pytest.mark.e2e

COLUMNS = ["temperature", "humidity", "wind", "pressure"]


@pytest.fixture(scope="module")
def climate(tmp_path_factory):
    return trained(tmp_path_factory, "climate_keras.yaml", "climate")


@pytest.fixture(scope="module")
def moon(tmp_path_factory):
    return trained(tmp_path_factory, "moon_pytorch.yaml", "moon")


def covered(spans) -> set[int]:
    return {step for first, last in spans for step in range(first, last + 1)}


def artifact(project, run_id: str, path: str):
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=project.tracking_uri)


def test_climate_windows_share_no_time_step_across_splits_and_folds(climate):
    project, levels = climate
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 1, "fold": 3, "model": 3}
    splits = json.loads(open(artifact(project, project.run_id, "qc/splits.json")).read())
    steps = {name: covered(spans) for name, spans in splits["steps"].items()}
    assert set(steps) == {"train", "validation", "test"}
    names = list(steps)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert steps[a].isdisjoint(steps[b]), (a, b)
    assert max(steps["train"]) < min(steps["validation"]) and max(steps["validation"]) < min(steps["test"])
    assert len(splits["folds"]) == 3
    for fold in splits["folds"]:
        train, held = covered(fold["steps"]["train"]), covered(fold["steps"]["fold_validation"])
        assert train.isdisjoint(held) and max(train) < min(held) and held <= steps["train"]
        assert [first for first, _ in fold["steps"]["train"]] == fold["train"]  # aligned with the window positions


def test_each_folds_scaler_is_fit_on_its_training_time_range_alone(climate):
    project, levels = climate
    splits = json.loads(open(artifact(project, project.run_id, "qc/splits.json")).read())
    series = pd.read_parquet(project.root / "data" / "delhi_climate.parquet")[COLUMNS]
    for run in levels["model"]:
        fold = int(run.data.tags["qc.fold_index"])
        with open(artifact(project, run.info.run_id, "model/data/qc/pipeline.pkl"), "rb") as handle:
            scaler = pickle.load(handle).inputs[0].inner.encoders[0].fitted[0]
        alone = StandardScaler().fit(series.iloc[sorted(covered(splits["folds"][fold]["steps"]["train"]))])
        np.testing.assert_allclose(scaler.mean_, alone.mean_, rtol=1e-12)
        np.testing.assert_allclose(scaler.scale_, alone.scale_, rtol=1e-12)


def test_climate_metrics_of_every_split_on_the_original_scale(climate):
    project, levels = climate
    for run in levels["model"]:
        for split in ("train", "fold_validation", "validation", "test"):
            assert {f"{split}_{m}" for m in FORECASTING_METRICS} <= set(run.data.metrics)
        predictions = pd.read_parquet(artifact(project, run.info.run_id, "qc/predictions.parquet"))
        assert set(predictions["horizon"]) == set(range(1, 8))
        test = predictions[predictions["split"] == "test"]
        mae = np.mean([np.abs(test[f"y_true_{c}"] - test[f"prediction_{c}"]).mean() for c in COLUMNS])
        assert mae == pytest.approx(run.data.metrics["test_mae"], rel=1e-9)
        assert (
            test["y_true_temperature"].between(0, 50).all()
        )  # degrees Celsius: the original scale, not the scaled one
    report = json.loads(open(artifact(project, levels["job"][0].info.run_id, "qc/report.json")).read())
    titles = {s["title"]: s for s in report["sections"]}
    assert len(titles["Forecasts"]["figures"]) == 4 and len(titles["Error by horizon"]["figures"]) == 1


def test_a_served_forecaster_answers_a_test_window_as_in_process(climate, monkeypatch):
    project, levels = climate
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    splits = json.loads(open(artifact(project, project.run_id, "qc/splits.json")).read())
    start = splits["splits"]["test"][0]
    series = pd.read_parquet(project.root / "data" / "delhi_climate.parquet")[COLUMNS]
    window = series.iloc[start : start + 28].reset_index(drop=True)
    uri = levels["model"][0].data.tags["qc.model_uri"]
    expected = mlflow.pyfunc.load_model(uri).predict(window)
    assert expected.shape == (7, 4) and list(expected.columns) == COLUMNS
    with scoring_server(project, uri) as url:
        served = served_frame(invoke(url, split_payload(window)))
        pd.testing.assert_frame_equal(served, expected, check_exact=False, rtol=1e-6)
        short = invoke(url, split_payload(window.iloc[:27]))
        assert short.status_code == 400 and "27 rows; expected 28 rows" in short.json()["message"]
        pd.testing.assert_frame_equal(served_frame(invoke(url, split_payload(window))), served)

    from mlflow_qc import Inference

    aligned = Inference(uri).predict(series.iloc[start - 40 : start + 28], record_shifted=True)
    row = aligned[(aligned["window"] == 40) & (aligned["horizon"] == 1)].iloc[0]
    assert row["step"] == 68 and row["temperature"] == pytest.approx(expected["temperature"][0], rel=1e-6)
    assert np.isnan(aligned["actual_temperature"].iloc[-1]) and not np.isnan(aligned["actual_temperature"].iloc[0])


def test_image_forecasting_of_moon_frames(moon, monkeypatch):
    project, levels = moon
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 1, "model": 1}
    [run] = levels["model"]
    assert run.data.metrics["test_r2"] > 0.5
    from PIL import Image

    frames = sorted((project.root / "data" / "liberty_moon").glob("*.png"))
    pixels = np.stack([np.asarray(Image.open(f))[None] for f in frames]).astype(np.float64)
    model = mlflow.pyfunc.load_model(run.data.tags["qc.model_uri"])
    forecast = np.asarray(model.predict(pixels[12:14]))
    assert forecast.shape == (1, 1, 60, 50)
    assert np.abs(forecast[0] - pixels[14]).mean() < np.abs(pixels[13] - pixels[14]).mean() * 2


def test_a_grouped_split_shows_what_a_shuffled_one_hides(tmp_path_factory):
    _, grouped = trained(tmp_path_factory, "patients_grouped.yaml", "patients-grouped")
    _, shuffled = trained(
        tmp_path_factory, "patients_grouped.yaml", "patients-shuffled", "data.stratifier.group_column=null"
    )
    accuracy = {
        name: float(np.mean([r.data.metrics["test_accuracy"] for r in levels["model"]]))
        for name, levels in (("grouped", grouped), ("shuffled", shuffled))
    }
    message = f"test accuracy: shuffled split {accuracy['shuffled']:.3f}, grouped split {accuracy['grouped']:.3f}"
    assert accuracy["shuffled"] >= 0.95, message  # visits of the test patients were memorised in training
    assert accuracy["grouped"] <= 0.75, message  # held-out patients: near chance
