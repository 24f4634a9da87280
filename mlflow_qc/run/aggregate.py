"""Aggregates over models and the experiment's tables (qc/metrics.csv, qc/metrics_aggregate.csv)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.metrics import metric_names

STATS = ("mean", "median", "std", "min", "max")
SPLITS = ("train", "fold_validation", "validation", "test")
LOWER_IS_BETTER = ("loss", "mse")
RANKING_SPLITS = ("fold_validation", "validation", "train")


def split_metrics(metrics: dict[str, float], analysis_type: str) -> dict[str, float]:
    """Keep the ``{split}_{metric}`` values (not history, not timings)."""
    names = set(metric_names(analysis_type))
    keep = {}
    for key, value in metrics.items():
        for split in SPLITS:
            if key.startswith(split + "_") and key[len(split) + 1 :] in names:
                keep[key] = value
    return keep


def aggregate(per_model: list[dict[str, float]]) -> dict[str, float]:
    """``{key}_{stat}`` over models, ignoring NaN (e.g. roc_auc of a one-class split)."""
    keys = sorted({key for metrics in per_model for key in metrics})
    out = {}
    for key in keys:
        values = np.array([m.get(key, np.nan) for m in per_model], dtype=np.float64)
        if np.all(np.isnan(values)):
            continue
        out.update(
            {
                f"{key}_mean": np.nanmean(values),
                f"{key}_median": np.nanmedian(values),
                f"{key}_std": np.nanstd(values),
                f"{key}_min": np.nanmin(values),
                f"{key}_max": np.nanmax(values),
            }
        )
    return {k: float(v) for k, v in out.items()}


def default_ranking_metric(analysis_type: str, split_names) -> str:
    split = next(s for s in RANKING_SPLITS if s in split_names)
    return f"{split}_{'r2' if analysis_type == 'regression' else 'accuracy'}"


def higher_is_better(metric: str) -> bool:
    return not metric.endswith(LOWER_IS_BETTER)


def rank_jobs(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Jobs best first by the mean of ``metric`` over their models."""
    column = f"{metric}_mean"
    if column not in jobs.columns:
        return jobs.iloc[0:0]
    ranked = jobs.dropna(subset=[column])
    return ranked.sort_values(column, ascending=not higher_is_better(metric), kind="stable")


def models_table(rows: list[dict]) -> pd.DataFrame:
    """One row per finished model; ``rows`` hold identity columns plus split metrics."""
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["job_index", "fold_index", "repeat_index"], na_position="first", kind="stable").reset_index(drop=True)


def jobs_table(models: pd.DataFrame, metric_columns: list[str], id_columns: list[str]) -> pd.DataFrame:
    rows = []
    for _, group in models.groupby("job_index", sort=True):
        head = group.iloc[0]
        per_model = group[metric_columns].to_dict("records")
        rows.append({**{c: head[c] for c in id_columns}, "model_count": len(group), **aggregate(per_model)})
    return pd.DataFrame(rows)
