"""``mlflow-qc finalize RUN_ID``: the sealed test split of a ``trainer.hide_test`` experiment, evaluated once.

The chosen job is the experiment run's best job (tag ``qc.best_job_run_id``: the best mean of the
ranking metric, the job ``register`` registers from), with its refit twin when the trainer refit
it; the baseline job is evaluated beside them. Each of their finished models is loaded from its
run (model and decision threshold as its pyfunc saved them) and scored on the cached test arrays
of its context. Everything is computed before anything is written; then the model runs get their
``test_*`` metrics and test rows in ``qc/predictions.parquet``, fold and job runs their test
aggregates, the experiment run its tables, the best job's test aggregates and the tag
``qc.test_revealed`` (UTC time and user), and the reports are rebuilt. A second finalize refuses.
"""

from __future__ import annotations

import datetime
import getpass
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.cache import CacheEntry
from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.artifacts import run_artifact, saved_model
from mlflow_qc.evaluate.experiment_report import log_experiment_report
from mlflow_qc.evaluate.importance_after import cache_entry_of, model_hyperparameters
from mlflow_qc.evaluate.job_report import refresh_job_reports
from mlflow_qc.evaluate.observers import report_safely
from mlflow_qc.evaluate.per_class import with_split_of
from mlflow_qc.models.scoring import SplitScore, score_split
from mlflow_qc.models.user_metrics import recorded_user_metrics
from mlflow_qc.run.aggregate import aggregate
from mlflow_qc.run.observers import ExperimentClosed
from mlflow_qc.run.summary import jobs_table
from mlflow_qc.tracking.names import (
    AGGREGATE_ARTIFACT,
    BASELINE,
    BEST_JOB_INDEX,
    BEST_JOB_RUN_ID,
    FINALIZE,
    FINALIZED,
    FINISHED,
    JOB_KEY,
    LEVEL,
    METRIC_DIGEST_PREFIX,
    METRIC_DIRECTIONS,
    METRICS_ARTIFACT,
    PARENT,
    PER_CLASS_ARTIFACT,
    PREDICTIONS_ARTIFACT,
    RANKING_METRIC,
    RECIPE_ARTIFACT,
    REFIT,
    TEST_REVEALED,
    TEST_SEALED,
    TEST_SPLIT,
)
from mlflow_qc.tracking.queries import children_of, get_run, is_experiment_run, level_of, model_runs_below
from mlflow_qc.tracking.tables import hyperparameter_twin, read_aggregates, read_metrics


@dataclass
class Revealed:
    run_id: str
    revealed: str  # the tag's value
    jobs: dict[str, dict[str, float]] = field(default_factory=dict)  # job run name -> test metric means
    models: int = 0

    def summary(self) -> str:
        lines = [f"experiment run {self.run_id}: test split revealed {self.revealed} ({self.models} model(s))"]
        for job, means in self.jobs.items():
            lines.append(f"  {job}: " + ", ".join(f"{name} {value:.4g}" for name, value in means.items()))
        return "\n".join(lines)


def sealed_experiment_run(client: MlflowClient, run_id: str):
    run = get_run(client, run_id)
    if not is_experiment_run(run):
        raise QCError("run_id", f"run {run_id} is a {level_of(run) or 'non-QC'} run; expected an experiment run")
    tags = run.data.tags
    if TEST_REVEALED in tags:
        raise QCError(
            f"experiment run {run_id}",
            f"its test split was revealed {tags[TEST_REVEALED]}; "
            "expected a sealed one: the test split is evaluated once",
        )
    if tags.get(TEST_SEALED) != "true":
        raise QCError(
            f"experiment run {run_id}",
            "was trained without trainer.hide_test, so its test metrics are "
            "logged already; expected a run trained with hide_test: true",
        )
    if BEST_JOB_RUN_ID not in tags:
        raise QCError(
            f"experiment run {run_id}", "has no best job (no model finished); expected a trained experiment run"
        )
    return run


def chosen_job_runs(client: MlflowClient, run) -> list:
    """The best job, its refit twin (when the trainer refit it) and the baseline job."""
    best = client.get_run(run.data.tags[BEST_JOB_RUN_ID])
    chosen = [best]
    children = children_of(client, run.info.experiment_id, run.info.run_id)
    jobs = read_aggregates(run.info.run_id)
    twin = hyperparameter_twin(jobs, jobs[jobs["job_index"] == int(run.data.tags[BEST_JOB_INDEX])].iloc[0], refit=True)
    for child in children:
        tags = child.data.tags
        refit_twin = twin is not None and tags.get(REFIT) == "true" and tags.get(JOB_KEY) == twin["job_key"]
        if child.info.run_id != best.info.run_id and (refit_twin or tags.get(BASELINE) == "true"):
            chosen.append(child)
    return chosen


def trained_user_metrics(run) -> tuple:
    """The experiment run's evaluation.metrics (from its recipe.yaml), as it scored its models."""
    tags = run.data.tags
    if METRIC_DIRECTIONS not in tags:
        return ()
    import mlflow
    import yaml

    from mlflow_qc.recipe import UserMetricSpec

    raw = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/{RECIPE_ARTIFACT}")) or {}
    specs = [UserMetricSpec.model_validate(item) for item in (raw.get("evaluation") or {}).get("metrics") or []]
    digests = {
        key[len(METRIC_DIGEST_PREFIX) :]: value for key, value in tags.items() if key.startswith(METRIC_DIGEST_PREFIX)
    }
    return recorded_user_metrics(specs, digests)


def score_on_test(model_run, entry: CacheEntry, user_metrics=()) -> SplitScore:
    with tempfile.TemporaryDirectory() as tmp:
        saved = saved_model(model_run, tmp)
    data = entry.load(saved.context, TEST_SPLIT)
    output = np.asarray(saved.adapter.predict(saved.model, list(data.features)))
    rows = entry.rows(saved.context)[TEST_SPLIT]
    return score_split(
        saved.adapter,
        saved.model,
        TEST_SPLIT,
        data.label,
        output,
        rows,
        entry.pipeline(saved.context),
        model_hyperparameters(model_run),
        saved.threshold,
        user_metrics,
    )


def finalize(run_id: str) -> Revealed:
    client = MlflowClient()
    label_launched_run(client, run_id)
    run = sealed_experiment_run(client, run_id)
    entry = cache_entry_of(run)
    if TEST_SPLIT not in entry.split_names(entry.contexts[0]):
        raise QCError(f"experiment run {run_id}", "has no test split; expected data.stratifier.size_test")
    chosen = {job.info.run_id: (job, model_runs_below(client, job)) for job in chosen_job_runs(client, run)}
    own = trained_user_metrics(run)
    scores = {model.info.run_id: score_on_test(model, entry, own) for _, models in chosen.values() for model in models}

    now = int(time.time() * 1000)
    for job, models in chosen.values():
        for model in models:
            log_model_scores(client, model, scores[model.info.run_id], now, entry.meta.get("classes"))
        log_aggregates(client, job, models, scores, now)
    update_tables(client, run, scores, now)
    revealed = f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')} by {user()}"
    for run_id_ in [run_id, *chosen]:
        client.set_tag(run_id_, TEST_REVEALED, revealed)
    all_models = [client.get_run(model.info.run_id) for _, models in chosen.values() for model in models]
    report_safely(client, run_id, lambda: refresh_job_reports(client, all_models, entry))
    report_safely(client, run_id, lambda: log_experiment_report(client, closed_event(client, run_id, entry)))
    means = {
        job.info.run_name: aggregate([scores[m.info.run_id].metrics for m in models]) for job, models in chosen.values()
    }
    return Revealed(
        run_id,
        revealed,
        {
            name: {k[: -len("_mean")]: v for k, v in values.items() if k.endswith("_mean")}
            for name, values in means.items()
        },
        len(scores),
    )


def label_launched_run(client: MlflowClient, run_id: str) -> None:
    """Under ``mlflow run . -e finalize`` the launcher's own run (MLFLOW_RUN_ID) is the finalize command's:
    tagged ``qc.level = finalize`` and ``qc.finalized`` (the experiment run it evaluates), named after it.
    The launcher ends it (FINISHED, or FAILED with the error line when finalize refuses)."""
    launched = os.environ.get("MLFLOW_RUN_ID")
    if not launched or launched == run_id:
        return
    client.set_tag(launched, LEVEL, FINALIZE)
    client.set_tag(launched, FINALIZED, run_id)
    client.update_run(launched, name=f"{FINALIZE} {run_id[:8]}")


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without a passwd entry
        return "unknown"


def log_model_scores(client: MlflowClient, model_run, score: SplitScore, now: int, classes=None) -> None:
    """The model run's test metrics, and its test rows added to qc/predictions.parquet and (a
    classifier: ``classes``) qc/per_class.csv, replacing any from an interrupted earlier finalize."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "qc")
        folder.mkdir()
        path = folder / Path(PREDICTIONS_ARTIFACT).name
        logged = pd.read_parquet(run_artifact(model_run.info.artifact_uri, PREDICTIONS_ARTIFACT, Path(tmp, "in")))
        logged = logged[logged["split"] != TEST_SPLIT]
        pd.concat([logged, score.predictions], ignore_index=True).to_parquet(path, index=False)
        client.log_artifact(model_run.info.run_id, str(path), str(Path(PREDICTIONS_ARTIFACT).parent))
        if classes:
            try:
                table = pd.read_csv(run_artifact(model_run.info.artifact_uri, PER_CLASS_ARTIFACT, Path(tmp, "in")))
            except (OSError, MlflowException):  # trained before the per-class table existed
                table = None
            per_class = folder / Path(PER_CLASS_ARTIFACT).name
            with_split_of(table, TEST_SPLIT, score.predictions, classes).to_csv(per_class, index=False)
            client.log_artifact(model_run.info.run_id, str(per_class), str(Path(PER_CLASS_ARTIFACT).parent))
    client.log_batch(model_run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in score.metrics.items()])


def log_aggregates(client: MlflowClient, job, models: list, scores: dict[str, SplitScore], now: int) -> None:
    """Test aggregates on the job run and on each fold run below it (a model's parent other than its job)."""
    groups = defaultdict(list)
    for model in models:
        parent = model.data.tags.get(PARENT)
        if parent and parent != job.info.run_id:
            groups[parent].append(scores[model.info.run_id].metrics)
    groups[job.info.run_id] = [scores[m.info.run_id].metrics for m in models]
    for run_id, metrics in groups.items():
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in aggregate(metrics).items()])


def update_tables(client: MlflowClient, run, scores: dict[str, SplitScore], now: int) -> None:
    """qc/metrics.csv with the test metrics, qc/metrics_aggregate.csv recomputed from it, and the best
    job's test aggregates on the experiment run."""
    run_id = run.info.run_id
    models = read_metrics(run_id)
    for model_run_id, score in scores.items():
        for key, value in score.metrics.items():
            models.loc[models["run_id"] == model_run_id, key] = value
    jobs = jobs_table(models[models["status"] == FINISHED])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "qc").mkdir()
        models.to_csv(Path(tmp, METRICS_ARTIFACT), index=False)
        jobs.to_csv(Path(tmp, AGGREGATE_ARTIFACT), index=False)
        client.log_artifacts(run_id, tmp)
    best = jobs[jobs["job_index"] == int(run.data.tags[BEST_JOB_INDEX])].iloc[0]
    values = [
        Metric(k, float(best[k]), now, 0) for k in jobs.columns if k.startswith(f"{TEST_SPLIT}_") and pd.notna(best[k])
    ]
    client.log_batch(run_id, metrics=values)


def closed_event(client: MlflowClient, run_id: str, entry: CacheEntry) -> ExperimentClosed:
    """The experiment's closing event rebuilt from its run, for its report."""
    run = client.get_run(run_id)
    models = read_metrics(run_id)
    return ExperimentClosed(
        run_id=run_id,
        name=run.data.params.get("recipe.name", run.info.run_name),
        analysis_type=entry.meta["analysis_type"],
        models=models,
        ranking_metric=run.data.tags[RANKING_METRIC],
        contexts=entry.meta["contexts"],
        finished=int((models["status"] == FINISHED).sum()),
        best_job_index=int(run.data.tags[BEST_JOB_INDEX]),
    )
