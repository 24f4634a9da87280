"""Job and experiment reports: the numbers on the plots agree with the logged metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

pytestmark = pytest.mark.e2e


def figures(report: dict, title_start: str) -> list:
    """The report's figures rebuilt from their JSON (arrays come back as numpy arrays)."""
    rebuilt = [pio.from_json(json.dumps(f)) for s in report["sections"] for f in s["figures"]]
    return [f for f in rebuilt if f.layout.title.text.startswith(title_start)]


def model_metrics(trained, run_id: str) -> dict:
    return trained.client().get_run(run_id).data.metrics


def test_roc_area_from_the_plot_data_equals_the_logged_roc_auc(sonar_binary):
    for job in sonar_binary.runs("job"):
        traces = [t for f in figures(sonar_binary.report(job.info.run_id), "ROC") for t in f.data if t.meta]
        assert len(traces) == 6 * 3  # 3 folds x 2 repeats, each on train, fold_validation, test
        for trace in traces:
            meta = trace.meta
            area = np.trapezoid(trace.y, trace.x)
            assert area == pytest.approx(
                model_metrics(sonar_binary, meta["run_id"])[f"{meta['split']}_roc_auc"], abs=1e-12
            )


def test_confusion_matrices_sum_to_the_split_sizes(sonar_binary):
    splits = json.loads(sonar_binary.artifact(sonar_binary.run_id, "qc/splits.json").read_text())
    job = sonar_binary.runs("job")[0]
    tags = {m.info.run_id: m.data.tags for m in sonar_binary.runs("model")}
    heatmaps = [t for f in figures(sonar_binary.report(job.info.run_id), "Confusion matrix") for t in f.data]
    assert len(heatmaps) == 18
    for heatmap in heatmaps:
        meta = heatmap.meta
        fold = int(tags[meta["run_id"]]["qc.fold_index"])
        expected = (
            len(splits["folds"][fold][meta["split"]]) if meta["split"] != "test" else len(splits["splits"]["test"])
        )
        assert np.sum(heatmap.z) == expected
        assert list(heatmap.x) == list(heatmap.y) == ["M", "R"]  # class names, not indices


def test_job_report_is_one_page_sharing_the_experiments_plotly_js_with_rebuildable_figures(sonar_binary):
    from plotly.offline import get_plotlyjs

    job = sonar_binary.runs("job")[0]
    page = sonar_binary.artifact(job.info.run_id, "qc/report.html").read_text()
    assert 'id="qc-plotly-js"' not in page and page.count('id="qc-plotly-shared"') == 1  # not embedded: linked
    assert "<script src" not in page and "cdn.plot.ly" not in page
    assert len(page.encode()) < 500_000
    shared = json.loads(
        page.split('<script id="qc-plotly-shared" type="application/json">', 1)[1].split("</script>", 1)[0]
    )
    assert shared == {
        "run": sonar_binary.run_id,
        "path": "qc/plotly.mjs",
        "relative": f"../../../{sonar_binary.run_id}/artifacts/qc/plotly.mjs",
    }
    assert (
        sonar_binary.artifact(sonar_binary.run_id, "qc/plotly.mjs").read_text() == get_plotlyjs()
    )  # once, on the experiment run
    experiment_page = sonar_binary.artifact(sonar_binary.run_id, "qc/report.html").read_text()
    assert 'id="qc-plotly-shared"' in experiment_page and 'id="qc-plotly-js"' not in experiment_page
    report = sonar_binary.report(job.info.run_id)
    sections = [s["title"] for s in report["sections"]]
    # the figures first (the page opens on them), the tables of numbers last
    assert sections == [
        "ROC curves",
        "Precision-recall curves",
        "Calibration",
        "Confusion matrices",
        "Confidence",
        "Metrics",
    ]
    rebuilt = figures(report, "")
    assert len(rebuilt) == 3 + 3 + 3 + 3 + 1 and all(f.data for f in rebuilt)
    assert page.count('class="qc-figure"') == len(rebuilt)


def test_confidence_shows_every_model_on_one_held_out_row(sonar_binary):
    job = sonar_binary.runs("job")[0]
    (figure,) = figures(sonar_binary.report(job.info.run_id), "Confidence")
    models = figure.data[1]
    assert len(models.y) == 6 and "(test)" in figure.layout.title.text
    assert all(0 <= p <= 1 for p in models.y)


def test_multiclass_roc_weighted_over_classes_equals_the_logged_roc_auc(iris_mlp):
    job = iris_mlp.runs("job")[0]
    report = iris_mlp.report(job.info.run_id)
    areas: dict[tuple, float] = {}
    for trace in (t for f in figures(report, "ROC") for t in f.data if t.meta):
        key = (trace.meta["run_id"], trace.meta["split"])
        areas[key] = areas.get(key, 0.0) + trace.meta["weight"] * np.trapezoid(trace.y, trace.x)
    assert len(areas) == 2 * 3
    for (run_id, split), area in areas.items():
        assert area == pytest.approx(model_metrics(iris_mlp, run_id)[f"{split}_roc_auc"], abs=1e-9)


def test_learning_curves_come_from_the_epoch_history(iris_mlp):
    job = iris_mlp.runs("job")[0]
    model = iris_mlp.runs("model")[0]
    history = [m.value for m in iris_mlp.client().get_metric_history(model.info.run_id, "loss")]
    (loss,) = figures(iris_mlp.report(job.info.run_id), "Learning curve: loss")
    label = f"repeat {model.data.tags['qc.repeat_index']}"
    (trace,) = [t for t in loss.data if t.meta["model"] == label]
    assert list(trace.y) == pytest.approx(history) and len(history) > 5
    buttons = loss.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["all epochs", "skip first 15%"]
    longest = max(len(t.y) for t in loss.data)
    assert buttons[1].args[0]["xaxis.range"][0] == pytest.approx(round(longest * 0.15) - 0.5)


def test_regression_report_plots_predictions_against_actual_per_split(exoplanets_regression):
    trained = exoplanets_regression
    job, model = trained.runs("job")[0], trained.runs("model")[0]
    predictions = pd.read_parquet(trained.artifact(model.info.run_id, "qc/predictions.parquet"))
    report = trained.report(job.info.run_id)
    (versus,) = figures(report, "Predicted against actual")
    (residuals,) = figures(report, "Residuals")
    assert [t.name for t in versus.data] == ["train", "validation", "test"]
    test = predictions[predictions["split"] == "test"]
    assert sorted(versus.data[2].x) == pytest.approx(sorted(test["y_true"]))
    assert sorted(versus.data[2].y) == pytest.approx(sorted(test["prediction"]))
    assert sorted(np.add(residuals.data[2].x, residuals.data[2].y)) == pytest.approx(sorted(test["y_true"]))


def test_experiment_report_has_the_boomerang_leaderboard_and_head_to_head(sonar_binary):
    report = sonar_binary.report(sonar_binary.run_id)
    (boomerang,) = figures(report, "Models by split")
    scores = [b.label for b in boomerang.layout.updatemenus[0].buttons]
    assert scores == ["accuracy", "f1", "precision", "recall", "roc_auc"]
    visible = [t for t in boomerang.data if t.visible is not False]
    assert len(visible) == 2  # one trace per job for the first score
    models = pd.read_csv(sonar_binary.artifact(sonar_binary.run_id, "qc/metrics.csv"))
    job0 = models[models["job_index"] == 0]
    points = [(x, y) for x, y in zip(visible[0].x, visible[0].y) if x is not None]
    expected = [
        (r[f"{s}_loss"], r[f"{s}_accuracy"]) for _, r in job0.iterrows() for s in ("train", "fold_validation", "test")
    ]
    assert len(points) == 6 * 3
    assert np.allclose(sorted(points), sorted(expected))
    (leaderboard,) = [s for s in report["sections"] if s["title"] == "Leaderboard"]
    board = next(iter(leaderboard["tables"].values()))
    assert [row["rank"] for row in board] == [1, 2]
    means = [row["fold_validation_accuracy mean"] for row in board]
    assert means == sorted(means, reverse=True)
    compare = sonar_binary.artifact(sonar_binary.run_id, "qc/compare.md").read_text()
    assert "## Pairwise tests" in compare and "| job 0 | job 1 |" in compare
