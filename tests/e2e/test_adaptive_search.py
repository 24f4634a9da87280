"""Adaptive search through ``mlflow run`` (README: "Adaptive search"): successive halving and Hyperband on
iris with the samples resource; the run tree has a job per candidate and resource, every model says its
resource and rung, the candidates stopped early are tagged and never chosen, the registered model was
fully trained."""
import mlflow
import pandas as pd
import pytest
import yaml

from tests.helpers import mlflow_run, runs_by_level

pytestmark = pytest.mark.e2e

GRID = {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], "max_iter": [300]}  # 9 candidates


def train(workspace, name: str, search: dict) -> dict[str, list]:
    recipe = {
        "name": name, "seed": 5,
        "data": {"inputs": [{"dataset": {"path": "../data/iris.tsv"}}], "target": {"column": "species"},
                 "stratifier": {"size_test": 0.2, "fold_count": 2}},
        "model": {"library": "sklearn", "analysis_type": "classification_multi",
                  "estimator": "sklearn.linear_model.LogisticRegression", "hyperparameters": GRID},
        "search": search,
        "register": {"model_name": name},
    }
    path = workspace / "recipes" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    result = mlflow_run(name, path)
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
    table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/metrics_aggregate.csv"))
    assert {"resource", "rung", "partial"} <= set(table.columns)
    partial = set(table.loc[table["partial"], "job_index"])
    assert partial == set(jobs) - full
    # the best job is the best of the fully trained ones, even where a partial job scored higher
    fully = table[~table["partial"]]
    assert fully["fold_validation_accuracy_mean"].max() == table.loc[table["job_index"] == best, "fold_validation_accuracy_mean"].item()

    [version] = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    assert version.tags["qc.job_index"] == str(best)
    assert mlflow.MlflowClient().get_run(version.run_id).data.params["resource"] == "1.0"
    return jobs, pruned


def test_successive_halving_on_samples(workspace):
    levels = train(workspace, "halving-iris", {"method": "halving", "resource": "samples", "reduction_factor": 3})
    jobs, pruned = check_tree(levels, "halving-iris")
    # 9 candidates on a ninth of each fold's training rows, the best 3 on a third, the best on all of them
    rungs = sorted((int(job.data.tags["qc.rung"]), job.data.tags["qc.resource"]) for job in jobs.values())
    assert rungs == [(0, "0.111111")] * 9 + [(1, "0.333333")] * 3 + [(2, "1.0")]
    assert len(pruned) == 8
    assert sorted(int(job.data.tags["qc.pruned_at"]) for job in pruned) == [0] * 6 + [1] * 2


def test_hyperband_on_samples(workspace):
    levels = train(workspace, "hyperband-iris", {"method": "hyperband", "resource": "samples", "reduction_factor": 2,
                                                 "min_resource": 0.5})
    jobs, _ = check_tree(levels, "hyperband-iris")
    # brackets s=1 (2 candidates on half the rows, the better on all) and s=0 (2 on all): at most 5 jobs
    assert 3 <= len(jobs) <= 5
    assert {job.data.tags["qc.resource"] for job in jobs.values()} == {"0.5", "1.0"}
