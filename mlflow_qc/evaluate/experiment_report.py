"""The experiment run's ``qc/report.html`` (boomerang, leaderboard, head-to-head) and ``qc/compare.md``.

Everything comes from the training's job book in memory: no model run is read back.
"""
from __future__ import annotations

import pandas as pd

from mlflow_qc.evaluate.compare import ARTIFACTS, compare_models, hyperparameter_text, split_sizes
from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard, leaderboard_figure
from mlflow_qc.evaluate.report import Report


def job_label(job) -> str:
    return f"{'refit' if job.refit else 'job'} {job.index}"


def experiment_models(training) -> pd.DataFrame:
    """One row per finished model of the training, with its split metrics."""
    rows = []
    for record in training.book.finished:
        task = record.task
        rows.append({
            "job": job_label(task.job), "model": f"model {task.name}", "run_id": record.run_id, "refit": task.job.refit,
            "hyperparameters": hyperparameter_text(task.job.hyperparameters),
            "fold_index": task.fold_index, "repeat_index": task.repeat_index, **record.metrics,
        })
    return pd.DataFrame(rows)


def experiment_report(client, run_id: str, training) -> tuple[Report, str | None]:
    """The report, and the head-to-head as Markdown (None without models)."""
    run = client.get_run(run_id)
    analysis_type = training.recipe.model.analysis_type
    models = experiment_models(training)
    report = Report(f"{training.recipe.name}: all models", f"{len(models)} model(s); {analysis_type}; experiment run {run_id}")
    if models.empty:
        report.section("Models").notes.append("No model finished.")
        return report, None
    metric = training.ranking_metric
    boomerang = boomerang_figure(models, analysis_type)
    if boomerang is not None:
        section = report.section("Models by split")
        section.notes.append("Each line is one model through its splits; the menu picks the score.")
        section.figures.append(boomerang)
    compared = models[~models["refit"]]  # a refit job is one model on other rows: ranked and tested apart
    if compared.empty:
        return report, None
    board = leaderboard(compared, metric)
    section = report.section("Leaderboard")
    section.tables.append((f"Jobs by the mean of {metric}", board))
    figure = leaderboard_figure(compared, board, metric)
    if figure is not None:
        section.figures.append(figure)
    comparison = compare_models(compared, split_sizes(training.prepared.entry.meta["contexts"]), None, metric,
                                f"Head-to-head: {run.info.run_name}")
    report.section("Head-to-head").html.append(comparison.render("html"))
    return report, comparison.render("markdown")


def log_experiment_report(client, run_id: str, training) -> None:
    report, markdown = experiment_report(client, run_id, training)
    report.log(client, run_id)
    if markdown is not None:
        client.log_text(run_id, markdown, ARTIFACTS["markdown"])
