"""The experiment run's ``qc/report.html`` (boomerang, leaderboard, head-to-head) and ``qc/compare.md``.

Everything comes from the experiment's model table in memory: no model run is read back (one query finds the
job runs its head-to-head link names).
"""
from __future__ import annotations

from mlflow_qc.evaluate.comparison import compare_models, model_frame, split_sizes
from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard, leaderboard_figure
from mlflow_qc.evaluate.report import Report
from mlflow_qc.tracking.names import COMPARE_ARTIFACTS, JOB, JOB_INDEX, RESUME_KEY, compare_path, tracker_path
from mlflow_qc.tracking.queries import tree_runs


def page_links(client, run, board) -> list[tuple[str, str]]:
    """The tracker, and the head-to-head of the two best jobs when there are two."""
    links = [("experiment tracker", tracker_path(run.info.run_id))]
    if len(board) >= 2 and RESUME_KEY in run.data.tags:
        job_runs = {r.data.tags.get(JOB_INDEX): r.info.run_id
                    for r in tree_runs(client, run.info.experiment_id, run.data.tags[RESUME_KEY], JOB)}
        best, second = (job_runs.get(str(label).removeprefix("job ")) for label in board["job"][:2])
        if best and second:
            links.append((f"head-to-head {board['job'][0]} vs {board['job'][1]}", compare_path(best, second)))
    return links


def experiment_report(client, event) -> tuple[Report, str | None]:
    """The report of an ``ExperimentClosed`` event, and the head-to-head as Markdown (None without models)."""
    run = client.get_run(event.run_id)
    analysis_type = event.analysis_type
    models = model_frame(event.models, include_refit=True)
    report = Report(f"{event.name}: all models", f"{len(models)} model(s); {analysis_type}; experiment run {event.run_id}")
    report.pages = page_links(client, run, [])
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
    report.pages = page_links(client, run, board)
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
