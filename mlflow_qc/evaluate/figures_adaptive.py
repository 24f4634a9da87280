"""The experiment report's figure of an adaptive search (README: "Adaptive search"): each candidate's
score against the resource it trained on, rung by rung, from the model table (``qc/metrics.csv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.comparison import hyperparameter_text
from mlflow_qc.evaluate.figures_style import Figure, color, figure, titled
from mlflow_qc.tracking.names import FINISHED, HP_PREFIX


def candidate_scores(models: pd.DataFrame, ranking_metric: str) -> pd.DataFrame:
    """One row per candidate and resource: ``candidate`` (its hyperparameters as text), ``resource``,
    the mean of ``ranking_metric`` over its finished models, and whether that job was ``partial``."""
    if "resource" not in models.columns or ranking_metric not in models.columns:
        return pd.DataFrame()
    rows = models[(models["status"] == FINISHED) & models["resource"].notna()]
    if rows.empty:
        return pd.DataFrame()
    hp = [c for c in rows.columns if c.startswith(HP_PREFIX)]
    epochs = f"{HP_PREFIX}epochs"
    if epochs in hp and np.allclose(rows[epochs].astype(float), rows["resource"].astype(float)):
        hp.remove(epochs)  # resource: epochs, where the rung sets it: not part of the candidate
    candidate = [hyperparameter_text({c[len(HP_PREFIX) :]: row[c] for c in hp}) for _, row in rows.iterrows()]
    frame = pd.DataFrame(
        {
            "candidate": candidate,
            "resource": rows["resource"].astype(float).to_numpy(),
            "score": rows[ranking_metric].astype(float).to_numpy(),
            "partial": rows["partial"].astype(str).str.lower().eq("true").to_numpy(),
        }
    )
    return (
        frame.groupby(["candidate", "resource"], sort=True)
        .agg(score=("score", "mean"), partial=("partial", "all"))
        .reset_index()
    )


def resource_figure(models: pd.DataFrame, ranking_metric: str) -> Figure | None:
    """A line per candidate through its rungs (mean ``ranking_metric`` against resource, log axis);
    the candidates that reached the full resource in colour, the ones stopped early in grey."""
    scores = candidate_scores(models, ranking_metric)
    if scores.empty:
        return None
    traces = []
    for index, (candidate, rungs) in enumerate(scores.groupby("candidate", sort=True)):
        full = not rungs["partial"].all()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": candidate,
                "x": rungs["resource"].to_numpy(),
                "y": rungs["score"].to_numpy(),
                "showlegend": False,
                "line": {"color": color(index) if full else "#b0b0b0", "width": 2 if full else 1},
                "hovertemplate": f"{candidate}<br>resource %{{x:.4g}}<br>{ranking_metric} %{{y:.4g}}<extra></extra>",
            }
        )
    return figure(
        traces,
        title={"text": f"Adaptive search: {ranking_metric} against resource"},
        height=460,
        xaxis={**titled("resource"), "type": "log"},
        yaxis=titled(f"{ranking_metric} (mean over folds and repeats)"),
    )
