"""Which model ``register`` picks, on hand-made metric tables (no tracking store needed)."""
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
        jobs.append({"job_index": index, "refit": bool(group["refit"].iloc[0]), "hp.C": group["hp.C"].iloc[0], **aggregate(metrics)})
    return pd.DataFrame(jobs), table


def model(job, run, accuracy, loss, refit=False, c=1.0, status="FINISHED"):
    return {"job_index": job, "refit": refit, "run_id": run, "status": status, "hp.C": c, "validation_accuracy": accuracy, "validation_loss": loss}


MODELS = [
    model(0, "a", 0.70, 0.50, c=0.1),
    model(0, "b", 0.95, 0.40, c=0.1),  # the best single model sits in the worse job
    model(1, "c", 0.85, 0.30),
    model(1, "d", 0.88, 0.35),
    model(1, "e", 0.99, 0.10, status="FAILED"),
]


def test_best_job_by_mean_then_its_best_model():
    choice = best_model("run", "validation_accuracy", *tables(MODELS))
    assert (choice.job_index, choice.model_run_id, choice.value, choice.refit) == (1, "d", 0.88, False)


def test_lower_is_better_for_loss():
    choice = best_model("run", "validation_loss", *tables(MODELS))
    assert (choice.job_index, choice.model_run_id) == (1, "c")


def test_refit_of_the_best_job_is_registered():
    refit = model(2, "r", np.nan, np.nan, refit=True, c=1.0)
    jobs, models = tables(MODELS + [refit])
    choice = best_model("run", "validation_accuracy", jobs, models)
    assert (choice.job_index, choice.model_run_id, choice.refit) == (2, "r", True)
    assert choice.value == pytest.approx(np.mean([0.85, 0.88]))  # the refit has no validation split: the job's mean


def test_refit_of_another_job_is_not_taken():
    refit = model(2, "r", np.nan, np.nan, refit=True, c=0.1)
    choice = best_model("run", "validation_accuracy", *tables(MODELS + [refit]))
    assert choice.model_run_id == "d"


def test_nothing_finished_and_unknown_metric_are_refused():
    jobs, models = tables(MODELS)
    with pytest.raises(QCError, match="has no finished model"):
        best_model("run", "validation_accuracy", jobs, models.assign(status="FAILED"))
    with pytest.raises(QCError, match=r"'test_accuracy' is not a metric of experiment run run; expected one of \['validation_accuracy', 'validation_loss'\]"):
        best_model("run", "test_accuracy", jobs, models)
