"""Forecasting figures from the long predictions table (``row``, ``horizon``, ``step`` and per column
``y_true_<c>`` / ``prediction_<c>``; image frames: ``mse``, ``mae``): the forecast against the actual
values over time, split by split, and the error by horizon step."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.figures_style import Figure, color, figure, ordered_splits, titled

TRUE, PREDICTED = "y_true_", "prediction_"


def forecast_columns(predictions: pd.DataFrame) -> list[str]:
    return [c[len(TRUE) :] for c in predictions.columns if c.startswith(TRUE)]


def forecast_figures(predictions: pd.DataFrame) -> list[Figure]:
    """Per column: the actual values over time and one model's next-step forecast (horizon 1) in each split."""
    columns = forecast_columns(predictions)
    if not columns:
        return [_frame_error_figure(predictions)] if "mse" in predictions.columns else []
    first = predictions[predictions["horizon"] == 1]
    model = sorted(first["model"].astype(str).unique())[0]
    first = first[first["model"].astype(str) == model]
    figures = []
    for column in columns:
        actual = first.drop_duplicates("step").sort_values("step")
        x, y = broken_at_gaps(actual["step"], actual[f"{TRUE}{column}"])
        traces = [
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": y,
                "name": "actual",
                "line": {"color": "#52606d", "width": 1.2},
            }
        ]
        for index, split in enumerate(ordered_splits(first)):
            own = first[first["split"] == split].sort_values("step")
            x, y = broken_at_gaps(own["step"], own[f"{PREDICTED}{column}"])
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": x,
                    "y": y,
                    "name": f"forecast ({split})",
                    "line": {"color": color(index + 1), "width": 1.5},
                }
            )
        figures.append(
            figure(
                traces,
                title={"text": f"Forecast against actual: {column} ({model}, next step)"},
                height=420,
                xaxis=titled("time step"),
                yaxis=titled(column),
            )
        )
    return figures


def broken_at_gaps(steps, values) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` and ``values`` with a NaN point wherever steps are not consecutive (between time blocks,
    where no window forecasts): plotly leaves the line open there instead of joining across the gap."""
    x, y = np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    cuts = np.flatnonzero(np.diff(x) > 1) + 1
    return np.insert(x, cuts, np.nan), np.insert(y, cuts, np.nan)


def _frame_error_figure(predictions: pd.DataFrame) -> Figure:
    traces = []
    for index, split in enumerate(ordered_splits(predictions)):
        own = predictions[(predictions["split"] == split) & (predictions["horizon"] == 1)].groupby("step")["mse"].mean()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": own.index.to_numpy(),
                "y": own.to_numpy(),
                "name": split,
                "line": {"color": color(index)},
            }
        )
    return figure(
        traces,
        title={"text": "Forecast frames: pixel error over time (next frame, mean over models)"},
        height=420,
        xaxis=titled("time step"),
        yaxis=titled("mean squared error per pixel"),
    )


def horizon_error_figure(predictions: pd.DataFrame) -> Figure | None:
    """Mean absolute error of each horizon step, split by split, over models, windows and columns."""
    columns = forecast_columns(predictions)
    if columns:
        errors = np.mean([np.abs(predictions[f"{TRUE}{c}"] - predictions[f"{PREDICTED}{c}"]) for c in columns], axis=0)
    elif "mae" in predictions.columns:
        errors = predictions["mae"].to_numpy()
    else:
        return None
    table = predictions[["split", "horizon"]].assign(error=errors)
    traces = []
    for index, split in enumerate(ordered_splits(table)):
        own = table[table["split"] == split].groupby("horizon")["error"].mean()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": own.index.to_numpy(),
                "y": own.to_numpy(),
                "name": split,
                "line": {"color": color(index)},
            }
        )
    return figure(
        traces,
        title={"text": "Error by horizon step"},
        height=420,
        xaxis={**titled("steps ahead"), "dtick": 1},
        yaxis=titled("mean absolute error (original scale)"),
    )
