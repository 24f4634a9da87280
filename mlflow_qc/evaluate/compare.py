"""Head-to-head of an experiment's jobs (README: "Evaluation in the MLflow UI"): the statistics of
``comparison`` on the numbers ``compare_sources`` reads from the runs."""

from __future__ import annotations

from mlflow_qc.evaluate.compare_sources import Source, load_models
from mlflow_qc.evaluate.comparison import ALPHA, Comparison, Options, compare_models
from mlflow_qc.tracking.names import COMPARE_ARTIFACTS


def compare_source(
    source: Source, metrics: list[str] | None = None, alpha: float = ALPHA, options: Options | None = None
) -> Comparison:
    return compare_models(source.models, source.sizes, metrics, source.ranking_metric, source.title, alpha, options)


def compare_jobs(
    run_id: str | None = None,
    run_ids: list[str] | None = None,
    metrics: list[str] | None = None,
    alpha: float = ALPHA,
    options: Options | None = None,
) -> Comparison:
    """For notebooks: the head-to-head of an experiment run's jobs, or of chosen job runs (``options``: which test,
    which adjustment, the Bayesian test's rope)."""
    return compare_source(load_models(run_id, run_ids), metrics, alpha, options)


def compare_command(run_id: str | None, run_ids: list[str] | None, fmt: str, options: Options | None = None) -> str:
    """The ``compare`` entry point: render, log on the experiment run, return the text."""
    from mlflow.tracking import MlflowClient

    source = load_models(run_id, run_ids)
    text = compare_source(source, options=options).render(fmt)
    MlflowClient().log_text(source.experiment_run_id, text, COMPARE_ARTIFACTS[fmt])
    return text
