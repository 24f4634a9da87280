"""Experiment figures: AIQC's "boomerang" (loss against score per split) and the leaderboard.

``models`` has one row per finished model: ``job``, ``model``, ``run_id``, ``hyperparameters``
and ``{split}_{metric}`` columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.figures_style import SPLIT_ORDER, Figure, color, figure, guide_line, titled
from mlflow_qc.tracking.names import BASELINE_JOB, higher_is_better, split_of
from mlflow_qc.tracking.tables import sample_std

SCORES = {
    "classification": ("accuracy", "f1", "precision", "recall", "roc_auc"),
    "regression": ("r2", "explained_variance"),
}
TOP_JOBS = 30


def score_types(models: pd.DataFrame, analysis_type: str) -> list[str]:
    kind = "classification" if analysis_type.startswith("classification") else "regression"
    return [s for s in SCORES[kind] if any(f"{split}_{s}" in models.columns for split in SPLIT_ORDER)]


def _split_values(models: pd.DataFrame, splits: list[str], metric: str) -> np.ndarray:
    """models x splits: each model's ``{split}_{metric}`` (NaN where it has none)."""
    return models.reindex(columns=[f"{split}_{metric}" for split in splits]).to_numpy(dtype=np.float64, na_value=np.nan)


def boomerang_figure(
    models: pd.DataFrame, analysis_type: str, min_score: float | None = None, max_loss: float | None = None
) -> Figure | None:
    """Every model as a line through its splits in (loss, score); a menu picks the score type.

    Models that generalise draw short lines; overfitting bends them into AIQC's boomerang
    (low loss and high score on train, worse elsewhere). ``min_score``/``max_loss`` leave out
    models with any split beyond them.
    """
    scores = score_types(models, analysis_type)
    splits = [s for s in SPLIT_ORDER if f"{s}_loss" in models.columns]
    if not scores or not splits:
        return None
    traces, owners = [], []
    jobs = list(dict.fromkeys(models["job"]))
    rows_of = {job: np.flatnonzero((models["job"] == job).to_numpy()) for job in jobs}
    losses = _split_values(models, splits, "loss")
    labels = [[f"{model}<br>{split}" for split in splits] + [None] for model in models["model"]]
    for score in scores:
        values = _split_values(models, splits, score)
        kept = np.ones(len(models), dtype=bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a model without any split's value: kept, as NaN
            if min_score is not None:
                kept &= ~(np.nanmin(values, axis=1) < min_score)
            if max_loss is not None:
                kept &= ~(np.nanmax(losses, axis=1) > max_loss)
        for index, job in enumerate(jobs):
            x, y, text = [], [], []
            for row in rows_of[job][kept[rows_of[job]]]:
                x += [*losses[row].tolist(), None]
                y += [*values[row].tolist(), None]
                text += labels[row]
            traces.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": y,
                    "text": text,
                    "mode": "lines+markers",
                    "name": job,
                    "legendgroup": job,
                    "visible": score == scores[0],
                    "line": {"color": color(index), "width": 1.5, "shape": "spline"},
                    "marker": {"size": 7},
                    "hovertemplate": f"%{{text}}<br>loss %{{x:.4g}}<br>{score} %{{y:.4g}}<extra></extra>",
                }
            )
            owners.append(score)
    buttons = [
        {
            "label": score,
            "method": "update",
            "args": [{"visible": [owner == score for owner in owners]}, {"yaxis.title.text": score}],
        }
        for score in scores
    ]
    return figure(
        traces,
        title={"text": f"Models by split: loss against score ({' → '.join(splits)})"},
        height=560,
        xaxis=titled("loss"),
        yaxis=titled(scores[0]),
        legend=titled("job"),
        updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.12, "yanchor": "top"}],
    )


def leaderboard(models: pd.DataFrame, ranking_metric: str, verdicts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Jobs best first by the mean of the ranking metric, with the other metrics of its split.

    With a baseline job (``verdicts``: ``comparison.baseline_verdicts``) each job says whether it
    beats it and with which p-value; the baseline itself is listed without a rank."""
    split = split_of(ranking_metric)
    others = [c for c in models.columns if split and c.startswith(f"{split}_") and c != ranking_metric]
    rows = []
    for job, own in models.groupby("job", sort=False):
        values = own[ranking_metric].to_numpy(dtype=np.float64) if ranking_metric in own else np.array([np.nan])
        rows.append(
            {
                "job": job,
                "hyperparameters": own["hyperparameters"].iloc[0],
                "models": len(own),
                f"{ranking_metric} mean": np.nanmean(values) if np.isfinite(values).any() else np.nan,
                f"{ranking_metric} std": sample_std(values),
                **{f"{c} mean": own[c].mean() for c in others},
            }
        )
    table = pd.DataFrame(rows)
    table = table.sort_values(
        f"{ranking_metric} mean", ascending=not higher_is_better(ranking_metric), kind="stable", na_position="last"
    )
    table = table.reset_index(drop=True)
    ranked = table["job"] != BASELINE_JOB
    table.insert(0, "rank", ranked.cumsum() if ranked.all() else np.where(ranked, ranked.cumsum(), np.nan))
    if verdicts is not None and len(verdicts):
        by_job = verdicts.set_index("job")
        position = table.columns.get_loc(f"{ranking_metric} std") + 1
        table.insert(position, "baseline p (Holm)", table["job"].map(by_job["p_adjusted"]))
        table.insert(
            position,
            "beats baseline",
            table["job"].map(by_job["beats_baseline"].map({True: "yes", False: "no"})).fillna(""),
        )
    return table


def leaderboard_figure(
    models: pd.DataFrame, board: pd.DataFrame, ranking_metric: str, top: int = TOP_JOBS
) -> Figure | None:
    """The ranking metric of every model, a box per job, best job first."""
    if ranking_metric not in models.columns:
        return None
    shown = list(board["job"][:top])
    values = models[models["job"].isin(shown)]
    more = f" (top {top} of {len(board)} jobs)" if len(board) > top else ""
    box = {
        "type": "box",
        "x": values["job"].to_numpy(),
        "y": values[ranking_metric].to_numpy(dtype=np.float64),
        "text": values["model"].to_numpy(),
        "boxpoints": "all",
        "jitter": 0.3,
        "pointpos": 0,
        "marker": {"size": 4, "color": color(0)},
        "hovertemplate": "%{text}<br>%{y:.4g}<extra></extra>",
    }
    baseline = models.loc[models["job"] == BASELINE_JOB, ranking_metric]
    shapes = (
        []
        if baseline.empty
        else [{**guide_line(0, baseline.mean(), 1, baseline.mean(), xref="paper"), "name": BASELINE_JOB}]
    )
    return figure(
        [box],
        title={"text": f"Leaderboard: {ranking_metric}{more}"},
        showlegend=False,
        height=460,
        shapes=shapes,
        yaxis=titled(ranking_metric),
        xaxis={**titled("job"), "categoryorder": "array", "categoryarray": shown},
    )
