"""Head-to-head of two models or two jobs (``/qc/compare?a=<run_id>&b=<run_id>``): their metrics per
split side by side, learning curves and ROC / precision-recall curves overlaid, both confusion
matrices, and for two jobs the corrected resampled t-test over the folds and repeats they share.

The numbers are the model runs' own (metrics, ``qc/predictions.parquet``, epoch history); the
statistics and figures are those of the job reports (``evaluate``), so a page and a report agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mlflow.entities import Run

from mlflow_qc.evaluate.comparison import ALPHA, compare_models, context_sizes, split_sizes
from mlflow_qc.evaluate.figures_classification import confusion_figures, curve_figures
from mlflow_qc.evaluate.figures_style import color
from mlflow_qc.evaluate.figures_training import learning_curve_figures, regression_figures
from mlflow_qc.evaluate.job_report import EvaluationData, collect, model_label
from mlflow_qc.evaluate.report import figure_dict
from mlflow_qc.split import Splits
from mlflow_qc.tracking.names import (
    CACHE_KEY,
    FINISHED,
    FIT_SECONDS,
    FOLD_INDEX,
    IMPORTANCE_PREFIX,
    JOB,
    MODEL,
    MODEL_DATA,
    MODEL_META_FILE,
    RANKING_METRIC,
    REPEAT_INDEX,
    SPLITS,
    SPLITS_ARTIFACT,
    declare_directions_of,
    higher_is_better,
    split_of,
)
from mlflow_qc.tracking.queries import experiment_run_of, level_of, model_runs_below
from mlflow_qc.ui.store import PageError, Store

SIDES = ("A", "B")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
NOT_COMPARED = (FIT_SECONDS,)  # no split of its own, but named here: a time, not a score


@dataclass
class Side:
    key: str  # A or B
    run: Run  # the job or model run compared
    models: list[Run]  # its finished model runs
    experiment_run: Run
    meta: dict  # the first model's qc_model.json: analysis_type, classes
    data: EvaluationData = field(default_factory=lambda: EvaluationData(pd.DataFrame()))

    @property
    def label(self) -> str:
        return f"{self.key}: {self.run.info.run_name}"

    def model_name(self, tags: dict) -> str:
        return f"{self.key} · {model_label(tags)}"


def load_side(store: Store, key: str, run_id) -> Side:
    field_name = key.lower()
    run = store.run(run_id, field_name, (MODEL, JOB))
    models = [m for m in model_runs_below(store.client, run) if m.info.status == FINISHED]
    if not models:
        raise PageError(
            404, field_name, f"run {run.info.run_id} has no finished model; expected a job or model run that trained"
        )
    meta = json.loads(store.read_text(models[0], f"{MODEL_DATA}/{MODEL_META_FILE}") or "{}")
    return Side(key, run, models, experiment_run_of(store.client, run), meta)


def sides(store: Store, a, b) -> tuple[Side, Side]:
    first, second = load_side(store, "A", a), load_side(store, "B", b)
    levels = {level_of(first.run), level_of(second.run)}
    if len(levels) > 1:
        raise PageError(400, "a, b", "a job run and a model run; expected two job runs or two model runs")
    if first.run.info.run_id == second.run.info.run_id:
        raise PageError(400, "b", "the same run as a; expected two different runs")
    return first, second


def model_table(side: Side) -> pd.DataFrame:
    """One row per model of a side, as ``compare_models`` reads them."""
    rows = []
    for run in side.models:
        tags = run.data.tags
        metrics = {
            k: v
            for k, v in run.data.metrics.items()
            if split_of(k) and not k.startswith(IMPORTANCE_PREFIX) and k not in NOT_COMPARED
        }
        fold = tags.get(FOLD_INDEX)
        rows.append(
            {
                "job": side.label,
                "hyperparameters": "",
                "fold_index": np.nan if fold is None else float(fold),
                "repeat_index": int(tags.get(REPEAT_INDEX, 0)),
                **metrics,
            }
        )
    return pd.DataFrame(rows)


def shared_splits(first: Side, second: Side) -> bool:
    """Paired tests need the same samples in the same folds: one cache entry (data, splits, preprocessing)."""
    key = first.experiment_run.data.tags.get(CACHE_KEY)
    return key is not None and key == second.experiment_run.data.tags.get(CACHE_KEY)


def sizes(store: Store, side: Side) -> dict[str, tuple[float, float]]:
    text = store.read_text(side.experiment_run, SPLITS_ARTIFACT)
    return split_sizes(context_sizes(Splits.from_dict(json.loads(text)))) if text else {}


def metrics_table(store: Store, first: Side, second: Side) -> tuple[pd.DataFrame, list[str]]:
    """split, metric, each side's mean [confidence interval], A - B, and the corrected t-test."""
    models = pd.concat([model_table(first), model_table(second)], ignore_index=True)
    columns = [c for c in models.columns if split_of(c)]
    order = {s: i for i, s in enumerate(SPLITS)}
    columns.sort(key=lambda c: (order.get(split_of(c), len(order)), c))
    metric = first.experiment_run.data.tags.get(RANKING_METRIC)
    declare_directions_of(first.experiment_run.data.tags)  # its user metrics' directions (evaluation.metrics)
    comparison = compare_models(models, sizes(store, first), columns, metric, "head-to-head")
    intervals = comparison.intervals.set_index(["job", "metric"])
    tests = comparison.pairs.set_index("metric")
    paired = level_of(first.run) == JOB and shared_splits(first, second)
    notes = []
    if level_of(first.run) == MODEL:
        notes.append(
            "Two single models: the corrected resampled t-test compares jobs over their folds x repeats, "
            "so no test is shown; compare their jobs for one."
        )
    elif not paired:
        notes.append("The jobs come from experiments with different data or splits: no paired test is possible.")
    else:
        notes.append(
            f"p: corrected resampled t-test (Nadeau and Bengio, 2003) over the folds x repeats both jobs share "
            f"(one pair per fold when both have identical repeats); a difference is called real when p < {ALPHA}. "
            "One pair of jobs per metric: p needs no adjustment (Holm over one test is p); the experiment's "
            "compare report adjusts over all its pairs."
        )
    rows = []
    for column in columns:
        cells = {}
        for side in (first, second):
            found = intervals.loc[(side.label, column)] if (side.label, column) in intervals.index else None
            cells[side.key] = interval_text(found)
            cells[f"{side.key}_mean"] = None if found is None else found["mean"]
        test = tests.loc[column] if paired and column in tests.index else None
        better = winner(column, cells["A_mean"], cells["B_mean"], test)
        rows.append(
            {
                "split": split_of(column),
                "metric": column[len(split_of(column)) + 1 :],
                "A": cells["A"],
                "B": cells["B"],
                "A - B": cells["A_mean"] - cells["B_mean"]
                if None not in (cells["A_mean"], cells["B_mean"])
                else np.nan,
                "pairs": int(test["pairs"]) if test is not None else np.nan,
                "p": float(test["p_value"]) if test is not None else np.nan,
                "better": better,
            }
        )
    return pd.DataFrame(rows), notes


def interval_text(found) -> str:
    if found is None or found["count"] == 0:
        return ""
    text = f"{found['mean']:.4g}"
    return text if np.isnan(found["low"]) else f"{text} [{found['low']:.4g}, {found['high']:.4g}]"


def winner(column: str, a, b, test) -> str:
    """Which side is better on a metric: 'A' / 'B' when the test calls it real, '' otherwise."""
    if test is None or a is None or b is None or not bool(test["different"]):
        return ""
    a_better = a > b if higher_is_better(column) else a < b
    return "A" if a_better else "B"


def overlay(figures: list, side_of) -> list[dict]:
    """Traces coloured by side (A, B) and dashed by role or class, one legend entry per side and role."""
    out, seen = [], set()
    for figure in figures:
        data = figure_dict(figure)
        roles = list(dict.fromkeys(str(t.get("name")) for t in data["data"]))
        for trace in data["data"]:
            side = side_of(trace.get("meta", {}).get("model", ""))
            role = str(trace.get("name"))
            group = f"{side}: {role}"
            trace.update(
                {
                    "name": group,
                    "legendgroup": group,
                    "showlegend": (id(figure), group) not in seen,
                    "line": {
                        **trace.get("line", {}),
                        "color": color(SIDES.index(side)),
                        "dash": DASHES[roles.index(role) % len(DASHES)],
                    },
                }
            )
            seen.add((id(figure), group))
        data["layout"]["legend"] = {**data["layout"].get("legend", {}), "title": {"text": ""}}
        out.append(data)
    return out


def evaluation(store: Store, side: Side) -> EvaluationData:
    return collect(store.client, side.models, side.model_name, store.artifact_root)


def head_to_head(store: Store, a, b) -> dict:
    """Everything the compare page shows: the two sides, the metrics table, notes and figures."""
    first, second = sides(store, a, b)
    for side in (first, second):
        side.data = evaluation(store, side)
    table, notes = metrics_table(store, first, second)
    side_of = lambda model: model.split(" · ")[0]  # noqa: E731
    sections: list[tuple[str, list[dict], bool]] = []  # title, figures, side by side
    histories = {**first.data.histories, **second.data.histories}
    if histories:
        sections.append(("Learning curves", overlay(learning_curve_figures(histories), side_of), False))
    classes = first.meta.get("classes")
    analysis_type = first.meta.get("analysis_type", "")
    predictions = [s.data.predictions for s in (first, second) if len(s.data.predictions)]
    if len(predictions) == 2 and analysis_type.startswith("classification") and classes:
        if classes == second.meta.get("classes"):
            both = pd.concat(predictions, ignore_index=True)
            for kind, title in (("roc", "ROC curves"), ("pr", "Precision-recall curves")):
                sections.append((title, overlay(curve_figures(kind, both, classes), side_of), False))
        else:
            notes.append("The two sides predict different classes: their curves are not overlaid.")
        sections.append(
            (
                "Confusion matrices",
                paired_figures(
                    confusion_figures(first.data.predictions, classes),
                    confusion_figures(second.data.predictions, second.meta["classes"]),
                ),
                True,
            )
        )
    elif len(predictions) == 2 and analysis_type == "regression":
        sections.append(
            (
                "Predictions",
                paired_figures(regression_figures(first.data.predictions), regression_figures(second.data.predictions)),
                True,
            )
        )
    return {"sides": (first, second), "table": table, "notes": notes, "sections": sections}


def paired_figures(left: list, right: list) -> list[dict]:
    """A's and B's figures of the same kind alternating (the page lays them out in two columns)."""
    out = []
    for index in range(max(len(left), len(right))):
        for figures, key in ((left, "A"), (right, "B")):
            if index < len(figures):
                data = figure_dict(figures[index])
                title = data["layout"].get("title", {}).get("text", "")
                data["layout"]["title"] = {"text": f"{key}: {title}"}
                out.append(data)
    return out
