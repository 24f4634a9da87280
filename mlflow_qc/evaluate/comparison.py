"""Head-to-head statistics (no MLflow here): each job's mean and confidence interval per metric over folds x repeats, and
pairwise corrected resampled t-tests (see ``significance``) over the folds and repeats two jobs share.

Up to ``ALL_PAIRS_UP_TO`` jobs every pair is tested; beyond that every job against the best one
(by the experiment's ranking metric), so the report stays readable for large searches. With a
baseline job (``trainer.baseline``) every job is also tested against it on the ranking metric.
p-values are per test, without a correction for multiple comparisons.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.significance import corrected_interval, corrected_resampled_ttest
from mlflow_qc.evaluate.tables import html_table, latex_table, markdown_table
from mlflow_qc.split import REFIT_CONTEXT, Splits
from mlflow_qc.tracking.names import BASELINE_JOB, COMPARE_ARTIFACTS, FINISHED, HP_PREFIX, higher_is_better, split_of
from mlflow_qc.tracking.tables import IDENTITY_COLUMNS, flag

ALPHA = 0.05
CONFIDENCE = 0.95
ALL_PAIRS_UP_TO = 6
METHOD = (
    "Mean over folds x repeats with its {confidence:.0%} confidence interval; pairwise corrected resampled "
    "t-tests (Nadeau and Bengio, 2003) over the folds and repeats both jobs share, variance inflated by "
    "1/J + n_test/n_train. A difference is called real when p < {alpha} (no correction for multiple comparisons)."
)


VERDICT_COLUMNS = ["job", "metric", "pairs", "job_mean", "baseline_mean", "difference", "p_value", "beats_baseline"]
AGAINST_BASELINE = "Against the baseline"


@dataclass
class Comparison:
    title: str
    summary: pd.DataFrame  # one row per job: job, hyperparameters, models, then "mean [low, high]" per metric
    intervals: pd.DataFrame  # job, metric, mean, low, high, count
    pairs: pd.DataFrame  # metric, job_a, job_b, pairs, difference, t, df, p_value, different
    alpha: float = ALPHA
    baseline: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VERDICT_COLUMNS))  # baseline_verdicts

    def render(self, fmt: str = "markdown") -> str:
        method = METHOD.format(confidence=CONFIDENCE, alpha=self.alpha)
        yes_no = {True: "yes", False: "no"}
        pairs = self.pairs.assign(different=self.pairs["different"].map(yes_no))
        verdicts = self.baseline.assign(beats_baseline=self.baseline["beats_baseline"].map(yes_no))
        tables = [("Mean [confidence interval]", self.summary, "mean [confidence interval]")]
        tables += [(heading, table, caption) for heading, table, caption in (
            (AGAINST_BASELINE, verdicts, "each job against the baseline (corrected resampled t-test)"),
            ("Pairwise tests", pairs, "pairwise corrected resampled t-tests")) if len(table)]
        if fmt == "markdown":
            parts = [f"# {self.title}", method] + [text for heading, table, _ in tables for text in (f"## {heading}", markdown_table(table))]
            return "\n\n".join(parts) + "\n"
        if fmt == "latex":
            parts = [f"% {self.title}", f"% {method}"] + [latex_table(table, f"{self.title}: {caption}") for _, table, caption in tables]
            return "\n\n".join(parts) + "\n"
        if fmt == "html":
            return f"<p>{method}</p>" + "".join(f"<h3>{heading}</h3>{html_table(table)}" for heading, table, _ in tables)
        raise ValueError(f"format {fmt!r}; expected one of {sorted(COMPARE_ARTIFACTS)}")


def context_sizes(splits: Splits) -> dict[str, dict[str, int]]:
    """context -> split -> rows, as ``split_sizes`` takes them, from an experiment's ``qc/splits.json``."""
    return {name: {split: len(rows) for split, rows in context.items()} for name, context in splits.contexts().items()}


def split_sizes(contexts: dict[str, dict[str, int]]) -> dict[str, tuple[float, float]]:
    """split -> (mean training rows, mean rows of the split) over the contexts models train on."""
    sizes: dict[str, list[tuple[int, int]]] = {}
    for name, splits in contexts.items():
        if name == REFIT_CONTEXT:
            continue
        for split, count in splits.items():
            sizes.setdefault(split, []).append((splits.get("train", 0), count))
    return {split: tuple(np.mean(values, axis=0)) for split, values in sizes.items()}


def default_metrics(models: pd.DataFrame, ranking_metric: str | None) -> list[str]:
    """Every metric of the ranking metric's split (the evaluation split)."""
    split = split_of(ranking_metric or "") or next((s for s in ("fold_validation", "validation", "test", "train")
                                                    if any(c.startswith(f"{s}_") for c in models.columns)), None)
    return [c for c in models.columns if split and split_of(c) == split]


def compare_models(models: pd.DataFrame, sizes: dict[str, tuple[float, float]], metrics: list[str] | None = None,
                   ranking_metric: str | None = None, title: str = "Head-to-head", alpha: float = ALPHA) -> Comparison:
    """``models``: one row per model with job, hyperparameters, fold_index, repeat_index and metric columns."""
    models = models.assign(fold_index=models["fold_index"].fillna(-1).astype(int))
    metrics = [m for m in (metrics or default_metrics(models, ranking_metric)) if m in models.columns]
    jobs = list(dict.fromkeys(models["job"]))
    by_job = dict(list(models.groupby("job", sort=False)))
    intervals = pd.DataFrame(
        [
            {"job": job, "metric": metric, **corrected_interval(by_job[job][metric],
                                                                *sizes.get(split_of(metric), (0.0, 0.0)), CONFIDENCE).__dict__}
            for job in jobs
            for metric in metrics
        ],
        columns=["job", "metric", "mean", "low", "high", "count"],
    )
    summary = _summary(by_job, intervals, jobs, metrics)
    pairs = _pairs(by_job, jobs, metrics, sizes, intervals, ranking_metric, alpha)
    against = ranking_metric if ranking_metric in metrics else next(iter(metrics), None)
    return Comparison(title, summary, intervals, pairs, alpha, baseline_verdicts(models, sizes, against, alpha))


MATCHED_ON = ["fold_index", "repeat_index"]  # a job's model pairs with another's of the same fold and repeat


def shared_test(models: pd.DataFrame, a: str, b: str, metric: str, sizes: dict[str, tuple[float, float]]):
    """The corrected resampled t-test of job ``a`` against job ``b`` over the folds and repeats both have;
    returns (number of pairs, PairedTest)."""
    return shared_tests(models, a, b, [metric], sizes)[metric]


def shared_tests(models: pd.DataFrame, a: str, b: str, metrics: list[str], sizes: dict[str, tuple[float, float]]) -> dict:
    """``shared_test`` of each metric, the two jobs' folds and repeats matched once for all of them."""
    columns = MATCHED_ON + metrics
    return matched_tests(models.loc[models["job"] == a, columns], models.loc[models["job"] == b, columns], metrics, sizes)


def matched_tests(a: pd.DataFrame, b: pd.DataFrame, metrics: list[str], sizes: dict[str, tuple[float, float]]) -> dict:
    """``shared_tests`` of two jobs' own rows (with fold_index, repeat_index and the metrics)."""
    left, right = matched_rows(a, b)
    tests = {}
    for metric in metrics:
        n_train, n_test = sizes.get(split_of(metric), (0.0, 0.0))
        tests[metric] = len(left), corrected_resampled_ttest(a[metric].to_numpy()[left], b[metric].to_numpy()[right], n_train, n_test)
    return tests


def matched_rows(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``a``'s and ``b``'s rows of the same fold and repeat, paired in the order an inner
    merge gives them (a's order); a lookup when each fold and repeat is once in ``b`` (a job's models are)."""
    keys_b = pd.MultiIndex.from_frame(b[MATCHED_ON])
    if keys_b.is_unique:
        right = keys_b.get_indexer(pd.MultiIndex.from_frame(a[MATCHED_ON]))
        left = np.flatnonzero(right >= 0)
        return left, right[left]
    positions = [frame[MATCHED_ON].assign(**{name: np.arange(len(frame))}) for frame, name in ((a, "_a"), (b, "_b"))]
    shared = positions[0].merge(positions[1], on=MATCHED_ON)
    return shared["_a"].to_numpy(), shared["_b"].to_numpy()


def beats(test, metric: str, alpha: float) -> bool:
    """A real difference (p < alpha) in the better direction of ``metric``."""
    better = test.difference > 0 if higher_is_better(metric) else test.difference < 0
    return bool(better and not np.isnan(test.p_value) and test.p_value < alpha)


def baseline_verdicts(models: pd.DataFrame, sizes: dict[str, tuple[float, float]], metric: str | None,
                      alpha: float = ALPHA) -> pd.DataFrame:
    """Every job against the baseline job on ``metric`` (one row per job; empty without a baseline).

    A job beats the baseline when it is better by the corrected resampled t-test at ``alpha``;
    fewer than two shared folds x repeats give no p-value, and no claim that it does."""
    if BASELINE_JOB not in set(models["job"]) or metric not in models.columns:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    rows = []
    baseline_mean = models.loc[models["job"] == BASELINE_JOB, metric].mean()
    for job in dict.fromkeys(models["job"]):
        if job == BASELINE_JOB:
            continue
        count, test = shared_test(models, job, BASELINE_JOB, metric, sizes)
        rows.append({"job": job, "metric": metric, "pairs": count, "job_mean": models.loc[models["job"] == job, metric].mean(),
                     "baseline_mean": baseline_mean, "difference": test.difference, "p_value": test.p_value,
                     "beats_baseline": beats(test, metric, alpha)})
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def _summary(by_job: dict[str, pd.DataFrame], intervals: pd.DataFrame, jobs: list[str], metrics: list[str]) -> pd.DataFrame:
    rows = []
    interval_of = {(i.job, i.metric): i for i in intervals.itertuples(index=False)}
    for job in jobs:
        own = by_job[job]
        row = {"job": job, "hyperparameters": own["hyperparameters"].iloc[0], "models": len(own)}
        for metric in metrics:
            i = interval_of[(job, metric)]
            row[metric] = f"{i.mean:.4g}" + ("" if np.isnan(i.low) else f" [{i.low:.4g}, {i.high:.4g}]")
        rows.append(row)
    return pd.DataFrame(rows)


def _pairs(by_job, jobs, metrics, sizes, intervals, ranking_metric, alpha) -> pd.DataFrame:
    if len(jobs) <= ALL_PAIRS_UP_TO:
        pairs = list(itertools.combinations(jobs, 2))
    else:
        ranking = ranking_metric if ranking_metric in metrics else metrics[0]
        means = intervals[intervals["metric"] == ranking].set_index("job")["mean"]
        best = (means.idxmax() if higher_is_better(ranking) else means.idxmin()) if means.notna().any() else jobs[0]
        pairs = [(best, job) for job in jobs if job != best]
    tests = {(a, b): matched_tests(by_job[a], by_job[b], metrics, sizes) for a, b in pairs}
    rows = []
    for metric in metrics:
        for a, b in pairs:
            count, test = tests[(a, b)][metric]
            rows.append({"metric": metric, "job_a": a, "job_b": b, "pairs": count, "difference": test.difference,
                         "t": test.t, "df": test.df, "p_value": test.p_value,
                         "different": bool(test.p_value < alpha) if not np.isnan(test.p_value) else False})
    return pd.DataFrame(rows, columns=["metric", "job_a", "job_b", "pairs", "difference", "t", "df", "p_value", "different"])


def hyperparameter_text(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def model_frame(table: pd.DataFrame, include_refit: bool = False) -> pd.DataFrame:
    """The finished, fully trained models of a ``qc/metrics.csv`` table (refit jobs only when asked) as the
    comparison and the experiment figures read them: job and model labels, hyperparameters as
    text, fold and repeat, then the split metrics."""
    if table.empty:
        return table
    refit = flag(table, "refit")
    # an adaptive search's jobs below max_resource are never compared as if fully trained
    table = table[(table["status"] == FINISHED) & (include_refit | ~refit) & ~flag(table, "partial")]
    refit, baseline = refit[table.index], flag(table, "baseline")
    hp_columns = [c for c in table.columns if c.startswith(HP_PREFIX)]
    identity = {*IDENTITY_COLUMNS, *hp_columns}
    metrics = [c for c in table.columns if c not in identity]
    job_index = table["job_index"].astype(int).astype(str)
    fold = table["fold_index"].map(lambda f: "" if pd.isna(f) else f" fold {int(f)}")
    repeat = table["repeat_index"].astype(int).astype(str)
    # the baseline job's hyperparameters (its strategy) are not the search's, and the other way round
    own = {flagged: [c for c in hp_columns if table.loc[baseline == flagged, c].notna().any()] for flagged in (True, False)}
    own = own if baseline.any() else {False: hp_columns}
    hyperparameters = pd.Series([
        hyperparameter_text({c[len(HP_PREFIX):]: row[c] for c in own[flagged]})
        for (_, row), flagged in zip(table.iterrows(), baseline)], index=table.index, dtype=object) if hp_columns else ""
    return pd.DataFrame({
        "job": np.where(baseline, BASELINE_JOB, np.where(refit, "refit ", "job ") + job_index),
        "model": "model " + np.where(baseline, BASELINE_JOB, "job " + job_index) + fold + " repeat " + repeat,
        "run_id": table["run_id"],
        "job_key": table["job_key"],
        "refit": refit,
        "baseline": baseline,
        "hyperparameters": hyperparameters,
        "fold_index": table["fold_index"],
        "repeat_index": table["repeat_index"],
        **{m: table[m] for m in metrics},
    }).reset_index(drop=True)
