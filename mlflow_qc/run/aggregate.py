"""Aggregates of split metrics over models: ``{split}_{metric}_{mean,median,std,min,max}``."""
from __future__ import annotations

import numpy as np

from mlflow_qc.models.metrics import metric_names
from mlflow_qc.tracking.names import SPLITS


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
