"""The experiment run's ``qc/report.html`` (boomerang, leaderboard, head-to-head) and ``qc/compare.md``.

Everything comes from the experiment's model table in memory: no model run is read back.
"""
from __future__ import annotations

from mlflow_qc.evaluate.comparison import compare_models, model_frame, split_sizes
from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard, leaderboard_figure
from mlflow_qc.evaluate.report import Report
from mlflow_qc.tracking.names import COMPARE_ARTIFACTS


def experiment_report(client, event) -> tuple[Report, str | None]:
    """The report of an ``ExperimentClosed`` event, and the head-to-head as Markdown (None without models)."""
    run = client.get_run(event.run_id)
    analysis_type = event.analysis_type
    models = model_frame(event.models, include_refit=True)
    report = Report(f"{event.name}: all models", f"{len(models)} model(s); {analysis_type}; experiment run {event.run_id}")
    if models.empty:
        report.section("Models").notes.append("No model finished.")
        return report, None
    metric = event.ranking_metric
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
    comparison = compare_models(compared, split_sizes(event.contexts), None, metric, f"Head-to-head: {run.info.run_name}")
    report.section("Head-to-head").html.append(comparison.render("html"))
    return report, comparison.render("markdown")


def log_experiment_report(client, event) -> None:
    report, markdown = experiment_report(client, event)
    report.log(client, event.run_id)
    if markdown is not None:
        client.log_text(event.run_id, markdown, COMPARE_ARTIFACTS["markdown"])
