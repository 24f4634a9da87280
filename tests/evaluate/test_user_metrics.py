"""evaluation.metrics: a user's own function scored beside the built-in metrics, ranking and registering."""

from __future__ import annotations

import copy
import json
import textwrap

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.models.user_metrics import check_user_metrics, user_metrics
from mlflow_qc.recipe import Evaluation
from mlflow_qc.tracking.names import higher_is_better
from tests.evaluate.conftest import SIGNAL_FORESTS, train

METRIC_MODULE = """
import numpy as np

def errors(y_true, y_pred, y_proba):
    # wrong answers per 100 samples, on the original labels ("neg"/"pos"): lower is better
    assert set(np.unique(y_true)) <= {"neg", "pos"} and y_proba.shape[1] == 2
    return 100.0 * float(np.mean(np.asarray(y_true) != np.asarray(y_pred)))

def raises(y_true, y_pred, y_proba):
    return 1 / 0

def text(y_true, y_pred, y_proba):
    return "high"
"""


def module_file(tmp_path) -> str:
    path = tmp_path / "my_metrics.py"
    path.write_text(textwrap.dedent(METRIC_MODULE))
    return str(path)


def evaluation(path: str, *functions: tuple[str, str, bool]) -> Evaluation:
    return Evaluation.model_validate(
        {
            "metrics": [
                {"name": name, "function": f"{path}:{function}", "greater_is_better": greater}
                for name, function, greater in functions
            ]
        }
    )


@pytest.fixture(scope="module")
def user_metric_training(tmp_path_factory):
    path = module_file(tmp_path_factory.mktemp("metric_code"))
    # the signal forests of the shared fixtures, two folds, one strong and one crippled job (a leaf of
    # 10,000 rows answers the majority class), ranked by the user's lower-is-better metric
    recipe = copy.deepcopy(SIGNAL_FORESTS)
    recipe["seed"] = 4
    recipe["data"]["stratifier"]["fold_count"] = 2
    recipe["model"]["hyperparameters"] = {"n_estimators": [10], "min_samples_leaf": [10000, 5], "random_state": [0]}
    del recipe["trainer"]  # the defaults
    recipe["evaluation"] = {"metrics": [{"name": "errors", "function": f"{path}:errors", "greater_is_better": False}]}
    recipe["register"] = {"model_name": "signal-by-errors", "metric": "fold_validation_errors"}
    return train(tmp_path_factory, "user-metric", recipe), path


@pytest.mark.e2e
def test_a_user_metric_is_logged_aggregated_and_ranks_and_registers_lowest_first(user_metric_training, enter):
    trained, path = enter(user_metric_training[0]), user_metric_training[1]
    client = trained.client()
    experiment = client.get_run(trained.run_id)
    assert json.loads(experiment.data.tags["qc.metric_directions"]) == {"errors": False}
    assert len(experiment.data.tags["qc.metric_digest.errors"]) == 64
    function = user_metrics(evaluation(path, ("errors", "errors", False)).metrics)[0]
    for run in trained.runs("model"):
        predictions = pd.read_parquet(trained.artifact(run.info.run_id, "qc/predictions.parquet"))
        for split, frame in predictions.groupby("split", observed=True):
            expected = 100.0 * np.mean(frame["y_true"].astype(str) != frame["prediction"].astype(str))
            assert run.data.metrics[f"{split}_errors"] == pytest.approx(expected)
            assert function(
                frame["y_true"].astype(str).to_numpy(),
                frame["prediction"].astype(str).to_numpy(),
                frame[["probability_neg", "probability_pos"]].to_numpy(),
            ) == pytest.approx(expected)
    jobs = {run.data.params["min_samples_leaf"]: run for run in trained.runs("job")}
    crippled, strong = jobs["10000"].data.metrics, jobs["5"].data.metrics
    assert strong["fold_validation_errors_mean"] < crippled["fold_validation_errors_mean"]
    # ranked lowest first: the strong job is the best and the registered one
    assert experiment.data.tags["qc.best_job_run_id"] == jobs["5"].info.run_id
    [version] = client.search_model_versions("name = 'signal-by-errors'")
    assert version.tags["qc.metric"] == "fold_validation_errors"
    assert version.tags["qc.job_run_id"] == jobs["5"].info.run_id
    # the version is described by its job's mean over folds and repeats (not the luckiest model's score)
    assert float(version.tags["qc.metric_value"]) == pytest.approx(strong["fold_validation_errors_mean"])
    compare = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/qc/compare.md")
    assert "fold_validation_errors" in compare
    assert not higher_is_better("fold_validation_errors")  # this process read the experiment's directions


def test_a_metric_that_raises_or_answers_no_number_is_named_before_training(tmp_path):
    path = module_file(tmp_path)
    for name, function, said in (
        ("boom", "raises", "raised ZeroDivisionError"),
        ("word", "text", "returned str 'high'"),
    ):
        metrics = user_metrics(evaluation(path, (name, function, True)).metrics)
        with pytest.raises(QCError, match=f"evaluation.metrics {name} .*{function}.*{said}"):
            check_user_metrics(metrics, "classification_binary", ["neg", "pos"])
    check_user_metrics(
        user_metrics(evaluation(path, ("errors", "errors", False)).metrics), "classification_binary", ["neg", "pos"]
    )


def test_a_built_in_name_or_a_missing_function_is_refused(tmp_path):
    path = module_file(tmp_path)
    with pytest.raises(QCError, match=r"evaluation.metrics\[0\].name: 'mcc' is a built-in metric"):
        user_metrics(evaluation(path, ("mcc", "errors", True)).metrics)
    with pytest.raises(QCError, match="defines no function missing"):
        user_metrics(evaluation(path, ("mine", "missing", True)).metrics)


def test_a_user_metric_travels_as_source_not_as_a_function(tmp_path):
    import pickle

    path = module_file(tmp_path)
    [metric] = user_metrics(evaluation(path, ("errors", "errors", False)).metrics)
    (tmp_path / "my_metrics.py").unlink()  # a Dask worker on another machine has no copy of the file
    copy = pickle.loads(pickle.dumps(metric))
    assert copy(np.array(["pos", "neg"]), np.array(["pos", "pos"]), np.array([[0.2, 0.8], [0.4, 0.6]])) == 50.0


def test_a_user_metric_picks_the_decision_threshold_the_way_it_ranks(tmp_path):
    from mlflow_qc.models.threshold import choose_threshold

    path = module_file(tmp_path)
    [errors] = user_metrics(evaluation(path, ("errors", "errors", False)).metrics)
    truth = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.9])
    threshold = choose_threshold("errors", truth, scores, errors, ["neg", "pos"])
    predicted = (scores > threshold).astype(int)
    assert 0.2 < threshold < 0.3 and np.sum(predicted != truth) == 1  # the fewest errors any cut gives
    for cut in np.unique(scores):
        assert np.sum((scores >= cut).astype(int) != truth) >= 1


def test_a_threshold_names_a_rule_or_one_of_the_recipes_metrics(tmp_path):
    from mlflow_qc.recipe import recipe_from_dict

    path = module_file(tmp_path)
    raw = {
        "data": {
            "inputs": [{"dataset": {"path": path}}],
            "target": {"column": "x"},
            "stratifier": {"size_validation": 0.2},
        },
        "evaluation": {"metrics": [{"name": "errors", "function": f"{path}:errors", "greater_is_better": False}]},
        "model": {"library": "sklearn", "analysis_type": "classification_binary", "estimator": "sklearn.svm.SVC"},
    }
    assert recipe_from_dict({**raw, "trainer": {"threshold": "errors"}}).trainer.threshold == "errors"
    with pytest.raises(
        QCError, match=r"trainer.threshold: expected f1 or youden .*evaluation.metrics \['errors'\]; got 'precision'"
    ):
        recipe_from_dict({**raw, "trainer": {"threshold": "precision"}})


def test_finalize_refuses_a_function_changed_since_the_training(tmp_path):
    from mlflow_qc.models.user_metrics import recorded_user_metrics

    path = module_file(tmp_path)
    specs = evaluation(path, ("errors", "errors", False)).metrics
    [trained] = user_metrics(specs)
    assert recorded_user_metrics(specs, {"errors": trained.digest})[0].digest == trained.digest
    (tmp_path / "my_metrics.py").write_text(METRIC_MODULE.replace("100.0 *", "1000.0 *"))
    with pytest.raises(QCError, match="evaluation.metrics errors .*its source changed since the training"):
        recorded_user_metrics(specs, {"errors": trained.digest})
