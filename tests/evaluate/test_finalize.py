"""trainer.hide_test and ``finalize``: nothing of the test split anywhere in the tree until a real
``mlflow run -e finalize`` reveals it for the chosen job (its refit twin and the baseline beside
it), once; a second finalize exits 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from sklearn.metrics import accuracy_score

from tests.guard_data import cli_env, guard_recipe, new_guard_project, tracking_uri, train
from tests.helpers import REPO_ROOT, run_cli

pytestmark = pytest.mark.e2e

SEALED = guard_recipe(
    "sealed",
    ["signal", "weak", "noise"],
    hyperparameters={"C": [0.01, 1.0]},
    stratifier={"size_test": 0.2, "size_validation": 0.2, "fold_count": 3},
    trainer={"hide_test": True, "baseline": True, "threshold": "youden", "refit": True, "permute_count": 2},
)
WORD_TEST = re.compile(r"\btest\b|\btest_")


def everything_of_the_test_split(root, experiment_id: str) -> list[str]:
    """Every trace of the test split in the tree: metrics, prediction rows, figures and tables of the reports."""
    client = mlflow.MlflowClient(tracking_uri(root))
    found = []
    for run in client.search_runs([experiment_id], max_results=1000):
        name, run_id = run.info.run_name, run.info.run_id
        found += [f"metric {name} {key}" for key in run.data.metrics if key.startswith("test_")]
        paths = {item.path for folder in ("", "qc") for item in client.list_artifacts(run_id, folder or None)}
        if "qc/predictions.parquet" in paths:
            splits = pd.read_parquet(download(root, run_id, "qc/predictions.parquet"))["split"]
            found += [f"predictions {name}"] * int((splits == "test").any())
        if "qc/per_class.csv" in paths:
            splits = pd.read_csv(download(root, run_id, "qc/per_class.csv"))["split"]
            found += [f"per-class {name}"] * int((splits == "test").any())
        if "qc/report.json" in paths:
            report = json.loads(open(download(root, run_id, "qc/report.json")).read())
            for section in report["sections"]:
                found += [
                    f"figure {name} {section['title']}"
                    for figure in section["figures"]
                    if WORD_TEST.search(json.dumps(figure))
                ]
                found += [
                    f"table {name} {title}"
                    for title, rows in section["tables"].items()
                    if WORD_TEST.search(json.dumps(rows))
                ]
        if "qc/metrics.csv" in paths:
            columns = pd.read_csv(download(root, run_id, "qc/metrics.csv")).columns
            found += [f"table {name} qc/metrics.csv"] * any(c.startswith("test_") for c in columns)
    return found


def download(root, run_id: str, path: str) -> str:
    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=tracking_uri(root))


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    root = new_guard_project(tmp_path_factory.mktemp("finalize") / "project")
    result = train(root, SEALED)
    return root, result, everything_of_the_test_split(root, result.experiment_id)


@pytest.fixture(scope="module")
def finalized(sealed):
    root, result, _ = sealed
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(REPO_ROOT),
        "-e",
        "finalize",
        "--env-manager",
        "local",
        "--experiment-name",
        "sealed",
        "-P",
        f"run_id={result.run_id}",
    ]
    launched = subprocess.run(command, cwd=root, env=cli_env(root), capture_output=True, text=True)
    assert launched.returncode == 0, launched.stderr[-3000:]
    return root, result, launched.stdout + launched.stderr


def test_before_finalize_nothing_of_the_test_split_exists_in_the_tree(sealed):
    root, result, found = sealed
    assert found == []
    client = mlflow.MlflowClient(tracking_uri(root))
    experiment = client.get_run(result.run_id)
    assert experiment.data.tags["qc.test_sealed"] == "true" and "qc.test_revealed" not in experiment.data.tags
    models = client.search_runs([result.experiment_id], "tags.`qc.level` = 'model'", max_results=1000)
    assert len(models) == 3 * 3 * 2 + 2  # two jobs and the baseline, 3 folds x 2 repeats; the refit job, 2 repeats
    assert all(m.data.metrics.get("train_accuracy") is not None for m in models)
    report = json.loads(open(download(root, result.run_id, "qc/report.json")).read())
    [note] = next(s for s in report["sections"] if s["title"] == "Test split")["notes"]
    assert note.startswith("Sealed (trainer.hide_test)")


def test_finalize_reveals_the_chosen_job_its_refit_and_the_baseline_everywhere(finalized):
    root, result, output = finalized
    client = mlflow.MlflowClient(tracking_uri(root))
    experiment = client.get_run(result.run_id)
    revealed = experiment.data.tags["qc.test_revealed"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 by \S+", revealed)
    assert f"test split revealed {revealed}" in output
    jobs = {run.info.run_name: run for run in client.search_runs([result.experiment_id], "tags.`qc.level` = 'job'")}
    best = client.get_run(experiment.data.tags["qc.best_job_run_id"]).info.run_name
    refit = next(name for name in jobs if name.startswith("refit"))
    other = next(name for name in jobs if name not in (best, refit, "baseline"))
    found = everything_of_the_test_split(root, result.experiment_id)
    for job in (best, refit, "baseline"):
        assert jobs[job].data.tags["qc.test_revealed"] == revealed
        assert "test_accuracy_mean" in client.get_run(jobs[job].info.run_id).data.metrics
        assert any(item.startswith(f"figure {job}") for item in found), job  # the job report's test curves
    assert not any(other in item for item in found)  # the job that was not chosen stays unseen
    assert (
        experiment.data.metrics["test_accuracy_mean"]
        == client.get_run(jobs[best].info.run_id).data.metrics["test_accuracy_mean"]
    )
    assert "table sealed qc/metrics.csv" in [item.replace(experiment.info.run_name, "sealed") for item in found]

    test_rows = json.loads(open(download(root, result.run_id, "qc/splits.json")).read())["splits"]["test"]
    chosen = [
        m
        for m in client.search_runs([result.experiment_id], "tags.`qc.level` = 'model'", max_results=1000)
        if "test_accuracy" in m.data.metrics
    ]
    assert len(chosen) == 3 * 2 * 2 + 2
    for model in chosen:
        predictions = pd.read_parquet(download(root, model.info.run_id, "qc/predictions.parquet"))
        test = predictions[predictions["split"] == "test"]
        assert sorted(test["row"]) == sorted(test_rows) and len(predictions[predictions["split"] == "train"]) > 0
        assert accuracy_score(test["y_true"], test["prediction"]) == pytest.approx(
            model.data.metrics["test_accuracy"], abs=1e-12
        )
        per_class = pd.read_csv(download(root, model.info.run_id, "qc/per_class.csv"))
        assert per_class.loc[per_class["split"] == "test", "support"].sum() == len(test_rows)  # revealed with the rest
        if "threshold" in model.data.params:  # the answers use the model's own threshold
            assert (
                test["prediction"]
                == test["probability_pos"].gt(float(model.data.params["threshold"])).map({True: "pos", False: "neg"})
            ).all()
    report = json.loads(open(download(root, result.run_id, "qc/report.json")).read())
    section = next(s for s in report["sections"] if s["title"] == "Test split")
    assert section["notes"][0].startswith("Revealed once by mlflow-qc finalize")
    [table] = section["tables"].values()
    # tables name a job "job 1"; its run's name adds the hyperparameters ("job 1: C=1.0")
    assert {row["job"] for row in table} == {best.split(":")[0], refit.split(":")[0], "baseline"}


def test_a_second_finalize_refuses_with_exit_2_and_one_line(finalized):
    root, result, _ = finalized
    again = run_cli("finalize", result.run_id, cwd=root, env=cli_env(root))
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: experiment run {result.run_id}: its test split was revealed 20")
    assert lines[-1].endswith("expected a sealed one: the test split is evaluated once")


def tree_state(client, experiment_id: str) -> dict:
    """Every run as it stands: lifecycle, status, tags (parents too), metrics."""
    runs = client.search_runs([experiment_id], run_view_type=3, max_results=1000)
    return {r.info.run_id: (r.info.lifecycle_stage, r.info.status, r.data.tags, r.data.metrics) for r in runs}


def test_a_rerun_with_a_changed_grid_after_finalize_is_a_tree_of_its_own_that_can_be_finalized(finalized):
    """The finalized tree stays exactly as it was; the new one is sealed (not revealed), trains its own models
    (hide_test reuses nothing: finalize writes onto the models it evaluates) and is finalized on its own."""
    root, result, _ = finalized
    client = mlflow.MlflowClient(tracking_uri(root))
    before = tree_state(client, result.experiment_id)
    changed = {**SEALED, "model": {**SEALED["model"], "hyperparameters": {"C": [0.01, 2.0]}}}
    again = train(root, changed)
    assert again.run_id != result.run_id and again.reused == 0
    new = client.get_run(again.run_id).data.tags
    assert new["qc.test_sealed"] == "true" and "qc.test_revealed" not in new
    revealed = run_cli("finalize", again.run_id, cwd=root, env=cli_env(root))
    assert revealed.returncode == 0, revealed.stderr[-3000:]
    after = tree_state(client, result.experiment_id)
    assert {run_id: after[run_id] for run_id in before} == before
    assert "qc.test_revealed" in client.get_run(again.run_id).data.tags
    refused = run_cli("finalize", result.run_id, cwd=root, env=cli_env(root))
    assert refused.returncode == 2 and "its test split was revealed" in refused.stderr


def test_finalize_takes_only_a_sealed_experiment_run(sealed):
    root, result, _ = sealed
    client = mlflow.MlflowClient(tracking_uri(root))
    model_run = client.search_runs([result.experiment_id], "tags.`qc.level` = 'model'", max_results=1)[0].info.run_id
    refused = run_cli("finalize", model_run, cwd=root, env=cli_env(root))
    assert refused.returncode == 2
    assert (
        refused.stderr.strip().splitlines()[-1]
        == f"error: run_id: run {model_run} is a model run; expected an experiment run"
    )
    with pytest.raises(MlflowException):
        client.get_run("0" * 32)
    unknown = run_cli("finalize", "0" * 32, cwd=root, env=cli_env(root))
    assert unknown.returncode == 2 and "expected the id of an mlflow_qc run" in unknown.stderr
    unsealed = client.create_run(result.experiment_id, tags={"qc.level": "experiment"}).info.run_id
    refused = run_cli("finalize", unsealed, cwd=root, env=cli_env(root))
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == (
        f"error: experiment run {unsealed}: was trained without trainer.hide_test, so its test metrics are logged already; "
        "expected a run trained with hide_test: true"
    )
