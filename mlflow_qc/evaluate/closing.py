"""The last lines of a training: the best job with its mean and confidence interval on the ranking
metric (the comparison's corrected interval over folds x repeats), the registered version and its
alias, and where to look (``mlflow-qc ui`` and the experiment's tracker page)."""

from __future__ import annotations

import logging
import math

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.compare_sources import experiment_source
from mlflow_qc.evaluate.comparison import CONFIDENCE
from mlflow_qc.evaluate.significance import corrected_interval
from mlflow_qc.tracking.names import (
    BEST_JOB_INDEX,
    REGISTERED_MODEL,
    split_of,
    tracker_path,
)

log = logging.getLogger(__name__)
UI_ADDRESS = "http://127.0.0.1:5000"  # mlflow-qc ui's default (README: "The QC pages")


def closing_summary(run_id: str, client: MlflowClient | None = None) -> str:
    client = client or MlflowClient()
    run = client.get_run(run_id)
    lines = []
    best = _best_job(client, run_id, run.data.tags)
    if best:
        lines.append(best)
    registered = run.data.tags.get(REGISTERED_MODEL)
    if registered:
        lines.append(_registered(client, registered))
    lines.append(
        f"look: mlflow-qc ui, then {UI_ADDRESS}{tracker_path(run_id)} (the tracker; the MLflow UI at "
        f"{UI_ADDRESS}/#/experiments/{run.info.experiment_id}/runs/{run_id})"
    )
    return "\n".join(lines)


def _best_job(client: MlflowClient, run_id: str, tags: dict) -> str | None:
    index = tags.get(BEST_JOB_INDEX)
    if index is None:
        return None
    try:
        source = experiment_source(client, run_id)
    except QCError as exc:  # no finished model to rank: the failures say why
        log.debug("no best job to show: %s", exc)
        return None
    metric, label = source.ranking_metric, f"job {index}"
    models = source.models[source.models["job"] == label]
    if not metric or metric not in models.columns or models.empty:
        return f"best job: {label}"
    interval = corrected_interval(models[metric], *source.sizes.get(split_of(metric), (0.0, 0.0)), CONFIDENCE)
    spread = (
        f" [{interval.low:.4g}, {interval.high:.4g}] ({CONFIDENCE:.0%} interval over {interval.count} models)"
        if not math.isnan(interval.low)
        else " (one model: no interval)"
    )
    hyperparameters = models["hyperparameters"].iloc[0]
    return (
        f"best job: {label}{f' ({hyperparameters})' if hyperparameters else ''}: {metric} {interval.mean:.4g}{spread}"
    )


def _registered(client: MlflowClient, uri: str) -> str:
    name, _, version = uri.removeprefix("models:/").rpartition("/")
    try:
        aliases = client.get_model_version(name, version).aliases
    except MlflowException:  # the version was deleted meanwhile: the URI is still what was registered
        aliases = []
    shown = f" as {', '.join(f'@{alias}' for alias in aliases)}" if aliases else " (no alias)"
    return f"registered: {name} version {version}{shown} ({uri})"
