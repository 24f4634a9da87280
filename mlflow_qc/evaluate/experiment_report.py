"""The experiment run's ``qc/report.html`` (boomerang, leaderboard, head-to-head, the test split's
state) and ``qc/compare.md``.

Everything comes from the experiment's model table in memory: no model run is read back (one query finds the
job runs its head-to-head link names).
"""

from __future__ import annotations

from mlflow_qc.evaluate.comparison import ALPHA, baseline_verdicts, compare_models, model_frame, split_sizes
from mlflow_qc.evaluate.figures_adaptive import resource_figure
from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard, leaderboard_figure
from mlflow_qc.evaluate.report import Report
from mlflow_qc.tracking.names import (
    BASELINE_JOB,
    COMPARE_ARTIFACTS,
    JOB,
    JOB_INDEX,
    PARENT,
    RESUME_KEY,
    TEST_REVEALED,
    TEST_SEALED,
    TEST_SPLIT,
    compare_path,
    split_of,
    tracker_path,
)
from mlflow_qc.tracking.queries import tree_runs

TEST_SECTION = "Test split"


def page_links(client, run, board, job_runs: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The tracker, and the head-to-head of the two best jobs when there are two (the baseline is none of them).
    ``job_runs``: job label -> its job run, when the caller knows them (else they are searched for)."""
    links = [("experiment tracker", tracker_path(run.info.run_id))]
    ranked = [str(label) for label in board["job"] if label != BASELINE_JOB] if len(board) else []
    if len(ranked) >= 2 and (job_runs is not None or RESUME_KEY in run.data.tags):
        if job_runs is None:
            job_runs = {
                f"job {r.data.tags.get(JOB_INDEX)}": r.info.run_id
                for r in tree_runs(
                    client,
                    run.info.experiment_id,
                    run.data.tags[RESUME_KEY],
                    JOB,
                    f"tags.`{PARENT}` = '{run.info.run_id}'",
                )
            }
        best, second = (job_runs.get(label) for label in ranked[:2])
        if best and second:
            links.append((f"head-to-head {ranked[0]} vs {ranked[1]}", compare_path(best, second)))
    return links


def experiment_report(client, event) -> tuple[Report, str | None]:
    """The report of an ``ExperimentClosed`` event, and the head-to-head as Markdown (None without models)."""
    run = client.get_run(event.run_id)
    analysis_type = event.analysis_type
    models = model_frame(event.models, include_refit=True)
    report = Report(
        f"{event.name}: all models", f"{len(models)} model(s); {analysis_type}; experiment run {event.run_id}"
    )
    report.pages = page_links(client, run, [])
    report.plotly_run = event.run_id  # shared with its job reports
    if models.empty:
        report.section("Models").notes.append("No model finished.")
        return report, None
    metric = event.ranking_metric
    boomerang = boomerang_figure(models, analysis_type)
    if boomerang is not None:
        section = report.section("Models by split")
        section.notes.append("Each line is one model through its splits; the menu picks the score.")
        section.figures.append(boomerang)
    adaptive = resource_figure(event.models, metric)  # partial jobs are out of `models`, not out of this figure
    if adaptive is not None:
        section = report.section("Adaptive search")
        section.notes.append("Each line is one candidate through its rungs; grey: stopped before the full resource.")
        section.figures.append(adaptive)
    compared = models[~models["refit"]]  # a refit job is one model on other rows: ranked and tested apart
    if compared.empty:
        return report, None
    sizes = split_sizes(event.contexts)
    verdicts = baseline_verdicts(compared, sizes, metric)
    board = leaderboard(compared, metric, verdicts)
    jobs = compared.drop_duplicates("job")
    runs = event.job_run_ids
    job_runs = {job: runs[key] for job, key in zip(jobs["job"], jobs["job_key"]) if key in runs}
    report.pages = page_links(client, run, board, job_runs if runs else None)
    section = report.section("Leaderboard")
    section.tables.append((f"Jobs by the mean of {metric}", board))
    if len(verdicts):
        section.notes.append(baseline_note(verdicts))
    figure = leaderboard_figure(compared, board, metric)
    if figure is not None:
        section.figures.append(figure)
    test_section(report, run.data.tags, models)
    comparison = compare_models(compared, sizes, None, metric, f"Head-to-head: {run.info.run_name}")
    report.section("Head-to-head").html.append(comparison.render("html"))
    return report, comparison.render("markdown")


def baseline_note(verdicts) -> str:
    losers = verdicts.loc[~verdicts["beats_baseline"].astype(bool), "job"].tolist()
    rule = (
        f"better than the baseline job by the corrected resampled t-test on {verdicts['metric'].iloc[0]}, "
        f"p (Holm over {len(verdicts)} jobs) < {ALPHA}"
    )
    if not losers:
        return f"Every job beats the baseline ({rule})."
    return f"Not beating the baseline ({rule}): {', '.join(losers)}."


def test_section(report: Report, tags: dict, models) -> None:
    """Where the test split stands: sealed (trainer.hide_test), or revealed once by finalize with its numbers."""
    if TEST_REVEALED in tags:
        section = report.section(TEST_SECTION)
        section.notes.append(
            f"Revealed once by mlflow-qc finalize ({tags[TEST_REVEALED]}): the chosen job, and the baseline."
        )
        columns = [c for c in models.columns if split_of(c) == TEST_SPLIT]
        revealed = models.dropna(subset=columns, how="all") if columns else models.iloc[0:0]
        if len(revealed):
            table = revealed.groupby("job", sort=False)[columns].agg(["mean", "std"])
            table.columns = [f"{metric} {stat}" for metric, stat in table.columns]
            section.tables.append(("Test metrics: mean and spread over each job's models", table.reset_index()))
    elif tags.get(TEST_SEALED) == "true":
        report.section(TEST_SECTION).notes.append(
            "Sealed (trainer.hide_test): no model was scored on the test split. `mlflow-qc finalize RUN_ID` "
            "evaluates the chosen job on it once."
        )


def log_experiment_report(client, event) -> None:
    report, markdown = experiment_report(client, event)
    report.log(client, event.run_id)
    if markdown is not None:
        client.log_text(event.run_id, markdown, COMPARE_ARTIFACTS["markdown"])
