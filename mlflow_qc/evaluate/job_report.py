"""A job run's ``qc/report.html``, built from its model runs' logged predictions, importance and history."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.data.typical import one_table
from mlflow_qc.evaluate.artifacts import run_artifact
from mlflow_qc.evaluate.figures_classification import (
    calibration_figures,
    confidence_figure,
    confusion_figures,
    curves_figures,
    groups_by_split,
    with_class_positions,
)
from mlflow_qc.evaluate.figures_forecast import forecast_figures, horizon_error_figure
from mlflow_qc.evaluate.figures_style import ordered_splits
from mlflow_qc.evaluate.figures_training import importance_figures, learning_curve_figures, regression_figures
from mlflow_qc.evaluate.gallery import add_gallery
from mlflow_qc.evaluate.per_class import per_class_rows
from mlflow_qc.evaluate.report import Report
from mlflow_qc.models.metrics import per_class_table
from mlflow_qc.models.predictions_file import read_predictions_table
from mlflow_qc.models.scoring import constant_dictionary
from mlflow_qc.tracking.names import (
    FINISHED,
    FIT_SECONDS,
    FOLD_INDEX,
    IMPORTANCE_ARTIFACT,
    IMPORTANCE_PREFIX,
    PAGE_LINKS_SHOWN,
    PARENT,
    PREDICTIONS_ARTIFACT,
    REPEAT_INDEX,
    SPLITS,
    tracker_path,
    whatif_path,
)
from mlflow_qc.tracking.queries import job_run_id_of, model_runs_below
from mlflow_qc.tracking.tables import sample_std

QC_FOLDER = str(Path(PREDICTIONS_ARTIFACT).parent)
PREDICTIONS_FILE, IMPORTANCE_FILE = Path(PREDICTIONS_ARTIFACT).name, Path(IMPORTANCE_ARTIFACT).name
NOT_HISTORY = re.compile(rf"^(({'|'.join(SPLITS)})_|{IMPORTANCE_PREFIX})")


@dataclass
class EvaluationData:
    """What the figures are drawn from, for one or more models."""

    predictions: pd.DataFrame  # model, run_id, split, row, y_true, prediction[, probability_<class>...]
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, run_id, split, level, input, column, ...
    histories: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # model -> metric -> per epoch
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, key ({split}_{metric}, importance_...), value


def model_label(tags: dict) -> str:
    fold = tags.get(FOLD_INDEX)
    repeat = tags.get(REPEAT_INDEX, "0")
    return f"fold {fold} repeat {repeat}" if fold is not None else f"repeat {repeat}"


def collect(client, runs: list, label=model_label, artifact_root=lambda run: run.info.artifact_uri) -> EvaluationData:
    """Read each model run's qc/ folder and epoch history (one download and a few queries per model).

    ``label(tags)`` names each model in the figures; ``artifact_root(run)`` is where its artifacts
    are read from (the QC pages map ``mlflow-artifacts:`` locations onto the server's folder).
    """
    predictions, importance, histories, metrics = [], [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            label_of, run_id = label(run.data.tags), run.info.run_id
            folder = run_artifact(artifact_root(run), QC_FOLDER, Path(tmp, run_id))
            if (folder / PREDICTIONS_FILE).exists():
                predictions.append(labelled_predictions(folder / PREDICTIONS_FILE, label_of, run_id))
            if (folder / IMPORTANCE_FILE).exists():
                importance.append(pd.read_csv(folder / IMPORTANCE_FILE).assign(model=label_of, run_id=run_id))
            keys = [k for k in run.data.metrics if not NOT_HISTORY.match(k) and k != FIT_SECONDS]
            history = {
                k: [m.value for m in sorted(client.get_metric_history(run_id, k), key=lambda m: m.step)] for k in keys
            }
            histories[label_of] = {k: v for k, v in history.items() if len(v) > 1}
            metrics += [
                {"model": label_of, "key": k, "value": v} for k, v in run.data.metrics.items() if NOT_HISTORY.match(k)
            ]
    return EvaluationData(
        predictions=predictions_frame(predictions),
        importance=pd.concat(importance, ignore_index=True) if importance else pd.DataFrame(),
        histories={k: v for k, v in histories.items() if v},
        metrics=pd.DataFrame(metrics),
    )


def labelled_predictions(path: Path, model: str, run_id: str):
    """A model run's predictions as an Arrow table with its ``model`` and ``run_id`` columns; text
    columns (split, labels) as dictionaries, so they reach pandas as categories without a Python
    string per row (filtering and grouping 10^5-10^6 rows stays fast)."""
    table = read_predictions_table(path)
    for name, value in (("model", model), ("run_id", run_id)):
        table = table.append_column(name, constant_dictionary(str(value), table.num_rows))
    return table


def predictions_frame(tables: list) -> pd.DataFrame:
    """The models' predictions in one frame (a model's columns missing in another's are null there)."""
    import pyarrow as pa

    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables, promote_options="permissive").unify_dictionaries().to_pandas()


def metrics_summary(metrics: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """split x metric: mean and spread over the models (metrics in order of first appearance)."""
    if metrics.empty:
        return pd.DataFrame()
    by_key: dict[str, list[float]] = {}
    for key, value in zip(metrics["key"], metrics["value"]):  # a few hundred rows: no groupby per split
        if not key.startswith(IMPORTANCE_PREFIX):
            by_key.setdefault(key, []).append(value)
    rows = []
    for split in ordered_splits(predictions) if len(predictions) else []:
        for key, values in by_key.items():
            name = key[len(split) + 1 :]
            if not key.startswith(f"{split}_") or (split == "train" and name == "seconds"):
                continue
            values = np.asarray(values, dtype=np.float64)
            rows.append(
                {
                    "split": split,
                    "metric": name,
                    "mean": np.nanmean(values),
                    "std": sample_std(values),
                    "min": np.nanmin(values),
                    "max": np.nanmax(values),
                    "models": len(values),
                }
            )
    return pd.DataFrame(rows)


def per_class_summary(predictions: pd.DataFrame, classes: list) -> pd.DataFrame:
    """split x class: support and the mean precision, recall and f1 over the models (each model's
    ``qc/per_class.csv`` rows, from the same predictions)."""
    y_all, predicted_all = predictions["y_index"].to_numpy(), predictions["predicted_index"].to_numpy()
    frame = per_class_rows(
        (split, per_class_table(y_all[rows_of_model], predicted_all[rows_of_model], classes))
        for split, models in groups_by_split(predictions).items()
        for rows_of_model in models.values()
    )
    if frame.empty:
        return pd.DataFrame()
    frame = frame.astype({"class": str})
    order = {s: i for i, s in enumerate(ordered_splits(predictions))}
    summary = (
        frame.groupby(["split", "class"], sort=False)
        .agg(support=("support", "mean"), precision=("precision", "mean"), recall=("recall", "mean"), f1=("f1", "mean"))
        .reset_index()
    )
    return summary.sort_values("split", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def evaluation_report(
    data: EvaluationData, classes: list | None, analysis_type: str, title: str, subtitle: str = ""
) -> Report:
    """The report sections every evaluation shares (job runs and the ``qc`` evaluator): the figures
    first, the tables of numbers after them."""
    report = Report(title, subtitle)
    if data.histories:
        section = report.section("Learning curves")
        section.figures += learning_curve_figures(data.histories)
    predictions = data.predictions
    if len(predictions) and analysis_type != "regression" and classes:
        predictions = with_class_positions(predictions, classes)
        curves = curves_figures(("roc", "pr"), predictions, classes)
        report.section("ROC curves").figures += curves["roc"]
        report.section("Precision-recall curves").figures += curves["pr"]
        report.section("Calibration").figures += calibration_figures(predictions, classes)
        report.section("Confusion matrices").figures += confusion_figures(predictions, classes)
        confidence = confidence_figure(predictions, classes)
        if confidence is not None:
            report.section("Confidence").figures.append(confidence)
    elif len(predictions) and analysis_type == "forecasting":
        report.section("Forecasts").figures += forecast_figures(predictions)
        horizon = horizon_error_figure(predictions)
        if horizon is not None:
            report.section("Error by horizon").figures.append(horizon)
    elif len(predictions):
        report.section("Predictions").figures += regression_figures(predictions)
    if len(data.importance):
        section = report.section("Feature importance")
        split = ", ".join(dict.fromkeys(data.importance["split"].astype(str))) if "split" in data.importance else ""
        section.notes.append(
            f"Increase of the loss over the baseline when a column is permuted, on {split}; "
            "one point per model and permutation."
        )
        section.figures += importance_figures(data.importance)
    summary = metrics_summary(data.metrics, data.predictions)
    if len(summary):
        report.section("Metrics").tables.append(("Mean and spread over the models", summary))
    if len(predictions) and analysis_type.startswith("classification") and classes:
        per_class = per_class_summary(predictions, classes)
        if len(per_class):
            report.section("Metrics").tables.append(("Per class, mean over the models", per_class))
    return report


def log_job_report(client, job_run_id: str, model_runs: list, entry, job=None) -> Report:
    """Build the job's report from its finished model runs and log it on the job run (``entry``: the
    prepared cache entry, for the classes and the samples' gallery; ``job``: the job run when the caller has it)."""
    meta = entry.meta
    job = job or client.get_run(job_run_id)
    finished = [r for r in model_runs if r.info.status == FINISHED]
    data = collect(client, finished)
    hyperparameters = ", ".join(f"{k}={v}" for k, v in job.data.params.items())
    subtitle = f"{hyperparameters}; {len(finished)} model(s); {meta.get('analysis_type')}; job run {job_run_id}"
    report = evaluation_report(data, meta.get("classes"), meta.get("analysis_type"), job.info.run_name, subtitle)
    report.pages = [("experiment tracker", tracker_path(job.data.tags[PARENT]))] if PARENT in job.data.tags else []
    report.plotly_run = job.data.tags.get(PARENT)  # one plotly.js per experiment, on its run
    with_whatif = (
        finished[:PAGE_LINKS_SHOWN] if one_table(meta.get("kinds"), meta.get("windows")) else []
    )  # one field per column
    report.pages += [(f"what-if {model_label(run.data.tags)}", whatif_path(run.info.run_id)) for run in with_whatif]
    if "image" in (meta.get("kinds") or []):
        report.section("Feature importance").notes.append(
            "Permutation importance is not computed for image inputs: shuffling a channel over every pixel "
            "says little about an image model."
        )
    add_gallery(report, data.predictions, finished, entry)
    report.log(client, job_run_id, job.info.artifact_uri)
    return report


def refresh_job_reports(client, model_runs: list, entry) -> None:
    """Rebuild the reports of the jobs these models belong to (e.g. after importance after the fact)."""
    for job_run_id in dict.fromkeys(job_run_id_of(client, run) for run in model_runs):
        log_job_report(client, job_run_id, model_runs_below(client, client.get_run(job_run_id)), entry)
