"""Classification figures from decoded predictions: ROC, precision-recall, calibration, confusion, confidence.

``predictions`` has one row per (model, sample): ``model`` (a label), ``run_id``, ``split``,
``row``, ``y_true``, ``prediction`` and ``probability_<class>`` columns (as in a model run's
``qc/predictions.parquet``). Binary curves are for the second class (encoded 1, the one the
logged ``roc_auc`` scores); multi-class curves are one-vs-rest per class, each trace carrying
its class's share of the split (``meta.weight``) so that the weighted sum of the areas is the
logged weighted ``roc_auc``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.figures_style import (
    COUNT_SCALE,
    Figure,
    color,
    figure,
    guide_line,
    ordered_splits,
    per_frame,
    thin,
    titled,
)
from mlflow_qc.models.outputs import label_positions, probability_columns

CURVES = {
    "roc": ("ROC", "false positive rate", "true positive rate"),
    "pr": ("Precision-recall", "recall", "precision"),
}


def with_class_positions(predictions: pd.DataFrame, classes: list) -> pd.DataFrame:
    """Adds ``y_index`` and ``predicted_index`` (positions in ``classes``; -1 for an unknown label) once."""
    if "y_index" in predictions.columns:
        return predictions
    return predictions.assign(
        y_index=label_positions(predictions["y_true"], classes),
        predicted_index=label_positions(predictions["prediction"], classes),
    )


def probabilities(frame: pd.DataFrame, classes: list) -> np.ndarray:
    return frame[probability_columns(classes)].to_numpy(dtype=np.float64)


def one_vs_rest(frame: pd.DataFrame, classes: list):
    """(class position, is-that-class, its probability, share of the split) per curve to draw."""
    return one_vs_rest_arrays(frame["y_index"].to_numpy(), probabilities(frame, classes), classes)


def one_vs_rest_arrays(y: np.ndarray, proba: np.ndarray, classes: list):
    positions = [1] if len(classes) == 2 else range(len(classes))
    for k in positions:
        truth = (y == k).astype(np.int64)
        if 0 < truth.sum() < len(truth):
            yield k, truth, proba[:, k], float(truth.mean())


@per_frame
def groups_by_split(predictions: pd.DataFrame) -> dict[str, dict[tuple, np.ndarray]]:
    """split -> (model, run_id) -> positions of that model's rows of the split in ``predictions``, in
    order of appearance; one pass over every split (a job report has 10^5-10^6 rows, and pandas'
    groupby on three categories took five times as long)."""
    codes, uniques = zip(*(_codes(predictions[c]) for c in ("split", "model", "run_id")))
    key = np.zeros(len(predictions), dtype=np.int64)
    for code, unique in zip(codes, uniques):
        key = key * len(unique) + code
    order = np.argsort(key.astype(np.int16) if len(key) and key.max() < 2**15 else key, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(key[order])) + 1]
    bounds = zip(starts, np.r_[starts[1:], len(order)])
    groups: dict[str, dict[tuple, np.ndarray]] = {}
    for start, end in sorted(bounds, key=lambda b: order[b[0]]):  # by first appearance
        rows = order[start:end]
        split, model, run_id = (unique[code[rows[0]]] for code, unique in zip(codes, uniques))
        groups.setdefault(str(split), {})[(model, run_id)] = rows
    return groups


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    if isinstance(column.dtype, pd.CategoricalDtype) and not column.isna().any():
        return column.cat.codes.to_numpy().astype(np.int64), column.cat.categories
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return codes.astype(np.int64), pd.Index(uniques)


def threshold_counts(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positives when thresholding at each distinct score, highest first.

    The same points as scikit-learn's ``roc_curve``/``precision_recall_curve`` without their
    input checks: ~10x faster, and a job report draws hundreds of curves. The sort need not be
    stable: the counts are taken at the last of each run of equal scores."""
    order = np.argsort(-score)
    score, truth = score[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(truth)[last]
    return 1 + last - tps, tps


def curve(kind: str, truth: np.ndarray, score: np.ndarray, counts=None) -> tuple[np.ndarray, np.ndarray, float]:
    """x, y and the area (trapezoidal ROC AUC / average precision, as scikit-learn computes them);
    ``counts``: ``threshold_counts(truth, score)`` when already taken."""
    fps, tps = threshold_counts(truth, score) if counts is None else counts
    if kind == "roc":
        corners = np.ones(len(fps), dtype=bool)
        corners[1:-1] = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))  # collinear points add no area
        x = np.r_[0.0, fps[corners] / fps[-1]]
        y = np.r_[0.0, tps[corners] / tps[-1]]
        return x, y, float(np.trapezoid(y, x))
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    area = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return np.r_[recall[::-1], 0.0], np.r_[precision[::-1], 1.0], area


def curve_figures(kind: str, predictions: pd.DataFrame, classes: list) -> list[Figure]:
    """One figure per split; a line per model (and class), coloured by class."""
    return curves_figures((kind,), predictions, classes)[kind]


def curves_figures(kinds: tuple[str, ...], predictions: pd.DataFrame, classes: list) -> dict[str, list[Figure]]:
    """``curve_figures`` of several kinds, each model's threshold counts taken once for all of them."""
    predictions = with_class_positions(predictions, classes)
    y_all, proba_all = predictions["y_index"].to_numpy(), probabilities(predictions, classes)  # once, not per model
    by_split = groups_by_split(predictions)
    figures = {kind: [] for kind in kinds}
    for split in ordered_splits(predictions):
        traces, shown = {kind: [] for kind in kinds}, {kind: set() for kind in kinds}
        for (model, run_id), rows in by_split.get(split, {}).items():
            for k, truth, score, weight in one_vs_rest_arrays(y_all[rows], proba_all[rows], classes):
                counts = threshold_counts(truth, score)
                label = str(classes[k])
                for kind in kinds:
                    x, y, value = curve(kind, truth, score, counts)
                    x, y = thin(x, y)
                    area = "AUC" if kind == "roc" else "AP"
                    traces[kind].append(
                        {
                            "type": "scatter",
                            "x": x,
                            "y": y,
                            "mode": "lines",
                            "name": label,
                            "legendgroup": label,
                            "showlegend": label not in shown[kind],
                            "line": {"color": color(k), "width": 1.5},
                            "opacity": 0.75,
                            "meta": {
                                "run_id": str(run_id),
                                "model": str(model),
                                "split": split,
                                "class": label,
                                "weight": weight,
                                "area": value,
                            },
                            "hovertemplate": f"{model}<br>class {label}<br>{area} {value:.3f}<extra></extra>",
                        }
                    )
                    shown[kind].add(label)
        for kind in kinds:
            if traces[kind]:
                title, x_title, y_title = CURVES[kind]
                figures[kind].append(
                    figure(
                        traces[kind],
                        title={"text": f"{title}: {split}"},
                        height=460,
                        legend=titled("class"),
                        xaxis={**titled(x_title), "range": [-0.02, 1.02]},
                        yaxis={**titled(y_title), "range": [-0.02, 1.02]},
                        shapes=[guide_line(0, 0, 1, 1)] if kind == "roc" else [],
                    )
                )
    return figures


def confusion_figures(predictions: pd.DataFrame, classes: list) -> list[Figure]:
    """One heatmap per split; a menu picks the model. Cells count samples: each matrix sums to the split's size."""
    names = [str(c) for c in classes]
    k = len(classes)
    predictions = with_class_positions(predictions, classes)
    actual_all, predicted_all = predictions["y_index"].to_numpy(), predictions["predicted_index"].to_numpy()
    by_split = groups_by_split(predictions)
    figures = []
    for split in ordered_splits(predictions):
        traces, labels = [], []
        for (model, run_id), rows in by_split.get(split, {}).items():
            actual, predicted = actual_all[rows], predicted_all[rows]
            known = (actual >= 0) & (predicted >= 0)
            matrix = np.bincount(actual[known] * k + predicted[known], minlength=k * k).reshape(k, k)
            traces.append(
                {
                    "type": "heatmap",
                    "z": matrix,
                    "x": names,
                    "y": names,
                    "colorscale": COUNT_SCALE,
                    "zmin": 0,
                    "texttemplate": "%{z}",
                    "visible": not traces,
                    "meta": {"run_id": str(run_id), "model": str(model), "split": split},
                    "hovertemplate": "actual %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
                }
            )
            labels.append(str(model))
        if not traces:
            continue
        buttons = [
            {"label": label, "method": "update", "args": [{"visible": [j == i for j in range(len(traces))]}]}
            for i, label in enumerate(labels)
        ]
        menus = (
            [{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}] if len(traces) > 1 else []
        )
        figures.append(
            figure(
                traces,
                title={"text": f"Confusion matrix: {split}"},
                height=420,
                updatemenus=menus,
                xaxis={**titled("predicted"), "type": "category"},
                yaxis={**titled("actual"), "type": "category", "autorange": "reversed"},
            )
        )
    return figures


CALIBRATION_BINS = 10


def reliability(outcome: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``calibration_curve(outcome, score, n_bins=bins)`` (uniform bins; empty bins left
    out): the observed share of 1s and the mean score per bin. The same arithmetic without its input
    checks, which cost more than the binning on every model and split of a job report."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = np.searchsorted(edges[1:-1], score)
    total = np.bincount(bin_of, minlength=bins)
    filled = total != 0
    observed = np.bincount(bin_of, weights=outcome, minlength=bins)[filled] / total[filled]
    mean = np.bincount(bin_of, weights=score, minlength=bins)[filled] / total[filled]
    return observed, mean


def calibration_figures(predictions: pd.DataFrame, classes: list) -> list[Figure]:
    """One reliability diagram per split, a line per model (scikit-learn's ``calibration_curve``, 10
    uniform bins): binary, the observed share of the second class against P(that class); multi-class,
    the share of right answers against the predicted class's probability (top-label confidence)."""
    predictions = with_class_positions(predictions, classes)
    y_all, proba_all = predictions["y_index"].to_numpy(), probabilities(predictions, classes)
    binary = len(classes) == 2
    x_title = f"mean P({classes[1]})" if binary else "mean probability of the predicted class"
    y_title = f"share of {classes[1]}" if binary else "share predicted right"
    by_split = groups_by_split(predictions)
    figures = []
    for split in ordered_splits(predictions):
        traces = []
        for i, ((model, run_id), rows) in enumerate(by_split.get(split, {}).items()):
            y, proba = y_all[rows], proba_all[rows]
            if binary:
                outcome, score = (y == 1).astype(np.int64), proba[:, 1]
            else:
                outcome, score = (proba.argmax(axis=1) == y).astype(np.int64), proba.max(axis=1)
            if outcome.min() == outcome.max():  # one outcome only: no curve
                continue
            observed, mean = reliability(outcome, np.clip(score, 0, 1))
            traces.append(
                {
                    "type": "scatter",
                    "x": mean,
                    "y": observed,
                    "mode": "lines+markers",
                    "name": str(model),
                    "line": {"color": color(i), "width": 1.5},
                    "opacity": 0.8,
                    "meta": {"run_id": str(run_id), "model": str(model), "split": split},
                    "hovertemplate": f"{model}<br>mean %{{x:.2f}}, observed %{{y:.2f}}<extra></extra>",
                }
            )
        if traces:
            figures.append(
                figure(
                    traces,
                    title={"text": f"Calibration: {split}"},
                    height=460,
                    legend=titled("model"),
                    xaxis={**titled(x_title), "range": [-0.02, 1.02]},
                    yaxis={**titled(y_title), "range": [-0.02, 1.02]},
                    shapes=[guide_line(0, 0, 1, 1)],
                )
            )
    return figures


def sample_for_confidence(predictions: pd.DataFrame) -> tuple[str, int]:
    """A held-out row most models predicted: from test or validation when present."""
    splits = ordered_splits(predictions)
    split = next((s for s in ("test", "validation", "fold_validation") if s in splits), splits[0])
    rows = predictions.loc[predictions["split"] == split, "row"]
    counts = rows.value_counts()
    return split, int(counts[counts == counts.max()].index.min())


def confidence_figure(
    predictions: pd.DataFrame, classes: list, split: str | None = None, row: int | None = None
) -> Figure | None:
    """Each model's probabilities for one sample: on the sigmoid (binary) or per class (multi-class)."""
    if split is None or row is None:
        split, row = sample_for_confidence(predictions)
    sample = predictions[(predictions["split"] == split) & (predictions["row"] == row)]
    if sample.empty:
        return None
    actual = sample["y_true"].iloc[0]
    proba = probabilities(sample, classes)
    models = sample["model"].astype(str).to_numpy()
    title = {"text": f"Confidence for row {row} ({split}), actual class {actual}"}
    if len(classes) == 2:
        p = np.clip(proba[:, 1], 1e-6, 1 - 1e-6)
        grid = np.linspace(-8, 8, 161)
        traces = [
            {
                "type": "scatter",
                "x": grid,
                "y": 1 / (1 + np.exp(-grid)),
                "mode": "lines",
                "name": "sigmoid",
                "line": {"color": "#9aa5b1"},
            },
            {
                "type": "scatter",
                "x": np.log(p / (1 - p)),
                "y": proba[:, 1],
                "mode": "markers",
                "name": "models",
                "text": models,
                "marker": {"size": 10, "color": color(0)},
                "hovertemplate": "%{text}<br>P = %{y:.3f}<extra></extra>",
            },
        ]
        return figure(
            traces,
            title=title,
            height=420,
            xaxis=titled("logit"),
            yaxis={**titled(f"P({classes[1]})"), "range": [-0.02, 1.02]},
            shapes=[guide_line(0, 0.5, 1, 0.5, xref="paper")],
        )
    names = [str(c) for c in classes]
    box = {
        "type": "box",
        "x": np.repeat(names, len(sample)),
        "y": proba.T.ravel(),
        "text": np.tile(models, len(names)),
        "boxpoints": "all",
        "pointpos": 0,
        "jitter": 0.3,
        "name": "models",
        "hovertemplate": "%{text}<br>P(%{x}) = %{y:.3f}<extra></extra>",
    }
    return figure(
        [box], title=title, height=420, xaxis=titled("class"), yaxis={**titled("probability"), "range": [-0.02, 1.02]}
    )
