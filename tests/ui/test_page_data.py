"""What the pages compute, in process on a real trained store (no server): the tracker's counts, ETA and
incremental reads, the head-to-head statistics against ``compare_jobs``, the what-if fields and
answers against the served model, the typical training sample, the reports' links to the pages."""

from __future__ import annotations

import json
import os
import re
import socket
import time

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlflow_qc.data.typical import typical_values
from mlflow_qc.errors import QCError
from mlflow_qc.ui.experiments import run_state
from mlflow_qc.ui.headtohead import head_to_head
from mlflow_qc.ui.launch import server_command, store_uri
from mlflow_qc.ui.store import PageError, Store
from mlflow_qc.ui.tracker import snapshot
from mlflow_qc.ui.whatif import FieldErrors, Models, predict
from tests.ui.conftest import dead_pid

pytestmark = pytest.mark.e2e  # trains the shared store once


@pytest.fixture(scope="module")
def store(pages_store) -> Store:
    return Store(pages_store.tracking_uri)


def jobs_of(trained) -> list:
    return sorted(trained.runs("job"), key=lambda run: int(run.data.tags["qc.job_index"]))


def test_typical_values_per_kind_of_column():
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 4.0, np.nan],
            "n": [1, 2, 3, 10],
            "flag": [True, True, False, True],
            "color": ["red", "blue", "red", None],
        }
    )
    typical = typical_values(frame)
    assert typical["x"] == {"kind": "number", "whole": False, "default": 2.0, "min": 1.0, "max": 4.0}
    assert typical["n"]["default"] in (2, 3) and typical["n"]["whole"] is True  # a value the column holds
    assert typical["flag"] == {"kind": "boolean", "default": True, "values": [False, True]}
    assert typical["color"] == {"kind": "category", "default": "red", "values": ["red", "blue"], "distinct": 2}
    json.dumps(typical)  # travels as JSON inside the model


def test_each_model_carries_the_median_of_its_own_training_rows(pages_store, store):
    model = pages_store.runs("model")[0]
    meta = json.loads(store.read_text(model, "model/data/qc/qc_model.json"))
    splits = json.loads(pages_store.artifact(pages_store.run_id, "qc/splits.json").read_text())
    fold = int(model.data.tags["qc.fold_index"])
    rows = splits["folds"][fold]["train"]
    sonar = pd.read_csv(pages_store.root / "data" / "sonar.csv")
    for column in ("a", "ae", "bh"):
        assert meta["typical"][column]["default"] == pytest.approx(sonar[column].iloc[rows].median(), abs=1e-12)
        assert meta["typical"][column]["max"] == sonar[column].iloc[rows].max()


def test_the_tracker_of_a_finished_experiment_agrees_with_its_tables(pages_store, store):
    data = snapshot(store, store.run(pages_store.run_id, "run_id"))
    aggregates = pd.read_csv(pages_store.artifact(pages_store.run_id, "qc/metrics_aggregate.csv"))
    means = dict(zip(aggregates["job_index"], aggregates["fold_validation_accuracy_mean"]))
    assert {row["job_index"]: row["mean"] for row in data["leaderboard"]} == pytest.approx(means, abs=1e-12)
    best = pages_store.client().get_run(pages_store.run_id).data.tags["qc.best_job_run_id"]
    assert data["leaderboard"][0]["job_run_id"] == best
    assert data["counts"]["finished"] == 6 and data["failures_total"] == 0


def test_a_running_tree_from_its_progress_file_and_the_runs_since(pages_store):
    """A tree written by hand with the client: read whole, then from qc/progress.csv plus the runs it cannot know."""
    client = MlflowClient(pages_store.tracking_uri)
    experiment = client.create_experiment(f"by-hand-{time.time_ns()}")
    key = "by-hand"
    root = client.create_run(
        experiment,
        run_name="by-hand",
        tags={
            "qc.level": "experiment",
            "qc.resume_key": key,
            "qc.models_planned": "10",
            "qc.ranking_metric": "validation_accuracy",
            "qc.pid": str(os.getpid()),
            "qc.host": socket.gethostname(),
            "qc.training_started": str(int(time.time() * 1000)),
        },
    )
    job = client.create_run(
        experiment,
        run_name="job 0",
        tags={
            "qc.level": "job",
            "qc.resume_key": key,
            "qc.job_key": "j0",
            "qc.job_index": "0",
            "mlflow.parentRunId": root.info.run_id,
        },
    )

    def model(status: str, accuracy: float | None = None, error: str | None = None) -> str:
        run = client.create_run(
            experiment,
            tags={
                "qc.level": "model",
                "qc.resume_key": key,
                "qc.job_key": "j0",
                "qc.job_index": "0",
                "mlflow.parentRunId": job.info.run_id,
                "qc.repeat_index": "0",
            },
        )
        client.log_param(run.info.run_id, "C", "0.5")
        if accuracy is not None:
            client.log_metric(run.info.run_id, "validation_accuracy", accuracy)
        if error:
            client.set_tag(run.info.run_id, "qc.error", error)
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        return run.info.run_id

    good, fair = model("FINISHED", 0.8), model("FINISHED", 0.6)
    failed = model("FAILED", error="ValueError: no")
    running = model("RUNNING")
    store = Store(pages_store.tracking_uri)
    data = snapshot(store, store.run(root.info.run_id, "run_id"))  # no progress file: every model run is read
    assert data["run"]["state"] == "running"
    assert data["counts"] == {"finished": 2, "failed": 1, "running": 1, "killed": 0, "planned": 10}
    assert data["eta"]["remaining"] == 7 and data["eta"]["seconds_left"] > 0 and data["eta"]["per_minute"] > 0
    assert data["failures"] == [{"run_id": failed, "name": "model job 0 repeat 0", "error": "ValueError: no"}]
    [row] = data["leaderboard"]
    assert row["mean"] == pytest.approx(0.7) and (row["finished"], row["failed"], row["running"]) == (2, 1, 1)
    assert row["hyperparameters"] == {"C": "0.5"} and row["best_model_run_id"] == good

    progress = pd.DataFrame(
        {  # what the trainer writes: the three models back so far
            "job_index": 0,
            "job_key": "j0",
            "job_run_id": job.info.run_id,
            "refit": False,
            "fold_index": np.nan,
            "repeat_index": 0,
            "run_id": [good, fair, failed],
            "status": ["FINISHED", "FINISHED", "FAILED"],
            "hp.C": 0.5,
            "validation_accuracy": [0.8, 0.6, np.nan],
            "reused": False,
            "seconds": 1.0,
            "error": [None, None, "ValueError: no"],
        }
    )
    client.log_text(root.info.run_id, progress.to_csv(index=False), "qc/progress.csv")
    client.set_tag(root.info.run_id, "qc.progress_at", str(int(time.time() * 1000)))
    client.log_metric(running, "validation_accuracy", 1.0)
    client.set_terminated(running, "FINISHED")  # ended after the file was written
    newest = model("RUNNING")
    data = snapshot(store, store.run(root.info.run_id, "run_id"))
    assert data["counts"] == {"finished": 3, "failed": 1, "running": 1, "killed": 0, "planned": 10}
    [row] = data["leaderboard"]
    assert (
        row["mean"] == pytest.approx(0.8)
        and row["best_model_run_id"] == running
        and row["job_run_id"] == job.info.run_id
    )
    assert data["eta"]["remaining"] == 6
    client.set_terminated(newest, "KILLED")
    client.delete_experiment(experiment)


def test_the_baseline_job_is_listed_by_its_score_without_a_rank():
    from mlflow_qc.ui.tracker import leaderboard

    models = pd.DataFrame(
        {  # qc/progress.csv of a trainer.baseline experiment: the baseline job first
            "job_index": [-1, -1, 0, 0, 1, 1],
            "job_key": ["b", "b", "j0", "j0", "j1", "j1"],
            "job_run_id": ["rb", "rb", "r0", "r0", "r1", "r1"],
            "refit": False,
            "baseline": [True, True, False, False, False, False],
            "fold_index": [0, 1] * 3,
            "repeat_index": 0,
            "run_id": [f"m{i}" for i in range(6)],
            "status": "FINISHED",
            "hp.strategy": ["prior", "prior", *[np.nan] * 4],
            "hp.C": [np.nan, np.nan, 0.5, 0.5, 1.0, 1.0],
            "fold_validation_accuracy": [0.55, 0.55, 0.5, 0.4, 0.8, 0.7],
        }
    )
    board = leaderboard(models, "fold_validation_accuracy")
    assert [(row["name"], row["rank"]) for row in board] == [("job 1", 1), ("baseline", None), ("job 0", 2)]
    assert board[1]["baseline"] is True and board[1]["hyperparameters"] == {"strategy": "prior"}
    assert board[0]["hyperparameters"] == {"C": 1.0}


def test_an_adaptive_searchs_partial_jobs_are_listed_after_the_others_without_a_rank():
    from mlflow_qc.ui.tracker import leaderboard

    models = pd.DataFrame(
        {  # qc/progress.csv of an adaptive search: job 0 stopped at rung 0 (a third of the rows)
            "job_index": [0, 0, 1, 1],
            "job_key": ["j0", "j0", "j1", "j1"],
            "refit": False,
            "fold_index": [0, 1] * 2,
            "repeat_index": 0,
            "run_id": [f"m{i}" for i in range(4)],
            "status": "FINISHED",
            "resource": [0.33, 0.33, 1.0, 1.0],
            "rung": [0, 0, 1, 1],
            "partial": [True, True, False, False],
            "hp.C": [0.5, 0.5, 1.0, 1.0],
            "fold_validation_accuracy": [0.9, 0.9, 0.7, 0.7],
        }
    )
    models["job_run_id"] = models["job_key"].map({"j0": "r0", "j1": "r1"})
    board = leaderboard(models, "fold_validation_accuracy", pruned={"r0": 0})
    assert [(row["name"], row["rank"], row["partial"]) for row in board] == [("job 1", 1, False), ("job 0", None, True)]
    # each job shows its rung and resource; the candidate stopped at rung 0 says so
    assert [(row["rung"], row["resource"], row["pruned_at"]) for row in board] == [(1, 1.0, None), (0, 0.33, 0)]
    grid = leaderboard(models.drop(columns=["rung", "resource", "partial"]), "fold_validation_accuracy")
    assert {(row["rung"], row["resource"], row["pruned_at"]) for row in grid} == {(None, None, None)}


def test_only_models_of_one_table_have_a_whatif():
    from mlflow_qc.data.typical import one_table

    assert one_table(None, None) and one_table(
        ["tabular", "tabular"], [None, None]
    )  # None: models from before N-D data
    assert not one_table(["tabular", "image"], [None, None]) and not one_table(["tabular"], [(10, 1)])


def test_a_running_experiment_whose_process_is_gone_is_stopped(pages_store):
    client = MlflowClient(pages_store.tracking_uri)
    tags = {"qc.level": "experiment", "qc.host": socket.gethostname()}
    gone = client.create_run(pages_store.experiment_id, tags={**tags, "qc.pid": str(dead_pid())})
    alive = client.create_run(pages_store.experiment_id, tags={**tags, "qc.pid": str(os.getpid())})
    elsewhere = client.create_run(
        pages_store.experiment_id, tags={**tags, "qc.pid": str(dead_pid()), "qc.host": "another-host"}
    )
    states = [run_state(client.get_run(run.info.run_id)) for run in (gone, alive, elsewhere)]
    assert states == ["stopped", "running", "running"]  # another host's processes cannot be seen from here
    for run in (gone, alive, elsewhere):
        client.delete_run(run.info.run_id)


def test_the_head_to_head_p_values_are_those_of_compare_jobs(pages_store, store, enter):
    from mlflow_qc.evaluate.compare import compare_jobs

    first, second = jobs_of(pages_store)
    result = head_to_head(store, first.info.run_id, second.info.run_id)
    table = result["table"].set_index(["split", "metric"])
    enter(pages_store)
    pairs = compare_jobs(run_ids=[first.info.run_id, second.info.run_id]).pairs.set_index("metric")
    for metric in ("accuracy", "roc_auc", "loss"):
        row = table.loc[("fold_validation", metric)]
        assert row["p"] == pytest.approx(pairs.loc[f"fold_validation_{metric}", "p_value"], abs=1e-12)
        assert row["A - B"] == pytest.approx(pairs.loc[f"fold_validation_{metric}", "difference"], abs=1e-12)
        assert row["pairs"] == 3
    titles = [title for title, _, _ in result["sections"]]
    assert titles == ["ROC curves", "Precision-recall curves", "Confusion matrices"]
    roc = result["sections"][0][1][0]
    assert {trace["name"].split(":")[0] for trace in roc["data"] if "meta" in trace} == {"A", "B"}


def test_two_models_are_compared_without_a_test(pages_store, store):
    first, second = pages_store.runs("model")[:2]
    result = head_to_head(store, first.info.run_id, second.info.run_id)
    assert result["table"]["p"].isna().all()
    assert any("no test is shown" in note for note in result["notes"])


def test_whatif_fields_follow_importance_and_answers_match_the_served_model(pages_store, store, enter):
    from mlflow_qc.serve.inference import Inference

    enter(pages_store)
    model = pages_store.runs("model")[0]
    loaded = Models().get(store, model.info.run_id)
    importance = pd.read_csv(pages_store.artifact(model.info.run_id, "qc/importance.csv"))
    original = importance[importance["level"] == "original"].sort_values("median", ascending=False, kind="stable")
    assert [f.name for f in loaded.fields] == list(original["column"])
    assert loaded.typical_source == "training rows"
    values = {f.name: f.default for f in loaded.fields}
    values[loaded.fields[0].name] = "0.9"
    answer = predict(loaded, values)
    served = Inference(f"runs:/{model.info.run_id}/model").predict(
        pd.DataFrame([{k: float(v) for k, v in values.items()}])
    )
    assert answer["prediction"] == served["prediction"].iloc[0]
    assert {p["class"]: p["probability"] for p in answer["probabilities"]} == pytest.approx(
        {"M": served["probability_M"].iloc[0], "R": served["probability_R"].iloc[0]}, abs=1e-12
    )
    with pytest.raises(FieldErrors) as refused:
        predict(loaded, {**values, "a": "1e999", "b": "", "c": " 0.5 "})
    assert set(refused.value.errors) == {"a", "b"}  # c is a number with spaces around it
    assert refused.value.errors["a"].startswith("'1e999' is not a finite number")
    with pytest.raises(PageError) as wrong:
        Models().get(store, jobs_of(pages_store)[0].info.run_id)
    assert wrong.value.status == 404


def test_the_reports_link_to_the_pages(pages_store):
    first, second = jobs_of(pages_store)
    job_report = json.loads(pages_store.artifact(first.info.run_id, "qc/report.json").read_text())
    paths = [page["path"] for page in job_report["pages"]]
    assert paths[0] == f"/qc/experiment/{pages_store.run_id}"
    models = {
        run.info.run_id for run in pages_store.runs("model", f"tags.`qc.job_key` = '{first.data.tags['qc.job_key']}'")
    }
    assert {path.removeprefix("/qc/whatif/") for path in paths[1:]} == models
    html = pages_store.artifact(first.info.run_id, "qc/report.html").read_text()
    assert f'data-qc-path="/qc/experiment/{pages_store.run_id}"' in html and 'data-ping="/qc/api/ping"' in html
    experiment = json.loads(pages_store.artifact(pages_store.run_id, "qc/report.json").read_text())
    best = pages_store.client().get_run(pages_store.run_id).data.tags["qc.best_job_run_id"]
    other = (second if first.info.run_id == best else first).info.run_id
    assert [page["path"] for page in experiment["pages"]] == [
        f"/qc/experiment/{pages_store.run_id}",
        f"/qc/compare?a={best}&b={other}",
    ]


def test_the_ui_command_serves_the_store_on_loopback(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    command = server_command("127.0.0.1", 5000, None, 1)
    assert command[1:5] == ["-m", "mlflow", "server", "--app-name"] and command[5] == "qc"
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:///mlflow.db"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    with pytest.raises(
        QCError, match=r"^MLFLOW_TRACKING_URI: http://127.0.0.1:5000 is a tracking server; expected the store"
    ):
        store_uri(None)
    with pytest.raises(QCError, match=r"^--port: 0; expected a port number"):
        server_command("127.0.0.1", 0, "sqlite:///x.db", 1)
    assert re.search(r"--h11-max-incomplete-event-size \d+", command[-1])


def test_a_cache_entry_written_before_typical_values_gets_them(pages_store, enter):
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe

    enter(pages_store)
    recipe = load_recipe(str(pages_store.root / "recipes" / "sonar-pages.yaml"))
    entry = prepare(recipe).entry
    written = {context: entry.typical(context) for context in entry.contexts}
    for context in entry.contexts:
        (entry.root / context / "typical.json").unlink()  # as an entry of an earlier version has it
    again = prepare(recipe).entry
    assert again.root == entry.root  # the same entry (same cache and resume keys), completed in place
    assert {context: again.typical(context) for context in again.contexts} == written


def test_learning_curves_of_two_sides_share_one_figure_coloured_by_side():
    from mlflow_qc.evaluate.figures_training import learning_curve_figures
    from mlflow_qc.ui.headtohead import overlay

    histories = {
        f"{side} · fold {fold} repeat 0": {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.6]}
        for side in ("A", "B")
        for fold in (0, 1)
    }
    [figure] = overlay(learning_curve_figures(histories), lambda model: model.split(" · ")[0])
    traces = figure["data"]
    assert len(traces) == 8
    assert {t["name"] for t in traces} == {"A: train", "A: evaluation", "B: train", "B: evaluation"}
    colours = {t["name"].split(":")[0]: set() for t in traces}
    for trace in traces:
        colours[trace["name"].split(":")[0]].add(trace["line"]["color"])
    assert all(len(c) == 1 for c in colours.values()) and colours["A"] != colours["B"]
    assert sum(t["showlegend"] for t in traces) == 4  # one legend entry per side and role
    assert {t["line"]["dash"] for t in traces if t["name"].endswith("train")} == {"solid"}
