"""History is append-only (README: "The run tree"): a changed recipe rerun into the same experiment starts a
tree of its own, counts the earlier finished models of unchanged jobs by reference and leaves the earlier
tree exactly as it was; an identical rerun of a finished tree does the same and trains nothing."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from mlflow_qc.tracking.queries import model_runs_below
from tests.guard_data import guard_recipe, new_guard_project, tracking_uri, train

RECIPE = guard_recipe(
    "history", ["signal", "weak"], hyperparameters={"C": [0.01, 1.0]}, stratifier={"size_test": 0.2, "fold_count": 3}
)
CHANGED = guard_recipe(
    "history", ["signal", "weak"], hyperparameters={"C": [0.01, 2.0]}, stratifier={"size_test": 0.2, "fold_count": 3}
)


def snapshot(client, experiment_id) -> dict:
    runs = client.search_runs([experiment_id], run_view_type=3, max_results=1000)
    return {r.info.run_id: (r.info.lifecycle_stage, r.info.status, r.data.tags, r.data.metrics) for r in runs}


def table(root, run_id: str, path: str = "qc/metrics.csv") -> pd.DataFrame:
    return pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=tracking_uri(root))
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = new_guard_project(tmp_path_factory.mktemp("history") / "project")
    first = train(root, RECIPE)
    client = mlflow.MlflowClient(tracking_uri(root))
    before = snapshot(client, first.experiment_id)
    changed = train(root, CHANGED)
    return root, client, first, before, changed


def test_a_changed_grid_leaves_the_earlier_tree_as_it_was(history):
    root, client, first, before, changed = history
    after = snapshot(client, first.experiment_id)
    assert {run_id: after[run_id] for run_id in before} == before  # status, tags (parents too), metrics, lifecycle
    assert changed.run_id != first.run_id and client.get_run(changed.run_id).info.status == "FINISHED"


def test_the_new_tree_counts_the_unchanged_jobs_models_by_reference_in_its_leaderboard(history):
    root, client, first, _, changed = history
    assert changed.reused == 6 and changed.finished == 12  # C=0.01: 3 folds x 2 repeats counted; C=2.0 trained
    assert changed.history.startswith("new experiment run; 6 finished model(s) of experiment run(s) " + first.run_id)
    earlier, models = table(root, first.run_id), table(root, changed.run_id)
    kept = earlier[earlier["hp.C"] == 0.01].sort_values(["fold_index", "repeat_index"])
    counted = models[models["hp.C"] == 0.01].sort_values(["fold_index", "repeat_index"])
    assert list(counted["run_id"]) == list(kept["run_id"])
    assert set(models["hp.C"]) == {0.01, 2.0}
    jobs = table(root, changed.run_id, "qc/metrics_aggregate.csv").set_index("hp.C")
    earlier_jobs = table(root, first.run_id, "qc/metrics_aggregate.csv").set_index("hp.C")
    assert jobs.loc[0.01, "fold_validation_accuracy_mean"] == earlier_jobs.loc[0.01, "fold_validation_accuracy_mean"]
    new_jobs = client.search_runs([changed.experiment_id], f"tags.`mlflow.parentRunId` = '{changed.run_id}'")
    assert len(new_jobs) == 2 and not set(r.info.run_id for r in new_jobs) & set(before_ids(client, first))
    job = next(r for r in new_jobs if r.data.params["C"] == "0.01")
    assert {r.info.run_id for r in model_runs_below(client, job)} == set(kept["run_id"])
    assert job.data.metrics["fold_validation_accuracy_mean"] == earlier_jobs.loc[0.01, "fold_validation_accuracy_mean"]
    assert client.get_run(changed.run_id).data.tags["qc.reused_from"] == first.run_id


def before_ids(client, result) -> list[str]:
    return [
        r.info.run_id
        for r in client.search_runs([result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.run_id}'")
    ]


def test_an_identical_rerun_of_a_finished_tree_trains_nothing_and_changes_nothing(history):
    root, client, _, _, changed = history
    before = snapshot(client, changed.experiment_id)
    again = train(root, CHANGED)
    after = snapshot(client, changed.experiment_id)
    assert {run_id: after[run_id] for run_id in before} == before
    assert again.reused == again.finished == 12 and again.run_id not in before
    assert set(table(root, again.run_id)["run_id"]) == set(table(root, changed.run_id)["run_id"])
