"""The per-model parts of tracking, one at a time, the way before issue 13 against the way now (CPU ms).

- a model run's store writes with its MLflow logged model, MLflow's public calls against the fast way
  (``run/model_run_sqlite.py``: two transactions on mlflow-qc's own sqlite connection), each also without the
  logged model; 19 metrics (10 of them the logged model's), 5 params, 10 tags; CPU and wall ms;
- closing a fold run with 90 aggregates: log_batch + set_terminated against ``finish_runs``;
- a model's MLmodel: ``Model.load`` + ``Model.save`` against the scaffold's text;
- a model's files: written to a temporary folder and logged (copied) into the artifact store
  against written in the run's own artifact folder (the copy stands for writing them);
- a model's predictions (20,000 rows, binary): pandas frames + ``to_parquet`` against Arrow, and
  Arrow's parquet with dictionary pages on every column against on the repeating ones;
- a model's predictions file: with and without column statistics; read back from the file against
  handed over from memory (``models/predictions_file.py``);
- a job's five fold runs closed one transaction each against all in one (``finish_runs``);
- a job report's figure JSON through ``plotly.io.to_json`` (now only);
- a report figure built with plotly's default template set on it against an empty one (the page
  applies the template);
- a job report of 10 models (``log_job_report``, now only);
- a fitted scikit-learn model (the workload's logistic regression, a 100-tree forest of depth 8)
  saved with ``joblib.dump`` against pickle's C pickler (``SklearnAdapter.save``);
- an experiment report's boomerang figure and head-to-head comparison of 40 jobs x 10 models
  (synthetic metrics), now only: their figures before this round's change are in bench/RESULTS.md,
  measured by this script at the commit before it.

    python bench/tracking_parts.py [--store-only]
"""

from __future__ import annotations

import datetime
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cpu_ms(function, count: int, warm: int = 3, clock=time.process_time) -> float:
    for _ in range(warm):
        function()
    started = clock()
    for _ in range(count):
        function()
    return (clock() - started) * 1000 / count


def wall_ms(function, count: int, warm: int = 3) -> float:
    return cpu_ms(function, count, warm, time.perf_counter)


def store_writes() -> None:
    """A model run's writes with its MLflow logged model (issue 25): MLflow's public calls against the fast way
    (two transactions on mlflow-qc's own sqlite connection), and each without the logged model."""
    import os

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_qc.run.model_run import PUBLIC_WRITES_ENV, Closing, finish_runs, open_run
    from mlflow_qc.tracking.store import prepare_store

    uri = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    prepare_store(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("parts")
    tags = {f"qc.tag_{i}": "value" for i in range(9)} | {"mlflow.runName": "model x"}
    now = int(time.time() * 1000)
    metrics = [Metric(f"metric_{i}", 0.5, now, 0) for i in range(9)]
    split = [Metric(f"train_metric_{i}", 0.5, now, 0) for i in range(10)]
    params = [Param(f"param_{i}", "1") for i in range(5)]
    extra = [RunTag("qc.model_uri", "models:/x")]

    def model_run(model_name):
        return lambda: open_run(client, experiment, tags, params[:4], model_name=model_name).end(
            "FINISHED", metrics, params[4:], extra, split
        )

    for way, public in (("public calls", "1"), ("fast way", "0")):
        os.environ[PUBLIC_WRITES_ENV] = public
        with_model, without = model_run("model"), model_run(None)
        print(
            f"model run writes, {way}: with its logged model {cpu_ms(with_model, 40):.1f} ms CPU "
            f"{wall_ms(with_model, 40):.1f} ms wall; without {cpu_ms(without, 40):.1f} ms CPU "
            f"{wall_ms(without, 40):.1f} ms wall"
        )
    os.environ.pop(PUBLIC_WRITES_ENV)
    aggregates = [Metric(f"aggregate_{i}", 0.5, now, 0) for i in range(90)]
    fold = [Param("fold_index", "1")]
    runs = iter([client.create_run(experiment).info.run_id for _ in range(90)])

    def close_ordinary():
        run_id = next(runs)
        client.log_batch(run_id, metrics=aggregates, params=fold)
        client.set_terminated(run_id, "FINISHED")

    def close_whole():
        finish_runs(client, [Closing(next(runs), "FINISHED", aggregates, fold)])

    print(
        f"fold run closing (90 aggregates): public calls {cpu_ms(close_ordinary, 40):.1f} ms, "
        f"one transaction {cpu_ms(close_whole, 40):.1f} ms"
    )
    fold_runs = iter(
        [
            [Closing(client.create_run(experiment).info.run_id, "FINISHED", aggregates, fold) for _ in range(5)]
            for _ in range(40)
        ]
    )

    def folds_apart():
        for closing in next(fold_runs):
            finish_runs(client, [closing])

    print(
        f"a job's 5 fold runs closed: one transaction each {cpu_ms(folds_apart, 10):.1f} ms, "
        f"all in one {cpu_ms(lambda: finish_runs(client, next(fold_runs)), 10):.1f} ms"
    )


def figure_template() -> None:
    """A report figure of ten 200-point curves, plotly's default template set on it against an empty one."""
    import numpy as np
    import plotly.graph_objects as go

    from mlflow_qc.evaluate.figures_style import figure

    traces = [
        {"type": "scatter", "x": np.linspace(0, 1, 200), "y": np.linspace(0, 1, 200), "name": f"model {i}"}
        for i in range(10)
    ]
    layout = {"title": {"text": "ROC"}, "xaxis": {"title": {"text": "false positive rate"}}}
    templated = cpu_ms(lambda: go.Figure(data=traces, layout=layout, _validate=False), 50)
    print(
        f"report figure: default template set {templated:.2f} ms, "
        f"empty template {cpu_ms(lambda: figure(traces, **layout), 50):.2f} ms"
    )


def mlmodel(folder: Path) -> None:
    import mlflow.models

    from mlflow_qc.serve.save import _mlmodel_template, yaml_line

    def loaded():
        model = mlflow.models.Model.load(folder / "MLmodel")
        model.model_uuid = uuid.uuid4().hex
        model.utc_time_created = str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
        model.save(folder / "copy" / "MLmodel")

    def templated():
        text = _mlmodel_template(str(folder))
        for key, value in {"model_uuid": uuid.uuid4().hex, "utc_time_created": str(datetime.datetime.now())}.items():
            text = re.sub(rf"^{key}: .*$", lambda _, line=yaml_line(key, value): line, text, count=1, flags=re.M)
        (folder / "copy" / "MLmodel").write_text(text)

    (folder / "copy").mkdir(exist_ok=True)
    print(
        f"MLmodel per model: Model.load + save {cpu_ms(loaded, 20):.1f} ms, "
        f"scaffold text {cpu_ms(templated, 20):.1f} ms"
    )


def artifact_copy(artifacts: Path) -> None:
    """A model's files (its pyfunc and predictions) written to a temporary folder, logged into the
    local artifact store and the folder removed, against written where the store keeps them."""
    import shutil

    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    destination = Path(tempfile.mkdtemp())

    def through_temporary():
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(artifacts, tmp, dirs_exist_ok=True)
            LocalArtifactRepository(str(destination / uuid.uuid4().hex)).log_artifacts(tmp)

    def in_place():
        shutil.copytree(artifacts, destination / uuid.uuid4().hex)

    print(
        f"a model's files: through a temporary folder {cpu_ms(through_temporary, 20):.1f} ms, "
        f"in the artifact folder {cpu_ms(in_place, 20):.1f} ms"
    )


def predictions(fitted, folder: Path) -> None:
    def frames():
        fitted.__dict__.pop("predictions", None)
        fitted.predictions.to_parquet(folder / "frame.parquet", index=False)

    print(
        f"predictions per model: pandas {cpu_ms(frames, 10):.1f} ms, "
        f"Arrow {cpu_ms(lambda: fitted.write_predictions(folder / 'arrow.parquet'), 10):.1f} ms"
    )


def parquet_dictionary(folder: Path) -> None:
    """A model's predictions table (20,000 rows, binary) written with dictionary pages on every column
    (pyarrow's default) against on the repeating ones only (split, labels; not row numbers or probabilities)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, rng = 20_000, np.random.default_rng(0)
    yes = rng.random(rows)
    labels = pa.array(["no", "yes"])
    table = pa.table(
        {
            "split": pa.array(["train"] * rows),
            "row": pa.array(np.arange(rows)),
            "y_true": labels.take(pa.array(rng.integers(0, 2, rows))),
            "prediction": labels.take(pa.array(rng.integers(0, 2, rows))),
            "probability_no": pa.array(1 - yes),
            "probability_yes": pa.array(yes),
        }
    )
    repeating = ["split", "y_true", "prediction"]
    everywhere = cpu_ms(lambda: pq.write_table(table, folder / "all.parquet"), 30)
    on_repeating = cpu_ms(lambda: pq.write_table(table, folder / "some.parquet", use_dictionary=repeating), 30)
    without_statistics = cpu_ms(
        lambda: pq.write_table(table, folder / "bare.parquet", use_dictionary=repeating, write_statistics=False), 30
    )
    print(
        f"predictions parquet: dictionary everywhere {everywhere:.1f} ms, "
        f"on repeating columns {on_repeating:.1f} ms, "
        "without statistics "
        f"{without_statistics:.1f} ms"
    )


def predictions_read(fitted, folder: Path) -> None:
    """A model's predictions file read back (the job report's read) from disk against from memory."""
    from mlflow_qc.models import predictions_file

    path = folder / "kept.parquet"

    def from_disk():
        predictions_file._kept.clear()
        predictions_file.read_predictions_table(path)

    def from_memory():
        fitted.write_predictions(path)
        predictions_file.read_predictions_table(path)

    written = cpu_ms(lambda: fitted.write_predictions(path), 20)
    print(
        f"predictions read back per model: from the file {cpu_ms(from_disk, 20):.1f} ms, "
        f"handed over from memory {cpu_ms(from_memory, 20) - written:.1f} ms"
    )


def figure_json(report) -> None:
    """A job report's figures as plotly JSON through plotly's public ``plotly.io.to_json`` (issue 31: no
    private plotly name; the hand-typed arrays of issue 13 are gone)."""
    took = cpu_ms(report._figure_dicts, 10)
    print(f"job report figure JSON ({len(report.figures)} figures): plotly.io.to_json {took:.1f} ms")


def model_save(fitted, folder: Path) -> None:
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from mlflow_qc.models.sklearn_adapter import MODEL_FILE

    forest = RandomForestClassifier(100, max_depth=8, random_state=0).fit(
        *make_classification(2000, 20, random_state=0)
    )
    for name, model in (("logistic regression", fitted.model), ("100-tree forest", forest)):
        print(
            f"{name} saved: joblib.dump {cpu_ms(lambda: joblib.dump(model, folder / 'old.joblib'), 20):.2f} ms, "
            f"C pickler {cpu_ms(lambda: fitted.adapter.save(model, folder / 'saved'), 20):.2f} ms "
            f"(its {MODEL_FILE} and adapter.json)"
        )


def experiment_parts(jobs: int = 40, folds: int = 5, repeats: int = 2) -> None:
    import numpy as np
    import pandas as pd

    from mlflow_qc.evaluate.comparison import compare_models
    from mlflow_qc.evaluate.figures_experiment import boomerang_figure

    rng = np.random.default_rng(0)
    rows = [
        {
            "job": f"job {j}",
            "model": f"job {j} fold {f} repeat {r}",
            "run_id": uuid.uuid4().hex,
            "hyperparameters": f"C={j}",
            "fold_index": f,
            "repeat_index": r,
            "refit": False,
        }
        for j in range(jobs)
        for f in range(folds)
        for r in range(repeats)
    ]
    models = pd.DataFrame(rows)
    for split in ("train", "fold_validation", "test"):
        for metric in ("loss", "accuracy", "f1", "precision", "recall", "roc_auc"):
            models[f"{split}_{metric}"] = rng.uniform(0.5, 0.9, len(models))
    sizes = {"fold_validation": (12800.0, 3200.0), "test": (16000.0, 4000.0)}
    print(
        f"experiment report of {jobs} jobs x {folds * repeats} models: boomerang figure "
        f"{cpu_ms(lambda: boomerang_figure(models, 'classification_binary'), 5):.0f} ms, head-to-head comparison "
        f"{cpu_ms(lambda: compare_models(models, sizes, None, 'fold_validation_accuracy'), 5):.0f} ms"
    )


def trained_job(root: Path):
    import yaml
    from mlflow.tracking import MlflowClient
    from train_overhead import in_process_workspace, recipe

    from mlflow_qc.experiment import Experiment
    from mlflow_qc.tracking.queries import model_runs_below

    in_process_workspace(root)
    spec = recipe(1)
    spec["data"]["version"] = "off"
    (root / "recipes" / "parts.yaml").write_text(yaml.safe_dump(spec))
    result = Experiment.from_yaml(root / "recipes" / "parts.yaml").run()
    client = MlflowClient()
    [job] = client.search_runs([result.experiment_id], "tags.`qc.level` = 'job'")
    model = model_runs_below(client, job)[0]
    return client, job, model_runs_below(client, job), model


def main() -> None:
    from mlflow_qc.cache import CacheEntry, entry_path
    from mlflow_qc.evaluate.job_report import log_job_report
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.run.fit_model import fit_and_evaluate
    from mlflow_qc.run.plan import Job, plan_tasks

    store_writes()
    if sys.argv[1:] == ["--store-only"]:
        return
    figure_template()
    experiment_parts()
    root = Path(tempfile.mkdtemp(prefix="qc-parts-"))
    client, job, models, model = trained_job(root)
    entry = CacheEntry(entry_path(client.get_run(job.data.tags["mlflow.parentRunId"]).data.tags["qc.cache_key"]))
    mlmodel(Path(model.info.artifact_uri.removeprefix("file://")) / "model")
    artifact_copy(Path(model.info.artifact_uri.removeprefix("file://")))
    recipe = load_recipe(root / "recipes" / "parts.yaml")
    task = plan_tasks([Job(0, {"C": 1.0, "max_iter": 500})], entry.contexts, 1, 42)[0]
    fitted = fit_and_evaluate(task, recipe.model, entry)
    predictions(fitted, root)
    parquet_dictionary(root)
    predictions_read(fitted, root)
    model_save(fitted, root)
    figure_json(log_job_report(client, job.info.run_id, models, entry))
    print(
        f"job report of {len(models)} models: "
        f"{cpu_ms(lambda: log_job_report(client, job.info.run_id, models, entry), 3, 1):.0f} ms"
    )


if __name__ == "__main__":
    main()
