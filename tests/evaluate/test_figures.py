"""Figure builders on hand-made data (no training)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard
from mlflow_qc.evaluate.figures_style import thin
from mlflow_qc.evaluate.figures_training import learning_curve_figures
from mlflow_qc.evaluate.report import Report, figure_dict, plain


def test_skipping_the_first_epochs_rescales_both_axes():
    histories = {
        "a": {
            "loss": [
                10.0,
                5.0,
                1.0,
                0.9,
                0.8,
                0.7,
                0.6,
                0.5,
                0.45,
                0.4,
                0.35,
                0.3,
                0.29,
                0.28,
                0.27,
                0.26,
                0.25,
                0.24,
                0.23,
                0.22,
            ],
            "val_loss": [9.0] + [0.5] * 19,
        }
    }
    (figure,) = learning_curve_figures(histories, skip_first=True)
    assert list(figure.layout.xaxis.range) == [2.5, 19.5]  # round(20 * 0.15) = 3 epochs left out
    low, high = figure.layout.yaxis.range
    assert low < 0.22 and 0.9 < high < 1.2  # the early 10.0 and 9.0 no longer set the scale
    assert [t.name for t in figure.data] == ["train", "evaluation"]


def test_boomerang_filters_and_leaderboard_ranks_lower_loss_first():
    models = pd.DataFrame(
        {
            "job": ["job 0", "job 0", "job 1"],
            "model": ["m0", "m1", "m2"],
            "hyperparameters": ["a=1", "a=1", "a=2"],
            "train_loss": [0.1, 0.2, 0.3],
            "test_loss": [0.4, 0.9, 0.5],
            "train_r2": [0.9, 0.8, 0.7],
            "test_r2": [0.6, 0.1, 0.5],
        }
    )
    full = boomerang_figure(models, "regression")
    assert [b.label for b in full.layout.updatemenus[0].buttons] == ["r2"]
    assert sum(x is not None for x in full.data[0].x) == 4  # job 0: two models x two splits
    filtered = boomerang_figure(models, "regression", max_loss=0.8)
    assert sum(x is not None for x in filtered.data[0].x) == 2
    board = leaderboard(models, "test_loss")
    assert board["job"].tolist() == ["job 1", "job 0"] and board["rank"].tolist() == [1, 2]


def test_thinning_keeps_the_ends_and_short_curves():
    x = np.linspace(0, 1, 1001)
    tx, ty = thin(x, x**2, limit=100)
    assert len(tx) == 100 and tx[0] == 0 and tx[-1] == 1
    short = x[:50]
    assert thin(short, short)[0] is short


def test_report_json_holds_plain_numbers_and_the_page_one_plotly_copy():
    models = pd.DataFrame(
        {"job": ["job 0"], "model": ["m"], "hyperparameters": [""], "train_loss": [0.2], "train_r2": [0.7]}
    )
    report = Report("t")
    report.section("s").figures.append(boomerang_figure(models, "regression"))
    data = json.loads(report.to_json())
    trace = data["sections"][0]["figures"][0]["data"][0]
    assert trace["x"] == [0.2, None] and trace["y"] == [0.7, None]
    encoded = figure_dict(report.figures[0])
    assert plain(encoded)["data"][0]["x"] == [0.2, None] and "template" not in encoded["layout"]
    assert plain({"dtype": "i2", "bdata": "AQACAA==", "shape": "1, 2"}) == [[1, 2]]
    page = report.to_html()
    assert page.count('id="qc-plotly-js"') == 1 and page.count('id="qc-template"') == 1


def predictions_of_two_models(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    frames = []
    for model in ("m0", "m1"):
        p = rng.uniform(size=rows)
        truth = np.where(rng.uniform(size=rows) < p, "pos", "neg")  # calibrated by construction
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "run_id": model,
                    "split": "validation",
                    "row": np.arange(rows),
                    "y_true": truth,
                    "prediction": np.where(p > 0.5, "pos", "neg"),
                    "probability_neg": 1 - p,
                    "probability_pos": p,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_calibration_is_scikit_learns_curve_per_model_and_split():
    from sklearn.calibration import calibration_curve

    from mlflow_qc.evaluate.figures_classification import calibration_figures

    predictions = predictions_of_two_models()
    (figure,) = calibration_figures(predictions, ["neg", "pos"])
    assert figure.layout.title.text == "Calibration: validation" and [t.name for t in figure.data] == ["m0", "m1"]
    first = predictions[predictions["model"] == "m0"]
    observed, mean = calibration_curve(first["y_true"] == "pos", first["probability_pos"], n_bins=10)
    np.testing.assert_allclose(figure.data[0].x, mean)
    np.testing.assert_allclose(figure.data[0].y, observed)
    assert np.max(np.abs(np.asarray(figure.data[0].y) - np.asarray(figure.data[0].x))) < 0.2  # near the diagonal


@pytest.mark.parametrize("bins", [1, 5, 10, 13])
def test_reliability_is_scikit_learns_calibration_curve(bins):
    from sklearn.calibration import calibration_curve

    from mlflow_qc.evaluate.figures_classification import reliability

    rng = np.random.default_rng(bins)
    score = np.r_[0.0, 1.0, 0.5, 0.1, 0.2, rng.uniform(size=500), np.full(7, 0.3)]  # bin edges and ends included
    score[10:60] = rng.uniform(0.6, 0.7, size=50)  # some bins empty at 13 bins
    outcome = (rng.uniform(size=len(score)) < score).astype(np.int64)
    observed, mean = reliability(outcome, score, bins)
    expected_observed, expected_mean = calibration_curve(outcome, score, n_bins=bins)
    np.testing.assert_array_equal(observed, expected_observed)
    np.testing.assert_array_equal(mean, expected_mean)


def test_confusion_counts_are_darkest_where_largest():
    from plotly.colors import unlabel_rgb

    from mlflow_qc.evaluate.figures_classification import confusion_figures

    (figure,) = confusion_figures(predictions_of_two_models(), ["neg", "pos"])
    scale = figure.data[0].colorscale
    lightness = [sum(unlabel_rgb(colour)) for _, colour in scale]
    assert lightness == sorted(lightness, reverse=True)  # 0 -> white ... the largest count -> the darkest blue
    assert figure.data[0].zmin == 0


def test_each_figure_encodes_as_plotly_encodes_it():
    """``figure_dict`` encodes a figure from the dicts it was built from; plotly.js reads the same numbers,
    strings and layout as from plotly's own ``plotly.io.to_json`` (typed arrays may be narrower)."""
    import plotly.io as pio

    from mlflow_qc.evaluate.figures_classification import (
        calibration_figures,
        confidence_figure,
        confusion_figures,
        curves_figures,
    )
    from mlflow_qc.evaluate.figures_style import SOURCE
    from mlflow_qc.evaluate.report import typed

    predictions = predictions_of_two_models()
    classes = ["neg", "pos"]
    built = [
        *calibration_figures(predictions, classes),
        *confusion_figures(predictions, classes),
        *[f for figures in curves_figures(("roc", "pr"), predictions, classes).values() for f in figures],
        confidence_figure(predictions, classes),
        *learning_curve_figures({"a": {"loss": [1.0, 0.5, float("nan")], "val_loss": [1.1, 0.7, 0.6]}}),
        boomerang_figure(
            pd.DataFrame({"job": ["j"], "model": ["m"], "hyperparameters": [""], "train_loss": [0.2], "train_r2": [1]}),
            "regression",
        ),
    ]
    assert len(built) == 7 and all(built)
    for figure in built:
        by_plotly = json.loads(pio.to_json(figure.plotly, validate=False))  # plotly's own figure, built on demand
        by_plotly["layout"].pop("template", None)
        fast = typed(getattr(figure, SOURCE))  # the fast path, not plotly's
        assert fast == figure_dict(figure)
        assert json.loads(json.dumps(plain(fast))) == json.loads(json.dumps(plain(by_plotly))), figure.layout.title
    calibration = figure_dict(built[0])["data"]
    assert any(isinstance(t.get("x"), dict) and set(t["x"]) == {"dtype", "bdata"} for t in calibration)


def test_groups_are_remembered_for_the_same_frame_only():
    from mlflow_qc.evaluate.figures_classification import groups_by_split
    from mlflow_qc.evaluate.figures_style import ordered_splits

    predictions = predictions_of_two_models()
    first = groups_by_split(predictions)
    assert groups_by_split(predictions) is first  # the report's builders share one grouping
    other = predictions[predictions["model"] == "m1"].reset_index(drop=True)
    assert list(groups_by_split(other)["validation"]) == [("m1", "m1")]
    for split in ("train", "test", "validation"):  # a frame that died: its id may be reused, its result is not
        assert ordered_splits(pd.DataFrame({"split": [split]})) == [split]
