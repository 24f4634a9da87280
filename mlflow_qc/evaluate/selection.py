"""Which model of the chosen job a registration takes, and how the version describes the job
(README: "Registration").

Jobs are ranked by their mean; within the job, the best single model would be the one whose
held-out fold happened to be easiest (fold luck): its score overstates what it does on new
rows. So a registration takes the refit model when the trainer refit the job (trained on train
+ validation: the most data), otherwise the model whose score is closest to the job's median (a
typical member of the job; ties: the first in tree order, fold then repeat). The version is
described by the job's mean and its corrected confidence interval, not by that model's score.
"""

from __future__ import annotations

import math

import pandas as pd

from mlflow_qc.evaluate.comparison import CONFIDENCE, bounded, identical_repeat_jobs, one_per_fold
from mlflow_qc.evaluate.significance import Interval, corrected_interval
from mlflow_qc.tracking.names import split_of

RULE = "the model closest to the job's median (not the luckiest fold's)"
REFIT_RULE = "the refit model (trained on train + validation)"


def representative_model(models: pd.DataFrame, metric: str) -> pd.Series:
    """The row of ``models`` (one job's finished models, in tree order) closest to their median ``metric``;
    the first row when none has a value (refit models have no evaluation split)."""
    values = (
        pd.to_numeric(models[metric], errors="coerce")
        if metric in models
        else pd.Series(index=models.index, dtype=float)
    )
    if not values.notna().any():
        return models.iloc[0]
    distance = (values - values.median()).abs()
    return models.loc[distance.sort_values(kind="stable", na_position="last").index[0]]


def job_estimate(models: pd.DataFrame, metric: str, sizes: dict[str, tuple[float, float]]) -> Interval:
    """One job's mean of ``metric`` and its corrected confidence interval (identical repeats once per fold),
    inside the metric's range."""
    rows = models.assign(job="job")
    if identical_repeat_jobs(rows):
        rows = one_per_fold(rows)
    n_train, n_test = sizes.get(split_of(metric), (0.0, 0.0))
    return bounded(corrected_interval(rows[metric], n_train, n_test, CONFIDENCE), metric)


def estimate_text(metric: str, job_index: int, estimate: Interval) -> str:
    """``validation_accuracy: job 3 mean 0.912 [0.887, 0.937] (95% corrected interval, 8 models)``."""
    interval = "" if math.isnan(estimate.low) else f" [{estimate.low:.4g}, {estimate.high:.4g}]"
    return (
        f"{metric}: job {job_index} mean {estimate.mean:.4g}{interval} "
        f"({CONFIDENCE:.0%} corrected interval, {estimate.count} model(s))"
    )
