"""Every logged metric equals scikit-learn's on the model run's logged predictions (README, "Metrics")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_qc.models.metrics import classification_metrics, forecasting_metrics, metric_names, regression_metrics

SPLITS = ("train", "fold_validation", "validation", "test")


def predictions_of(trained, run) -> pd.DataFrame:
    return pd.read_parquet(trained.artifact(run.info.run_id, "qc/predictions.parquet"))


def proba_of(frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    columns = [c for c in frame.columns if c.startswith("probability_")]
    return [c[len("probability_") :] for c in columns], frame[columns].to_numpy(dtype=np.float64)


def expected_classification(frame: pd.DataFrame) -> dict[str, float]:
    """scikit-learn's metrics of one split's decoded labels (y_true, prediction) and probabilities."""
    classes, proba = proba_of(frame)
    y, predicted = frame["y_true"].astype(str).to_numpy(), frame["prediction"].astype(str).to_numpy()
    if len(classes) == 2:
        positive = classes[1]
        labelled = dict(pos_label=positive, zero_division=0)
        return {
            "accuracy": skm.accuracy_score(y, predicted),
            "f1": skm.f1_score(y, predicted, **labelled),
            "precision": skm.precision_score(y, predicted, **labelled),
            "recall": skm.recall_score(y, predicted, **labelled),
            "roc_auc": skm.roc_auc_score(y == positive, proba[:, 1]),
            "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
            "mcc": skm.matthews_corrcoef(y, predicted),
            "average_precision": skm.average_precision_score(y == positive, proba[:, 1]),
            "brier": skm.brier_score_loss(y == positive, proba[:, 1]),
            "loss": skm.log_loss(y, proba, labels=classes),
        }
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "mcc": skm.matthews_corrcoef(y, predicted),
        "average_precision": skm.average_precision_score(skm_label_binarize(y, classes), proba, average="weighted"),
        "loss": skm.log_loss(y, proba, labels=classes),
    }
    for average, suffix in (("weighted", ""), ("macro", "_macro")):
        expected[f"f1{suffix}"] = skm.f1_score(y, predicted, average=average, zero_division=0)
        expected[f"precision{suffix}"] = skm.precision_score(y, predicted, average=average, zero_division=0)
        expected[f"recall{suffix}"] = skm.recall_score(y, predicted, average=average, zero_division=0)
    return expected


def skm_label_binarize(y, classes):
    from sklearn.preprocessing import label_binarize

    return label_binarize(y, classes=classes)


def check_logged(trained, model_runs, expected_of, names):
    checked = 0
    for run in model_runs:
        predictions = predictions_of(trained, run)
        logged = run.data.metrics
        for split, frame in predictions.groupby("split", observed=True):
            expected = expected_of(frame)
            assert set(expected) == set(names)
            for name, value in expected.items():
                assert logged[f"{split}_{name}"] == pytest.approx(value, rel=1e-9, abs=1e-12), (
                    run.info.run_id,
                    split,
                    name,
                )
                checked += 1
    return checked


@pytest.mark.e2e
def test_binary_metrics_equal_scikit_learns_on_the_logged_predictions(sonar_binary):
    models = sonar_binary.runs("model")
    checked = check_logged(sonar_binary, models, expected_classification, metric_names("classification_binary"))
    assert checked == len(models) * 3 * 10  # train, fold_validation, test x ten metrics
    job = sonar_binary.runs("job")[0]
    assert {f"fold_validation_{m}_mean" for m in ("mcc", "brier", "average_precision", "balanced_accuracy")} <= set(
        job.data.metrics
    )


@pytest.mark.e2e
def test_multiclass_metrics_equal_scikit_learns_on_the_logged_predictions(iris_mlp):
    models = iris_mlp.runs("model")
    checked = check_logged(iris_mlp, models, expected_classification, metric_names("classification_multi"))
    assert checked == len(models) * 3 * 12
    # weighted recall is accuracy; the macro averages are the ones that say something more
    run = models[0].data.metrics
    assert run["validation_recall"] == pytest.approx(run["validation_accuracy"])


@pytest.mark.e2e
def test_regression_metrics_equal_scikit_learns_on_the_logged_predictions(exoplanets_regression):
    def expected(frame):
        y, predicted = frame["y_true"].to_numpy(np.float64), frame["prediction"].to_numpy(np.float64)
        return {
            "r2": skm.r2_score(y, predicted),
            "mse": skm.mean_squared_error(y, predicted),
            "explained_variance": skm.explained_variance_score(y, predicted),
            "mae": skm.mean_absolute_error(y, predicted),
            "rmse": skm.root_mean_squared_error(y, predicted),
        }

    models = exoplanets_regression.runs("model")
    checked = check_logged(exoplanets_regression, models, expected, {"r2", "mse", "explained_variance", "mae", "rmse"})
    assert checked == len(models) * 3 * 5
    assert all(
        f"validation_{m}" in models[0].data.metrics for m in metric_names("regression")
    )  # loss: the encoded scale


@pytest.mark.e2e
def test_per_class_table_of_a_model_run_equals_scikit_learns(iris_mlp):
    run = iris_mlp.runs("model")[0]
    table = pd.read_csv(iris_mlp.artifact(run.info.run_id, "qc/per_class.csv"))
    assert list(table.columns) == ["split", "class", "support", "precision", "recall", "f1"]
    predictions = predictions_of(iris_mlp, run)
    for split, frame in predictions.groupby("split", observed=True):
        classes, _ = proba_of(frame)
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            frame["y_true"].astype(str), frame["prediction"].astype(str), labels=classes, zero_division=0
        )
        rows = table[table["split"] == split]
        assert list(rows["class"]) == classes
        np.testing.assert_allclose(rows[["precision", "recall", "f1"]].to_numpy(), np.c_[precision, recall, f1])
        assert list(rows["support"]) == list(support)


def test_a_threshold_moves_the_label_metrics_only():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    proba = np.c_[1 - p1, p1]
    default, moved = classification_metrics(y, proba), classification_metrics(y, proba, threshold=0.3)
    predicted = (p1 > 0.3).astype(int)
    assert moved["mcc"] == pytest.approx(skm.matthews_corrcoef(y, predicted))
    assert moved["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, predicted))
    assert moved["f1"] == pytest.approx(skm.f1_score(y, predicted))
    for name in ("roc_auc", "average_precision", "brier", "loss"):  # probabilities: the threshold changes nothing
        assert moved[name] == default[name]
    assert moved["mcc"] != default["mcc"]


def test_regression_and_forecasting_add_mae_and_rmse():
    rng = np.random.default_rng(1)
    y, predicted = rng.normal(size=50), rng.normal(size=50)
    scores = regression_metrics(y, predicted)
    assert scores["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, predicted)))
    assert scores["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    truth, forecast = rng.normal(size=(6, 3, 2)), rng.normal(size=(6, 3, 2))
    scores = forecasting_metrics(truth, forecast)
    assert set(scores) == set(metric_names("forecasting"))
    assert scores["rmse"] == pytest.approx(skm.root_mean_squared_error(truth.reshape(-1, 2), forecast.reshape(-1, 2)))


def test_one_class_split_leaves_the_ranking_metrics_undefined_not_wrong():
    y = np.zeros(5, dtype=int)
    proba = np.c_[np.full(5, 0.8), np.full(5, 0.2)]
    scores = classification_metrics(y, proba)
    assert np.isnan(scores["roc_auc"]) and np.isnan(scores["average_precision"])
    assert scores["accuracy"] == 1.0 and scores["brier"] == pytest.approx(0.04)


def sklearn_label_metrics(y, predicted, k):
    labels = dict(zero_division=0)
    if k == 2:
        expected = {
            name: function(y, predicted, **labels)
            for name, function in (
                ("f1", skm.f1_score),
                ("precision", skm.precision_score),
                ("recall", skm.recall_score),
            )
        }
    else:
        expected = {
            f"{name}{suffix}": function(y, predicted, average=average, **labels)
            for name, function in (
                ("f1", skm.f1_score),
                ("precision", skm.precision_score),
                ("recall", skm.recall_score),
            )
            for average, suffix in (("weighted", ""), ("macro", "_macro"))
        }
    return {
        **expected,
        "accuracy": skm.accuracy_score(y, predicted),
        "mcc": skm.matthews_corrcoef(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "case",
    [
        "binary",
        "binary all one answer",
        "multi",
        "multi class never answered",
        "multi class absent from the labels",
        "multi all right",
    ],
)
def test_label_metrics_equal_scikit_learns_on_edge_cases(case):
    from mlflow_qc.models.metrics import label_metrics

    rng = np.random.default_rng(len(case))
    k = 2 if case.startswith("binary") else 4
    y = rng.integers(0, k, 60)
    predicted = np.where(rng.uniform(size=60) < 0.6, y, rng.integers(0, k, 60))
    if case == "binary all one answer":
        predicted[:] = 1
    elif case == "multi class never answered":
        predicted[predicted == 3] = 0
    elif case == "multi class absent from the labels":
        y[y == 2] = 1
    elif case == "multi all right":
        predicted = y.copy()
    ours, theirs = label_metrics(y, predicted, k), sklearn_label_metrics(y, predicted, k)
    assert set(theirs) <= set(ours)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("k", [2, 3, 5])
def test_per_class_table_equals_scikit_learns_with_classes_absent_or_never_answered(k):
    from mlflow_qc.models.metrics import per_class_table

    rng = np.random.default_rng(k)
    for _ in range(50):
        y = rng.integers(0, k, int(rng.integers(1, 40)))
        predicted = np.where(rng.uniform(size=len(y)) < 0.5, y, rng.integers(0, k, len(y)))
        predicted[predicted == k - 1] = 0  # the last class is never answered
        classes = [f"c{i}" for i in range(k)]
        ours = per_class_table(y, predicted, classes)
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y, predicted, labels=np.arange(k), average=None, zero_division=0
        )
        assert ours["class"] == classes and ours["support"] == support.tolist()
        np.testing.assert_array_equal(
            np.c_[ours["precision"], ours["recall"], ours["f1"]], np.c_[precision, recall, f1]
        )


@pytest.mark.parametrize("classes", [["setosa", "versicolor", "virginica"], [0, 1], ["a,b", 'say "x"']])
def test_per_class_file_is_what_pandas_would_write(tmp_path, classes):
    from types import SimpleNamespace

    from mlflow_qc.evaluate.per_class import per_class_frame, write_per_class

    rng = np.random.default_rng(len(classes))
    k = len(classes)
    pipeline = SimpleNamespace(classes=classes, class_index=lambda label: np.asarray(label))
    splits = {split: (rng.integers(0, k, 40), np.arange(40)) for split in ("train", "validation", "test")}
    outputs = {split: rng.dirichlet(np.ones(k), 40)[:, 1 if k == 2 else slice(None)] for split in splits}
    fitted = SimpleNamespace(
        decoding=("classification", pipeline, splits),
        outputs=outputs,
        threshold=None,
        adapter=SimpleNamespace(is_classification=True),
    )
    path = write_per_class(fitted, tmp_path)
    assert path.read_text() == per_class_frame(fitted).to_csv(index=False)
    assert len(pd.read_csv(path)) == 3 * k
