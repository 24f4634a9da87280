"""Two served models on the same fresh rows: the gate's comparison when their splits differ.

The rows are the candidate's validation split (the declared ``validation`` split, else the held-out
fold of the candidate model), read from the datasets its experiment run recorded; both pyfuncs
predict the raw rows and a paired permutation test (scipy's ``permutation_test``: each row's two
answers swapped at random) gives the p-value of the difference of the metric. The alias holder
may have trained on some of these rows: the comparison then favours the holder, never the candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from scipy.stats import permutation_test

from mlflow_qc.errors import QCError
from mlflow_qc.models.metrics import BUILT_IN_METRICS, classification_metric, regression_metric
from mlflow_qc.models.outputs import label_positions, probability_columns
from mlflow_qc.prepare import load_data
from mlflow_qc.recipe import recipe_from_dict
from mlflow_qc.serve.inference import Inference
from mlflow_qc.split import Splits
from mlflow_qc.tracking.names import FOLD_INDEX, RECIPE_ARTIFACT, SPLITS_ARTIFACT, split_of

RESAMPLES = 999
SEED = 0


@dataclass(frozen=True)
class FreshComparison:
    split: str  # the candidate's split the rows come from
    rows: int
    candidate: float
    holder: float
    p_value: float


def evaluation_rows(client, experiment_run_id: str, model_run_id: str) -> tuple[str, np.ndarray]:
    """The candidate's validation split: ``validation`` when declared, else its model's held-out fold."""
    splits = Splits.from_dict(json.loads(mlflow.artifacts.load_text(f"runs:/{experiment_run_id}/{SPLITS_ARTIFACT}")))
    if "validation" in splits.splits:
        return "validation", splits.splits["validation"]
    fold = client.get_run(model_run_id).data.tags.get(FOLD_INDEX)
    if fold is not None and splits.folds:
        return "fold_validation", splits.folds[int(fold)]["fold_validation"]
    raise QCError(
        "register.gate",
        f"experiment run {experiment_run_id} has no validation split or folds; "
        "expected one to evaluate the candidate and the alias holder on",
    )


def raw_rows(experiment_run_id: str, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The raw input columns and the true target of ``rows`` of the datasets the experiment run used."""
    raw = yaml.safe_load(mlflow.artifacts.load_text(f"runs:/{experiment_run_id}/{RECIPE_ARTIFACT}"))
    recipe = recipe_from_dict(
        {**raw, "model": None, "register": None}, source=f"experiment run {experiment_run_id}: {RECIPE_ARTIFACT}"
    )
    data = load_data(recipe)
    tabular = all(dataset.array is None and dataset.frame is not None for dataset in data.inputs)
    if not tabular or data.target is None or any(item.window for item in recipe.data.inputs):
        raise QCError(
            "register.gate",
            "the alias holder was trained on other splits, and a fresh evaluation takes tables "
            "with a target column; expected a holder trained on the same splits (same data, seed and stratifier)",
        )
    frames = [dataset.frame.iloc[rows].reset_index(drop=True) for dataset in data.inputs]
    frame = pd.concat(frames, axis=1)
    truth = data.target.frame[recipe.data.target.column].iloc[rows].to_numpy()
    return frame.loc[:, ~frame.columns.duplicated()], truth


def answers(inference: Inference, frame: pd.DataFrame, classes: list | None) -> np.ndarray:
    """One row per sample: classification [answer's position in ``classes``, their probabilities...];
    regression the prediction."""
    missing = [c for c in inference.columns if c not in frame.columns]
    if missing:
        raise QCError(
            "register.gate",
            f"{inference.model_uri} needs the column(s) {missing}, which the candidate's data lacks; "
            "expected models of the same inputs (or register without gate)",
        )
    predictions = inference.predict(frame[inference.columns])
    if inference.model.analysis_type == "regression":
        return predictions[["prediction"]].to_numpy(np.float64)
    columns = probability_columns(classes)
    if not set(columns) <= set(predictions.columns):
        raise QCError(
            "register.gate",
            f"{inference.model_uri} predicts the classes {inference.model.classes}; "
            f"expected those of the candidate, {classes}",
        )
    return np.column_stack(
        [label_positions(predictions["prediction"], classes), predictions[columns].to_numpy(np.float64)]
    )


def fresh_comparison(
    client, experiment_run_id: str, model_run_id: str, candidate_uri: str, holder_uri: str, metric: str
) -> FreshComparison:
    """Both models on the candidate's validation rows; the p-value of a paired permutation test."""
    if metric[len(split_of(metric) or "") :].lstrip("_") not in BUILT_IN_METRICS:
        raise QCError(
            "register.gate",
            f"{metric} is a user metric (evaluation.metrics) and the alias holder was trained on "
            "other splits; expected a built-in metric to evaluate both models afresh, or a holder of the same splits",
        )
    split, rows = evaluation_rows(client, experiment_run_id, model_run_id)
    frame, truth = raw_rows(experiment_run_id, rows)
    try:
        candidate, holder = Inference(candidate_uri), Inference(holder_uri)
    except (QCError, MlflowException) as exc:
        raise QCError("register.gate", f"cannot load the models to compare ({exc}); expected QC models") from None
    statistic = metric_function(metric[len(split_of(metric) or "") :].lstrip("_"), candidate, truth)
    classes = candidate.model.classes
    stacked = np.vstack([answers(candidate, frame, classes), answers(holder, frame, classes)])
    n = len(rows)
    first, second = np.arange(n), np.arange(n, 2 * n)
    result = permutation_test(
        (first, second),
        lambda a, b: statistic(stacked[a]) - statistic(stacked[b]),
        permutation_type="samples",
        n_resamples=RESAMPLES,
        random_state=SEED,
    )
    return FreshComparison(split, n, statistic(stacked[first]), statistic(stacked[second]), float(result.pvalue))


def metric_function(name: str, inference: Inference, truth: np.ndarray):
    """The metric of a stack of ``answers`` rows against ``truth`` (the candidate's classes)."""
    model = inference.model
    if model.analysis_type == "regression":
        values = truth.astype(np.float64)
        return lambda rows: regression_metric(name, values, rows[:, 0])
    index = inference.class_index(truth)
    return lambda rows: classification_metric(name, index, rows[:, 0].astype(np.int64), rows[:, 1:])
