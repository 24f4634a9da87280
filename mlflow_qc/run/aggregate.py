"""Aggregates of split metrics over models: ``{split}_{metric}_{mean,median,std,min,max}``."""

from __future__ import annotations

import numpy as np

from mlflow_qc.models.metrics import metric_names
from mlflow_qc.tracking.names import SPLITS
from mlflow_qc.tracking.tables import sample_std


def split_metrics(metrics: dict[str, float], analysis_type: str, user_metric_names=()) -> dict[str, float]:
    """Keep the ``{split}_{metric}`` values (not history, not timings) of the built-in and the user metrics."""
    names = {*metric_names(analysis_type), *user_metric_names}
    keep = {}
    for key, value in metrics.items():
        for split in SPLITS:
            if key.startswith(split + "_") and key[len(split) + 1 :] in names:
                keep[key] = value
    return keep


def aggregate(per_model: list[dict[str, float]]) -> dict[str, float]:
    """``{key}_{stat}`` over models, ignoring NaN (e.g. roc_auc of a one-class split); a key NaN in
    every model has none. ``_std`` is the sample standard deviation (ddof 1), so a key with fewer than
    two values has no ``_std``."""
    keys = sorted({key for metrics in per_model for key in metrics})
    if not keys:
        return {}
    values = np.array([[m.get(key, np.nan) for m in per_model] for key in keys], dtype=np.float64)
    seen = ~np.all(np.isnan(values), axis=1)
    keys, values = [k for k, kept in zip(keys, seen) if kept], values[seen]  # one row per key: each reduced as alone
    stats = {"mean": np.nanmean, "median": np.nanmedian, "std": sample_std, "min": np.nanmin, "max": np.nanmax}
    columns = {name: reduce(values, axis=1) for name, reduce in stats.items()}
    return {
        f"{key}_{name}": float(columns[name][i])
        for i, key in enumerate(keys)
        for name in stats
        if not np.isnan(columns[name][i])
    }
