"""Which model ``register`` picks, on hand-made metric tables (no tracking store needed): the best job by its mean,
then the refit model or the model closest to the job's median (never the luckiest fold's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.run.aggregate import aggregate
from mlflow_qc.serve.registry import best_model


def tables(models: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """qc/metrics_aggregate.csv and qc/metrics.csv as summary.py writes them."""
    table = pd.DataFrame(models)
    finished = table[table["status"] == "FINISHED"]
    jobs = []
    for index, group in finished.groupby("job_index"):
        metrics = group[[c for c in group if c.startswith("validation_")]].to_dict("records")
        jobs.append(
            {
                "job_index": index,
                "refit": bool(group["refit"].iloc[0]),
                "hp.C": group["hp.C"].iloc[0],
                **aggregate(metrics),
            }
        )
    return pd.DataFrame(jobs), table


def model(job, run, accuracy, loss, refit=False, c=1.0, status="FINISHED"):
    return {
        "job_index": job,
        "refit": refit,
        "run_id": run,
        "status": status,
        "hp.C": c,
        "validation_accuracy": accuracy,
        "validation_loss": loss,
    }


MODELS = [
    model(0, "a", 0.70, 0.50, c=0.1),
    model(0, "b", 0.95, 0.40, c=0.1),  # the best single model sits in the worse job
    model(1, "c", 0.85, 0.30),
    model(1, "d", 0.88, 0.35),
    model(1, "f", 0.96, 0.33),  # the luckiest fold of the best job
    model(1, "e", 0.99, 0.10, status="FAILED"),
]


def test_best_job_by_mean_then_its_model_closest_to_the_median_not_the_luckiest():
    choice = best_model("run", "validation_accuracy", *tables(MODELS))
    assert (choice.job_index, choice.model_run_id, choice.refit) == (1, "d", False)  # median 0.88
    assert choice.value == pytest.approx(np.mean([0.85, 0.88, 0.96]))  # the job's mean, not the model's score


def test_lower_is_better_for_loss():
    choice = best_model("run", "validation_loss", *tables(MODELS))
    assert (choice.job_index, choice.model_run_id) == (1, "f")  # mean loss 0.327 beats 0.45; median 0.33


def test_refit_of_the_best_job_is_registered():
    refit = model(2, "r", np.nan, np.nan, refit=True, c=1.0)
    jobs, models = tables(MODELS + [refit])
    choice = best_model("run", "validation_accuracy", jobs, models)
    assert (choice.job_index, choice.model_run_id, choice.refit) == (2, "r", True)
    assert choice.value == pytest.approx(
        np.mean([0.85, 0.88, 0.96])
    )  # the refit has no validation split: the job's mean


def test_refit_of_another_job_is_not_taken():
    refit = model(2, "r", np.nan, np.nan, refit=True, c=0.1)
    choice = best_model("run", "validation_accuracy", *tables(MODELS + [refit]))
    assert choice.model_run_id == "d"


def test_ties_go_to_the_first_model_in_tree_order_and_the_description_gives_the_jobs_interval():
    from mlflow_qc.evaluate.comparison import bounded
    from mlflow_qc.evaluate.selection import estimate_text, job_estimate, representative_model
    from mlflow_qc.evaluate.significance import corrected_interval

    job = pd.DataFrame(
        {
            "run_id": ["x", "y", "z", "w"],
            "fold_index": [0, 0, 1, 1],
            "repeat_index": [0, 1, 0, 1],
            "validation_accuracy": [0.9, 0.8, 1.0, 0.8],
        }
    )
    assert representative_model(job, "validation_accuracy")["run_id"] == "x"  # 0.9 and 0.8 both 0.05 from 0.85
    estimate = job_estimate(job, "validation_accuracy", {"validation": (40.0, 20.0)})
    assert estimate == bounded(corrected_interval(job["validation_accuracy"], 40.0, 20.0), "validation_accuracy")
    assert estimate.high == 1.0  # inside the metric's range
    text = estimate_text("validation_accuracy", 3, estimate)
    assert text == f"validation_accuracy: job 3 mean 0.875 [{estimate.low:.4g}, 1] (95% corrected interval, 4 model(s))"
    refit = pd.DataFrame({"run_id": ["r0", "r1"], "validation_accuracy": [np.nan, np.nan]})
    assert representative_model(refit, "validation_accuracy")["run_id"] == "r0"


def test_nothing_finished_and_unknown_metric_are_refused():
    jobs, models = tables(MODELS)
    with pytest.raises(QCError, match="has no finished model"):
        best_model("run", "validation_accuracy", jobs, models.assign(status="FAILED"))
    with pytest.raises(
        QCError,
        match=r"'test_accuracy' is not a metric of experiment run run; expected one of \['validation_accuracy', 'validation_loss'\]",
    ):
        best_model("run", "test_accuracy", jobs, models)
