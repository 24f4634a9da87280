"""Adaptive search through ``mlflow run`` (README: "Adaptive search"): successive halving and Hyperband on
iris with the samples resource; the run tree has a job per candidate and resource, every model says its
resource and rung, the candidates stopped early are tagged and never chosen, the registered model was
fully trained."""

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from mlflow_qc import Experiment, load_recipe
from tests.helpers import held_training, mlflow_run, mlflow_run_args, runs_by_level, sigkill_when_held

pytestmark = pytest.mark.e2e

GRID = {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], "max_iter": [300]}  # 9 candidates


def write_recipe(workspace, name: str, search: dict, grid: dict = GRID, trainer: dict | None = None) -> Path:
    recipe = {
        "name": name,
        "seed": 5,
        "data": {
            "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
            "target": {"column": "species"},
            "stratifier": {"size_test": 0.2, "fold_count": 2},
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_multi",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "hyperparameters": grid,
        },
        "search": search,
        "register": {"model_name": name},
    }
    if trainer:
        recipe["trainer"] = trainer
    path = workspace / "recipes" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    return path


def train(workspace, name: str, search: dict, grid: dict = GRID) -> dict[str, list]:
    result = mlflow_run(name, write_recipe(workspace, name, search, grid))
    assert result.returncode == 0, result.stderr[-3000:]
    return runs_by_level(name)


def check_tree(levels: dict[str, list], name: str) -> tuple[dict, list]:
    """What every adaptive tree must hold; returns (job runs by index, pruned job runs)."""
    [experiment] = levels["experiment"]
    jobs = {int(run.data.tags["qc.job_index"]): run for run in levels["job"]}
    assert len(levels["model"]) == 2 * len(jobs) == int(experiment.data.tags["qc.models_planned"])
    for model in levels["model"]:
        job = next(j for j in jobs.values() if j.data.tags["qc.job_key"] == model.data.tags["qc.job_key"])
        assert model.data.tags["qc.rung"] == job.data.tags["qc.rung"]
        assert model.data.params["resource"] == job.data.tags["qc.resource"]
    full = {i for i, job in jobs.items() if float(job.data.tags["qc.resource"]) == 1.0}
    # a candidate that never trained on all the rows: its furthest job says where it stopped
    furthest: dict[str, float] = {}
    for job in jobs.values():
        furthest[job.data.params["C"]] = max(furthest.get(job.data.params["C"], 0), float(job.data.tags["qc.resource"]))
    pruned = [job for job in jobs.values() if "qc.pruned_at" in job.data.tags]
    assert {job.data.params["C"] for job in pruned} == {c for c, resource in furthest.items() if resource < 1}
    for job in pruned:
        assert job.data.tags["qc.pruned_at"] == job.data.tags["qc.rung"]
        assert float(job.data.tags["qc.resource"]) == furthest[job.data.params["C"]]

    best = int(experiment.data.tags["qc.best_job_index"])
    assert best in full and "qc.pruned_at" not in jobs[best].data.tags
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/metrics_aggregate.csv")
    )
    assert {"resource", "rung", "partial"} <= set(table.columns)
    partial = set(table.loc[table["partial"], "job_index"])
    assert partial == set(jobs) - full
    # the best job is the best of the fully trained ones, even where a partial job scored higher
    fully = table[~table["partial"]]
    assert (
        fully["fold_validation_accuracy_mean"].max()
        == table.loc[table["job_index"] == best, "fold_validation_accuracy_mean"].item()
    )

    [version] = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    assert version.tags["qc.job_index"] == str(best)
    assert mlflow.MlflowClient().get_run(version.run_id).data.params["resource"] == "1.0"
    return jobs, pruned


def test_successive_halving_on_samples(workspace):
    levels = train(workspace, "halving-iris", {"method": "halving", "resource": "samples", "reduction_factor": 3})
    jobs, pruned = check_tree(levels, "halving-iris")
    # 9 candidates on a ninth of each fold's training rows, the best 3 on a third, the best on all of them
    [experiment] = levels["experiment"]
    assert {k: v for k, v in experiment.data.params.items() if k.startswith("search.")} == {
        "search.method": "halving",
        "search.resource": "samples",
        "search.reduction_factor": "3",
        "search.candidates": "grid",
    }
    rungs = sorted((int(job.data.tags["qc.rung"]), job.data.tags["qc.resource"]) for job in jobs.values())
    assert rungs == [(0, "0.111111")] * 9 + [(1, "0.333333")] * 3 + [(2, "1.0")]
    assert len(pruned) == 8
    report = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/report.json")
        ).read_text()
    )
    [section] = [s for s in report["sections"] if s["title"] == "Adaptive search"]
    [figure] = section["figures"]
    assert len(figure["data"]) == 9  # a line per candidate
    assert sorted(int(job.data.tags["qc.pruned_at"]) for job in pruned) == [0] * 6 + [1] * 2


def test_hyperband_on_samples(workspace):
    search = {"method": "hyperband", "resource": "samples", "reduction_factor": 2, "min_resource": 0.5}
    levels = train(workspace, "hyperband-iris", search, grid={"C": [0.01, 1.0], "max_iter": [300]})
    jobs, pruned = check_tree(levels, "hyperband-iris")
    # bracket s=1: both candidates on half the rows, the better on all of them; bracket s=0: both on all of
    # them, where the better one is the job bracket 1 trained already: 4 jobs of the 5 trainings planned
    assert sorted(job.data.tags["qc.resource"] for job in jobs.values()) == ["0.5", "0.5", "1.0", "1.0"]
    assert not pruned  # both candidates reached all the rows

    # a rerun trains nothing new: every model is found again, the rungs rank the same, the search takes the same path
    again = mlflow_run("hyperband-iris", workspace / "recipes" / "hyperband-iris.yaml")
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = runs_by_level("hyperband-iris")
    assert {r.info.run_id for r in rerun["model"]} == {r.info.run_id for r in levels["model"]}
    [first] = levels["experiment"]
    second = max(rerun["experiment"], key=lambda r: r.info.start_time)
    client = mlflow.MlflowClient()
    chosen = [client.get_run(run.data.tags["qc.best_job_run_id"]).data for run in (first, second)]
    assert [(data.params["C"], data.tags["qc.resource"]) for data in chosen] == [(chosen[0].params["C"], "1.0")] * 2
    tables = [
        pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="qc/metrics.csv"))
        for run in (first, second)
    ]
    assert sorted(tables[0]["run_id"]) == sorted(tables[1]["run_id"])


IRIS_TORCH = """
from torch import nn


def fn_build(features_shape, label_shape, **hp):
    return nn.Sequential(nn.Linear(features_shape[-1], hp["neuron_count"]), nn.ReLU(),
                         nn.Linear(hp["neuron_count"], label_shape[-1]), nn.Softmax(dim=1))
"""


def best_neurons(levels, result) -> str:
    return next(j for j in levels["job"] if j.data.tags["qc.job_index"] == str(result.best_job_index)).data.params[
        "neuron_count"
    ]


def test_halving_on_epochs_in_python(workspace):
    """The epochs resource sets the default training's epochs rung by rung; the best candidate's second rung
    continues the model of its first (same candidate, fold and seed): 4 more epochs, not 6."""

    (workspace / "models").mkdir(exist_ok=True)
    (workspace / "models" / "iris_net.py").write_text(IRIS_TORCH)
    recipe = {
        "name": "epochs-iris",
        "seed": 5,
        "data": {
            "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
            "target": {"column": "species", "encoder": {"sklearn": "OneHotEncoder"}},
            "stratifier": {"size_test": 0.2, "size_validation": 0.2},
        },
        "model": {
            "library": "pytorch",
            "analysis_type": "classification_multi",
            "module": "../models/iris_net.py",
            "hyperparameters": {"neuron_count": [2, 4, 8], "learning_rate": [0.01], "batch_size": [16]},
        },
        "search": {"method": "halving", "resource": "epochs", "max_resource": 6},
    }
    path = workspace / "recipes" / "epochs.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    result = Experiment.from_recipe(load_recipe(path)).run()
    levels = runs_by_level("epochs-iris")
    # 3 candidates: min_resource 6 / 3 = 2 epochs; the best one then trains 6 epochs
    assert sorted((m.data.params["epochs"], m.data.tags["qc.rung"]) for m in levels["model"]) == [
        ("2", "0"),
        ("2", "0"),
        ("2", "0"),
        ("6", "1"),
    ]
    client = mlflow.MlflowClient()
    for model in levels["model"]:
        assert model.data.params["resource"] == model.data.params["epochs"]
        assert len(client.get_metric_history(model.info.run_id, "val_loss")) == int(model.data.params["epochs"])
        assert model.data.tags.get("qc.resumed_from") == ("2" if model.data.params["epochs"] == "6" else None)
    [first, resumed] = sorted(
        (m for m in levels["model"] if m.data.params["neuron_count"] == best_neurons(levels, result)),
        key=lambda m: int(m.data.params["epochs"]),
    )
    assert first.data.params["seed"] == resumed.data.params["seed"]
    # the continued model's learning curve starts with the epochs of the model it continued
    before = [m.value for m in client.get_metric_history(first.info.run_id, "loss")]
    after = [m.value for m in client.get_metric_history(resumed.info.run_id, "loss")]
    assert after[:2] == pytest.approx(before)
    best = next(j for j in levels["job"] if j.data.tags["qc.job_index"] == str(result.best_job_index))
    assert best.data.params["epochs"] == "6" and "qc.pruned_at" not in best.data.tags
    assert sum("qc.pruned_at" in j.data.tags for j in levels["job"]) == 2


def rung_decisions(levels: dict[str, list]) -> list[tuple]:
    """Which candidate trained on which resource and where each stopped: the path the search took."""
    return sorted(
        (job.data.params["C"], job.data.tags["qc.resource"], job.data.tags.get("qc.pruned_at")) for job in levels["job"]
    )


def model_scores(levels: dict[str, list]) -> dict[tuple, float]:
    return {
        (m.data.params["C"], m.data.params["resource"], m.data.params["fold_index"]): m.data.metrics[
            "fold_validation_accuracy"
        ]
        for m in levels["model"]
    }


def test_two_workers_dask_and_a_sigkill_mid_rung_all_take_the_path_of_one_uninterrupted_run(workspace):
    """Successive halving with n_jobs 2 (loky), then on a local Dask cluster (each rung's subset context
    shipped to the workers), then killed (SIGKILL) inside rung 0 and rerun: the same models score the
    same, and every run ends with the jobs, pruning and best job of the uninterrupted one."""
    search = {"method": "halving", "resource": "samples", "reduction_factor": 2}
    grid = {"C": [0.01, 0.1, 1.0, 10.0], "max_iter": [300]}  # 4 candidates: rungs of 4, 2 and 1, each pruning
    reference = Experiment.from_recipe(
        load_recipe(write_recipe(workspace, "uninterrupted", search, grid, trainer={"n_jobs": 2}))
    ).run()
    expected = runs_by_level("uninterrupted")
    assert [len([j for j in expected["job"] if j.data.tags["qc.rung"] == str(rung)]) for rung in range(3)] == [4, 2, 1]
    Experiment.from_recipe(
        load_recipe(write_recipe(workspace, "on-dask", search, grid, trainer={"n_jobs": 2, "backend": "dask"}))
    ).run()
    on_dask = runs_by_level("on-dask")
    assert rung_decisions(on_dask) == rung_decisions(expected)
    assert model_scores(on_dask) == model_scores(expected)
    path = write_recipe(workspace, "killed", search, grid, trainer={"n_jobs": 2})
    with held_training(workspace, 5) as hold:  # rung 0: 4 candidates x 2 folds = 8 models; 5 of them back
        sigkill_when_held(mlflow_run_args("killed", path), hold)
    result = mlflow_run("killed", path)
    assert result.returncode == 0, result.stderr[-3000:]
    levels = runs_by_level("killed")
    [experiment] = levels["experiment"]
    assert sum(run.info.start_time < experiment.info.start_time for run in levels["model"]) >= 5  # reused
    assert rung_decisions(levels) == rung_decisions(expected)
    best = {int(j.data.tags["qc.job_index"]): j.data.params["C"] for j in levels["job"]}
    assert best[int(experiment.data.tags["qc.best_job_index"])] == next(
        j.data.params["C"] for j in expected["job"] if j.data.tags["qc.job_index"] == str(reference.best_job_index)
    )
    check_tree(levels, "killed")
