"""trainer.baseline: a Dummy job beside the others, and every job tested against it (corrected
resampled t-test) in the tags, the leaderboard, the head-to-head and the gate of the registration."""

from __future__ import annotations

import json
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlflow_qc.evaluate.comparison import baseline_verdicts
from tests.guard_data import DATA, guard_recipe, inside, new_guard_project, tracking_uri, train

METRIC = "fold_validation_accuracy"


def models(rows):
    return pd.DataFrame(rows, columns=["job", "fold_index", "repeat_index", METRIC, "fold_validation_loss"])


def test_a_verdict_needs_a_real_difference_in_the_better_direction():
    table = models(
        [
            *[("baseline", k, 0, 0.60, 0.9) for k in range(4)],
            *[("job 0", k, 0, 0.80 + 0.01 * k, 0.5 + 0.01 * k) for k in range(4)],  # clearly better
            *[("job 1", k, 0, 0.50 - 0.01 * k, 1.1 + 0.02 * k) for k in range(4)],  # clearly worse
            *[("job 2", k, 0, 0.60 + (0.02 if k % 2 else -0.02), 0.9) for k in range(4)],  # no difference
            ("job 3", 0, 0, 0.95, 0.1),  # one shared fold: no test
        ]
    )
    sizes = {"fold_validation": (90.0, 30.0)}
    verdicts = baseline_verdicts(table, sizes, METRIC).set_index("job")
    assert verdicts["beats_baseline"].to_dict() == {"job 0": True, "job 1": False, "job 2": False, "job 3": False}
    assert verdicts.loc["job 0", "p_value"] < 0.05 and verdicts.loc["job 1", "p_value"] < 0.05
    assert verdicts.loc["job 2", "p_value"] > 0.5 and math.isnan(verdicts.loc["job 3", "p_value"])
    assert verdicts.loc["job 0", "baseline_mean"] == pytest.approx(0.60)
    by_loss = baseline_verdicts(table, sizes, "fold_validation_loss").set_index("job")["beats_baseline"]
    assert by_loss["job 0"] and not by_loss["job 1"]  # lower is better for a loss
    assert baseline_verdicts(table[table["job"] != "baseline"], sizes, METRIC).empty


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Two trainings with a baseline: 1-nearest-neighbour on a feature shuffled against the labels
    (registered with a gate), and a logistic regression on the feature that decides them."""
    root = new_guard_project(tmp_path_factory.mktemp("baseline") / "project")
    shuffled = train(
        root,
        guard_recipe(
            "shuffled",
            ["shuffled"],
            "sklearn.neighbors.KNeighborsClassifier",
            {"n_neighbors": [1]},
            trainer={"baseline": True},
            register={"model_name": "shuffled-model", "gate": 0.05},
        ),
    )
    learns = train(root, guard_recipe("learns", ["signal"], trainer={"baseline": True}))
    return root, shuffled, learns


def client_of(root):
    return mlflow.MlflowClient(tracking_uri(root))


def runs(root, result, level: str) -> list:
    return client_of(root).search_runs([result.experiment_id], f"tags.`qc.level` = '{level}'", max_results=1000)


def artifact(root, run_id: str, path: str):
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=tracking_uri(root))


def job_named(root, result, name: str):
    return next(run for run in runs(root, result, "job") if run.info.run_name.split(":")[0] == name)  # "job 0: C=1.0"


def p_by_hand(root, result, job_index: int) -> float:
    """Nadeau and Bengio's corrected t-test of a job against the baseline, from qc/metrics.csv and qc/splits.json."""
    table = pd.read_csv(artifact(root, result.run_id, "qc/metrics.csv"))
    splits = json.loads(open(artifact(root, result.run_id, "qc/splits.json")).read())
    pairs = table[table["job_index"] == job_index].merge(table[table["baseline"]], on=["fold_index", "repeat_index"])
    if all(pairs.groupby("fold_index")[f"{METRIC}_{side}"].nunique().max() == 1 for side in "xy"):
        pairs = pairs[pairs["repeat_index"] == 0]  # deterministic models on both sides: one pair per fold
    d = (pairs[f"{METRIC}_x"] - pairs[f"{METRIC}_y"]).to_numpy()
    n_train = np.mean([len(f["train"]) for f in splits["folds"]])
    n_test = np.mean([len(f["fold_validation"]) for f in splits["folds"]])
    t = d.mean() / math.sqrt((1 / len(d) + n_test / n_train) * d.var(ddof=1))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def test_a_job_worse_than_the_baseline_is_marked_not_beating_it_with_its_p_value(project):
    root, shuffled, _ = project
    job = job_named(root, shuffled, "job 0")
    expected = p_by_hand(root, shuffled, 0)
    assert job.data.tags["qc.beats_baseline"] == "false"
    assert job.data.metrics["baseline_p_value"] == pytest.approx(expected, rel=1e-9)
    assert job.data.tags["qc.baseline_p_adjustment"] == "Holm over 1 job(s)"
    experiment = client_of(root).get_run(shuffled.run_id)
    assert experiment.data.tags["qc.beats_baseline"] == "false"  # the best job's verdict
    assert experiment.data.metrics["baseline_p_value"] == pytest.approx(expected, rel=1e-9)

    report = json.loads(open(artifact(root, shuffled.run_id, "qc/report.json")).read())
    board_section = next(s for s in report["sections"] if s["title"] == "Leaderboard")
    [board] = board_section["tables"].values()
    rows = {row["job"]: row for row in board}
    assert rows["job 0"]["beats baseline"] == "no" and rows["job 0"]["baseline p (Holm)"] == pytest.approx(
        expected, rel=1e-6
    )  # one job: Holm leaves p
    assert rows["baseline"]["rank"] is None and rows["job 0"]["rank"] == 1
    assert any(
        note.startswith("Not beating the baseline") and note.endswith("job 0.") for note in board_section["notes"]
    )
    head_to_head = open(artifact(root, shuffled.run_id, "qc/compare.md")).read()
    against = head_to_head.split("## Against the baseline", 1)[1].split("##", 1)[0]
    assert f"| job 0 | {METRIC} | 4 |" in against and against.strip().splitlines()[-1].endswith(
        "| no |"
    )  # 4 folds: repeats identical
    assert "p (Holm)" in against and "Identical repeats: " in head_to_head


def test_a_job_that_learns_beats_the_baseline(project):
    root, _, learns = project
    job = job_named(root, learns, "job 0")
    assert job.data.tags["qc.beats_baseline"] == "true"
    expected = p_by_hand(root, learns, 0)
    assert job.data.metrics["baseline_p_value"] == pytest.approx(expected, rel=1e-9) and expected < 0.05
    head_to_head = open(artifact(root, learns.run_id, "qc/compare.md")).read()
    assert (
        head_to_head.split("## Against the baseline", 1)[1]
        .split("##", 1)[0]
        .strip()
        .splitlines()[-1]
        .endswith("| yes |")
    )


def test_the_baseline_predicts_the_majority_of_each_fold_on_the_same_folds_and_repeats_and_is_never_best(project):
    root, shuffled, _ = project
    baseline = job_named(root, shuffled, "baseline")
    assert baseline.data.tags["qc.baseline"] == "true" and baseline.data.tags["qc.job_index"] == "-1"
    assert baseline.data.params == {"strategy": "most_frequent"}
    experiment = client_of(root).get_run(shuffled.run_id)
    assert experiment.data.tags["qc.best_job_run_id"] == job_named(root, shuffled, "job 0").info.run_id
    model_runs = runs(root, shuffled, "model")
    identity = lambda run: (run.data.tags["qc.fold_index"], run.data.tags["qc.repeat_index"])  # noqa: E731
    own = [run for run in model_runs if run.data.tags.get("qc.baseline") == "true"]
    others = [run for run in model_runs if run.data.tags.get("qc.baseline") != "true"]
    assert sorted(map(identity, own)) == sorted(map(identity, others)) and len(own) == 4 * 2
    labels = pd.read_csv(root / "data" / DATA)["label"]
    splits = json.loads(open(artifact(root, shuffled.run_id, "qc/splits.json")).read())
    for run in own:
        fold = splits["folds"][int(run.data.tags["qc.fold_index"])]
        majority = labels.iloc[fold["train"]].mode()[0]
        held_out = labels.iloc[fold["fold_validation"]]
        assert run.data.metrics[METRIC] == pytest.approx((held_out == majority).mean(), abs=1e-12)


def test_a_model_that_does_not_beat_the_baseline_never_takes_the_alias(project):
    root, shuffled, _ = project
    client = client_of(root)
    [found] = client.search_model_versions("name = 'shuffled-model'")
    version = client.get_model_version("shuffled-model", found.version)
    assert version.aliases == ["challenger"]
    assert "does not beat the baseline job" in version.description and version.tags["qc.gate"] == "0.05"
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("shuffled-model", "champion")


def test_rerunning_reuses_the_baseline_job(project):
    root, shuffled, _ = project
    again = train(
        root,
        guard_recipe(
            "shuffled",
            ["shuffled"],
            "sklearn.neighbors.KNeighborsClassifier",
            {"n_neighbors": [1]},
            trainer={"baseline": True},
        ),
    )
    assert again.finished == again.reused == 16
    with inside(root):
        jobs = [run for run in runs(root, again, "job") if run.data.tags["mlflow.parentRunId"] == again.run_id]
        assert [run.info.run_name for run in jobs].count("baseline") == 1


def test_the_baseline_alone_is_no_success_and_is_never_registered(project):
    from mlflow_qc.run.experiment_run import NothingSucceeded

    root, _, _ = project
    # a combination scikit-learn refuses only in fit (each value alone passes the recipe check)
    failing = guard_recipe(
        "failing",
        ["signal"],
        hyperparameters={"solver": ["lbfgs"], "penalty": ["l1"]},
        trainer={"baseline": True},
        register={"model_name": "never-registered"},
    )
    with pytest.raises(NothingSucceeded, match="8 of 16 models failed"):
        train(root, failing)
    client = client_of(root)
    experiment = client.get_experiment_by_name("failing")
    [run] = client.search_runs([experiment.experiment_id], "tags.`qc.level` = 'experiment'")
    assert run.info.status == "FAILED"
    statuses = {
        job.info.run_name: job.info.status
        for job in client.search_runs([experiment.experiment_id], "tags.`qc.level` = 'job'")
    }
    assert statuses == {"baseline": "FINISHED", "job 0: solver=lbfgs penalty=l1": "FAILED"}
    assert client.search_registered_models("name = 'never-registered'") == []
