"""Learning curves, permutation importance boxes, and regression scatters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.figures_style import Figure, capped, color, figure, guide_line, ordered_splits, titled

SKIP_FRACTION = 0.15
TOP_COLUMNS = 30
EVALUATION_PREFIX = "val_"


def _skip_ranges(series: list[list[float]], skip_fraction: float) -> dict:
    """Axis ranges that leave out the first ``skip_fraction`` of the epochs."""
    epochs = max(len(values) for values in series)
    start = int(round(epochs * skip_fraction))
    tail = np.concatenate(
        [np.asarray(values[start:], dtype=np.float64) for values in series if len(values) > start] or [np.zeros(1)]
    )
    tail = tail[np.isfinite(tail)]
    low, high = (float(tail.min()), float(tail.max())) if len(tail) else (0.0, 1.0)
    pad = (high - low) * 0.05 or 0.05
    return {"xaxis.range": [start - 0.5, epochs - 0.5], "yaxis.range": [low - pad, high + pad]}


def learning_curve_figures(
    histories: dict[str, dict[str, list[float]]], skip_first: bool = False, skip_fraction: float = SKIP_FRACTION
) -> list[Figure]:
    """Per history metric: training (``m``) against evaluation (``val_m``), a line per model.

    A menu switches between all epochs and skipping the first ``skip_fraction`` of them
    (early losses often dwarf the rest); ``skip_first`` chooses the initial view.
    """
    keys = sorted({key for history in histories.values() for key in history})
    bases = list(dict.fromkeys(k[len(EVALUATION_PREFIX) :] if k.startswith(EVALUATION_PREFIX) else k for k in keys))
    figures = []
    for base in bases:
        traces, series = [], []
        for role, key, index in (("train", base, 0), ("evaluation", EVALUATION_PREFIX + base, 1)):
            first = True
            for model, history in histories.items():
                values = history.get(key)
                if not values:
                    continue
                series.append(values)
                traces.append(
                    {
                        "type": "scatter",
                        "x": np.arange(len(values)),
                        "y": np.asarray(values, dtype=np.float64),
                        "mode": "lines",
                        "name": role,
                        "legendgroup": role,
                        "showlegend": first,
                        "line": {"color": color(index), "width": 1.5},
                        "opacity": 0.8,
                        "meta": {"model": model, "metric": key},
                        "hovertemplate": f"{model}<br>{key}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
                    }
                )
                first = False
        if not traces:
            continue
        skipped = _skip_ranges(series, skip_fraction)
        everything = {"xaxis.autorange": True, "yaxis.autorange": True}
        buttons = [
            {"label": "all epochs", "method": "relayout", "args": [everything]},
            {"label": f"skip first {skip_fraction:.0%}", "method": "relayout", "args": [skipped]},
        ]
        menu = {
            "type": "buttons",
            "direction": "right",
            "buttons": buttons,
            "active": int(skip_first),
            "x": 1.0,
            "xanchor": "right",
            "y": 1.15,
            "yanchor": "top",
        }
        xaxis, yaxis = titled("epoch"), titled(base)
        if skip_first:
            xaxis["range"], yaxis["range"] = skipped["xaxis.range"], skipped["yaxis.range"]
        figures.append(
            figure(
                traces,
                title={"text": f"Learning curve: {base}"},
                height=420,
                updatemenus=[menu],
                xaxis=xaxis,
                yaxis=yaxis,
            )
        )
    return figures


def importance_values(importance: pd.DataFrame, level: str) -> pd.DataFrame:
    """Long form: column, increase (one row per model x permutation)."""
    table = importance[importance["level"] == level]
    inputs = importance["input"].nunique()
    names = table["column"].astype(str)
    if inputs > 1:
        names = "input" + table["input"].astype(str) + "/" + names
    permutations = [c for c in table.columns if c.startswith("permutation_")]
    long = table.assign(column=names)[["column", *permutations]].melt(id_vars="column", value_name="increase")
    return long.dropna(subset=["increase"])[["column", "increase"]]


def importance_figures(importance: pd.DataFrame, top: int = TOP_COLUMNS) -> list[Figure]:
    """Box plots of the loss increase per column over models x permutations, largest median first.

    The original-column level always; the encoded level too when some column was one-hot encoded.
    """
    counts = importance.groupby("level")["column"].nunique()
    levels = ["original"] + (["encoded"] if counts.get("encoded", 0) > counts.get("original", 0) else [])
    figures = []
    for level in levels:
        values = importance_values(importance, level)
        if values.empty:
            continue
        order = values.groupby("column")["increase"].median().sort_values(ascending=False)
        shown = list(order.index[:top])
        values = values[values["column"].isin(shown)]
        more = f" (top {top} of {len(order)})" if len(order) > top else ""
        box = {
            "type": "box",
            "x": values["column"].to_numpy(),
            "y": values["increase"].to_numpy(dtype=np.float64),
            "boxpoints": "all",
            "jitter": 0.3,
            "pointpos": 0,
            "marker": {"size": 3, "color": color(0)},
            "name": "increase of loss",
        }
        figures.append(
            figure(
                [box],
                title={"text": f"Permutation importance per {level} column{more}"},
                height=460,
                showlegend=False,
                xaxis={**titled(f"{level} column"), "categoryorder": "array", "categoryarray": shown},
                yaxis=titled("increase of loss over the baseline"),
                shapes=[guide_line(0, 0, 1, 0, xref="paper")],
            )
        )
    return figures


def regression_figures(predictions: pd.DataFrame) -> list[Figure]:
    """Predicted against actual, and residuals against predicted: a trace per split (rows capped, seeded)."""
    if "prediction" not in predictions.columns:
        return []  # multi-output regression: one prediction_j column per output
    actual_traces, residual_traces = [], []
    for index, split in enumerate(ordered_splits(predictions)):
        frame = capped(predictions[predictions["split"] == split])
        actual = frame["y_true"].to_numpy(dtype=np.float64)
        predicted = frame["prediction"].to_numpy(dtype=np.float64)
        style = {
            "type": "scatter",
            "mode": "markers",
            "name": split,
            "text": frame["model"].astype(str).to_numpy(),
            "marker": {"size": 5, "color": color(index), "opacity": 0.6},
        }
        actual_traces.append(
            {
                **style,
                "x": actual,
                "y": predicted,
                "hovertemplate": "%{text}<br>actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
            }
        )
        residual_traces.append(
            {
                **style,
                "x": predicted,
                "y": actual - predicted,
                "hovertemplate": "%{text}<br>predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
            }
        )
    values = predictions[["y_true", "prediction"]].to_numpy(dtype=np.float64)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    versus = figure(
        actual_traces,
        title={"text": "Predicted against actual"},
        height=460,
        legend=titled("split"),
        xaxis=titled("actual"),
        yaxis=titled("predicted"),
        shapes=[guide_line(low, low, high, high)],
    )
    residuals = figure(
        residual_traces,
        title={"text": "Residuals"},
        height=460,
        legend=titled("split"),
        xaxis=titled("predicted"),
        yaxis=titled("actual - predicted"),
        shapes=[guide_line(0, 0, 1, 0, xref="paper")],
    )
    return [versus, residuals]
