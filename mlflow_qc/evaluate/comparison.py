"""Head-to-head statistics (no MLflow here): each job's mean and confidence interval per metric over folds x repeats,
and pairwise corrected resampled t-tests (see ``significance``) over the folds and repeats two jobs share.

Up to ``ALL_PAIRS_UP_TO`` jobs every pair is tested; beyond that every job against the best one
(by the experiment's ranking metric), so the report stays readable for large searches. With a
baseline job (``trainer.baseline``) every job is also tested against it on the ranking metric.

- A job whose repeats gave identical scores on every fold (a deterministic model) counts one
  observation per fold; a pair of two such jobs is tested on one pair per fold.
- The p-values of one metric's pairs (and of the jobs against the baseline) are adjusted together:
  Holm by default, Benjamini-Hochberg as an option (``Options.correction``); a difference is called
  on the adjusted p-value. Beyond ``ALL_PAIRS_UP_TO`` jobs the family is still every pair of jobs
  (the best one was chosen from them all).
- ``Options.test = "bayesian"``: the Bayesian correlated t-test with a region of practical
  equivalence (``Options.rope``) instead of the t-test's p-values.
- Intervals are clipped to the metric's range (``metric_bounds``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.significance import (
    CORRECTIONS,
    Interval,
    adjust,
    bayesian_correlated_ttest,
    corrected_interval,
    corrected_resampled_ttest,
)
from mlflow_qc.evaluate.tables import html_table, latex_table, markdown_table
from mlflow_qc.split import REFIT_CONTEXT, Splits
from mlflow_qc.tracking.names import BASELINE_JOB, COMPARE_ARTIFACTS, FINISHED, HP_PREFIX, higher_is_better, split_of
from mlflow_qc.tracking.tables import IDENTITY_COLUMNS, flag

ALPHA = 0.05
CONFIDENCE = 0.95
ALL_PAIRS_UP_TO = 6
ROPE = 0.01  # the Bayesian test's region of practical equivalence, in the metric's units
DECISIVE = 0.95  # the Bayesian test calls a side (better, equivalent) at this posterior probability
METHOD = (
    "Mean over folds x repeats with its {confidence:.0%} confidence interval (corrected variance, clipped to the "
    "metric's range); a job whose repeats gave identical scores counts one observation per fold. "
)
T_METHOD = (
    "Pairwise corrected resampled t-tests (Nadeau and Bengio, 2003) over the folds and repeats both jobs share, "
    "variance inflated by 1/J + n_test/n_train; the p-values of each metric's pairs adjusted together ({correction}). "
    "A difference is called real when p ({correction}) < {alpha}."
)
BAYES_METHOD = (
    "Pairwise Bayesian correlated t-tests (Benavoli et al., JMLR 2017) over the folds and repeats both jobs share: "
    "P(a better), P(equivalent: |a - b| <= {rope:g}) and P(b better); a side is called at probability > {decisive:g}."
)


@dataclass(frozen=True)
class Options:
    """How jobs are compared (``mlflow-qc compare --test --correction --rope``)."""

    test: str = "t"  # "t": corrected resampled t-test | "bayesian": Bayesian correlated t-test
    correction: str = "holm"  # the t-tests' adjustment for testing many pairs: "holm" | "bh"
    rope: float = ROPE
    alpha: float = ALPHA

    def __post_init__(self):
        if self.test not in ("t", "bayesian"):
            raise ValueError(f"test {self.test!r}; expected 't' or 'bayesian'")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction {self.correction!r}; expected one of {sorted(CORRECTIONS)}")
        if not self.rope >= 0:
            raise ValueError(f"rope {self.rope!r}; expected a width >= 0 in the metric's units")

    @property
    def p_column(self) -> str:
        """The adjusted p-value's name in every table: ``p (Holm)``."""
        return f"p ({CORRECTIONS[self.correction]})"


VERDICT_COLUMNS = [
    "job",
    "metric",
    "pairs",
    "job_mean",
    "baseline_mean",
    "difference",
    "p_value",
    "p_adjusted",
    "beats_baseline",
]
PAIR_COLUMNS = ["metric", "job_a", "job_b", "pairs", "difference", "t", "df", "p_value", "p_adjusted", "different"]
BAYES_COLUMNS = [
    "metric",
    "job_a",
    "job_b",
    "pairs",
    "difference",
    "P(a better)",
    "P(equivalent)",
    "P(b better)",
    "verdict",
]
AGAINST_BASELINE = "Against the baseline"
BOUNDED = {  # the range of a built-in metric (after its split prefix); others are unbounded
    **dict.fromkeys(
        (
            "accuracy",
            "f1",
            "precision",
            "recall",
            "roc_auc",
            "balanced_accuracy",
            "average_precision",
            "brier",
            "f1_macro",
            "precision_macro",
            "recall_macro",
        ),
        (0.0, 1.0),
    ),
    "mcc": (-1.0, 1.0),
    **dict.fromkeys(("r2", "explained_variance"), (-np.inf, 1.0)),
    **dict.fromkeys(("loss", "mse", "mae", "rmse"), (0.0, np.inf)),
}


def metric_bounds(metric: str) -> tuple[float, float]:
    split = split_of(metric)
    return BOUNDED.get(metric[len(split) + 1 :] if split else metric, (-np.inf, np.inf))


def bounded(interval: Interval, metric: str) -> Interval:
    """The interval clipped to the metric's range (an accuracy's to [0, 1], a loss's to [0, inf))."""
    low, high = metric_bounds(metric)
    return Interval(interval.mean, *np.clip([interval.low, interval.high], low, high).tolist(), interval.count)


@dataclass
class Comparison:
    title: str
    summary: pd.DataFrame  # one row per job: job, hyperparameters, models, then "mean [low, high]" per metric
    intervals: pd.DataFrame  # job, metric, mean, low, high, count
    pairs: pd.DataFrame  # PAIR_COLUMNS (t-tests) or BAYES_COLUMNS (options.test == "bayesian")
    alpha: float = ALPHA
    baseline: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VERDICT_COLUMNS))  # baseline_verdicts
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)  # said once: deterministic repeats

    @property
    def method(self) -> str:
        options = self.options
        tests = (
            BAYES_METHOD.format(rope=options.rope, decisive=DECISIVE)
            if options.test == "bayesian"
            else T_METHOD.format(correction=CORRECTIONS[options.correction], alpha=self.alpha)
        )
        return METHOD.format(confidence=CONFIDENCE) + tests

    def render(self, fmt: str = "markdown") -> str:
        method = " ".join([self.method, *self.notes])
        yes_no = {True: "yes", False: "no"}
        p_names = {"p_value": "p", "p_adjusted": self.options.p_column}
        pairs = self.pairs.rename(columns=p_names)
        if "different" in pairs:
            pairs = pairs.assign(different=pairs["different"].map(yes_no))
        verdicts = self.baseline.assign(beats_baseline=self.baseline["beats_baseline"].map(yes_no)).rename(
            columns=p_names
        )
        tables = [("Mean [confidence interval]", self.summary, "mean [confidence interval]")]
        kind = "Bayesian correlated t-tests" if self.options.test == "bayesian" else "corrected resampled t-tests"
        tables += [
            (heading, table, caption)
            for heading, table, caption in (
                (
                    AGAINST_BASELINE,
                    verdicts,
                    f"each job against the baseline (corrected resampled t-test, {self.options.p_column})",
                ),
                ("Pairwise tests", pairs, f"pairwise {kind}"),
            )
            if len(table)
        ]
        if fmt == "markdown":
            parts = [f"# {self.title}", method] + [
                text for heading, table, _ in tables for text in (f"## {heading}", markdown_table(table))
            ]
            return "\n\n".join(parts) + "\n"
        if fmt == "latex":
            parts = [f"% {self.title}", f"% {method}"] + [
                latex_table(table, f"{self.title}: {caption}") for _, table, caption in tables
            ]
            return "\n\n".join(parts) + "\n"
        if fmt == "html":
            return f"<p>{method}</p>" + "".join(
                f"<h3>{heading}</h3>{html_table(table)}" for heading, table, _ in tables
            )
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
    split = split_of(ranking_metric or "") or next(
        (
            s
            for s in ("fold_validation", "validation", "test", "train")
            if any(c.startswith(f"{s}_") for c in models.columns)
        ),
        None,
    )
    return [c for c in models.columns if split and split_of(c) == split]


def compare_models(
    models: pd.DataFrame,
    sizes: dict[str, tuple[float, float]],
    metrics: list[str] | None = None,
    ranking_metric: str | None = None,
    title: str = "Head-to-head",
    alpha: float = ALPHA,
    options: Options | None = None,
) -> Comparison:
    """``models``: one row per model with job, hyperparameters, fold_index, repeat_index and metric columns."""
    options = options or Options(alpha=alpha)
    models = models.assign(fold_index=models["fold_index"].fillna(-1).astype(int))
    metrics = [m for m in (metrics or default_metrics(models, ranking_metric)) if m in models.columns]
    jobs = list(dict.fromkeys(models["job"]))
    by_job = dict(list(models.groupby("job", sort=False)))
    fixed = identical_repeat_jobs(models)
    intervals = pd.DataFrame(
        [
            {
                "job": job,
                "metric": metric,
                **bounded(
                    corrected_interval(
                        (one_per_fold(by_job[job]) if job in fixed else by_job[job])[metric],
                        *sizes.get(split_of(metric), (0.0, 0.0)),
                        CONFIDENCE,
                    ),
                    metric,
                ).__dict__,
            }
            for job in jobs
            for metric in metrics
        ],
        columns=["job", "metric", "mean", "low", "high", "count"],
    )
    summary = _summary(by_job, intervals, jobs, metrics)
    pairs = _pairs(by_job, jobs, metrics, sizes, intervals, ranking_metric, options, fixed)
    against = ranking_metric if ranking_metric in metrics else next(iter(metrics), None)
    return Comparison(
        title,
        summary,
        intervals,
        pairs,
        options.alpha,
        baseline_verdicts(models, sizes, against, options.alpha, options),
        options,
        deterministic_notes(by_job, fixed),
    )


MATCHED_ON = ["fold_index", "repeat_index"]  # a job's model pairs with another's of the same fold and repeat


def split_metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if split_of(c) is not None]


def identical_repeat_jobs(models: pd.DataFrame) -> set:
    """The jobs whose repeats gave the same scores, every metric, on every fold (deterministic models): their
    repeats are one observation per fold. A job with no fold of two repeats is none of them."""
    columns = split_metric_columns(models)
    if not columns or len(models) < 2:
        return set()
    codes, labels = pd.factorize(models["job"])
    folds = models["fold_index"].fillna(-1).to_numpy(dtype=np.float64)
    order = np.lexsort((folds, codes))
    job, fold = codes[order], folds[order]
    same = (job[1:] == job[:-1]) & (fold[1:] == fold[:-1])  # neighbours: two repeats of one job's fold
    values = np.asarray(models[columns], dtype=np.float64)[order]
    equal = ((values[1:] == values[:-1]) | (np.isnan(values[1:]) & np.isnan(values[:-1]))).all(axis=1)
    repeated = np.bincount(job[1:][same], minlength=len(labels)) > 0
    differ = np.bincount(job[1:][same & ~equal], minlength=len(labels)) > 0
    return {labels[i] for i in np.flatnonzero(repeated & ~differ)}


def one_per_fold(rows: pd.DataFrame) -> pd.DataFrame:
    """The first repeat's row of each fold (a job with identical repeats)."""
    return rows.loc[~rows["fold_index"].fillna(-1).duplicated()]


def deterministic_notes(by_job: dict[str, pd.DataFrame], fixed: set[str]) -> list[str]:
    """One line naming the jobs whose repeats were identical, if any."""
    named = [job for job in by_job if job in fixed]
    if not named:
        return []
    return [
        f"Identical repeats: {', '.join(named)} gave the same scores on every repeat of a fold "
        "(a deterministic model), "
        "so repeat_count > 1 adds no observation for them: their repeats count once per fold."
    ]


def shared_test(models: pd.DataFrame, a: str, b: str, metric: str, sizes: dict[str, tuple[float, float]]):
    """The corrected resampled t-test of job ``a`` against job ``b`` over the folds and repeats both have
    (one pair per fold when both have identical repeats); returns (number of pairs, PairedTest)."""
    return shared_tests(models, a, b, [metric], sizes)[metric]


def shared_tests(
    models: pd.DataFrame, a: str, b: str, metrics: list[str], sizes: dict[str, tuple[float, float]]
) -> dict:
    """``shared_test`` of each metric, the two jobs' folds and repeats matched once for all of them."""
    rows_a, rows_b = models.loc[models["job"] == a], models.loc[models["job"] == b]
    return matched_tests(rows_a, rows_b, metrics, sizes, identical_repeat_jobs(pd.concat([rows_a, rows_b])) == {a, b})


def matched_tests(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metrics: list[str],
    sizes: dict[str, tuple[float, float]],
    collapse: bool = False,
    options: Options | None = None,
) -> dict:
    """``shared_tests`` of two jobs' own rows (with fold_index, repeat_index and the metrics); ``collapse``:
    both have identical repeats, so one pair per fold. A BayesianTest per metric when ``options`` ask for it."""
    left, right = matched_rows(a, b)
    if collapse:
        first = ~pd.Series(a["fold_index"].fillna(-1).to_numpy()[left]).duplicated().to_numpy()
        left, right = left[first], right[first]
    tests = {}
    for metric in metrics:
        n_train, n_test = sizes.get(split_of(metric), (0.0, 0.0))
        x, y = a[metric].to_numpy()[left], b[metric].to_numpy()[right]
        if options is not None and options.test == "bayesian":
            tests[metric] = (
                len(left),
                bayesian_correlated_ttest(x, y, n_train, n_test, options.rope, higher_is_better(metric)),
            )
        else:
            tests[metric] = len(left), corrected_resampled_ttest(x, y, n_train, n_test)
    return tests


def matched_rows(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``a``'s and ``b``'s rows of the same fold and repeat, paired in the order an inner
    merge gives them (a's order); a lookup when each fold and repeat is once in ``b`` (a job's models are)."""
    keys_a, keys_b = _model_keys(a), _model_keys(b)
    if keys_b is not None and keys_a is not None and len(np.unique(keys_b)) == len(keys_b):
        right = pd.Index(keys_b).get_indexer(keys_a)
        left = np.flatnonzero(right >= 0)
        return left, right[left]
    positions = [frame[MATCHED_ON].assign(**{name: np.arange(len(frame))}) for frame, name in ((a, "_a"), (b, "_b"))]
    shared = positions[0].merge(positions[1], on=MATCHED_ON)
    return shared["_a"].to_numpy(), shared["_b"].to_numpy()


def _model_keys(rows: pd.DataFrame) -> np.ndarray | None:
    """One integer per (fold, repeat) (no fold: -1), or None when they are not small whole numbers."""
    fold, repeat = rows["fold_index"].fillna(-1).to_numpy(), rows["repeat_index"].to_numpy()
    try:
        fold, repeat = fold.astype(np.int64), repeat.astype(np.int64)
    except (TypeError, ValueError):
        return None
    if len(repeat) and not (0 <= repeat.min() and repeat.max() < 2**20):
        return None
    return fold * 2**20 + repeat


def beats(test, metric: str, alpha: float, p_value: float | None = None) -> bool:
    """A real difference (p < alpha; ``p_value``: the adjusted one, else the test's) in the better direction
    of ``metric``."""
    p = test.p_value if p_value is None else p_value
    better = test.difference > 0 if higher_is_better(metric) else test.difference < 0
    return bool(better and not np.isnan(p) and p < alpha)


def baseline_verdicts(
    models: pd.DataFrame,
    sizes: dict[str, tuple[float, float]],
    metric: str | None,
    alpha: float = ALPHA,
    options: Options | None = None,
) -> pd.DataFrame:
    """Every job against the baseline job on ``metric`` (one row per job; empty without a baseline).

    A job beats the baseline when it is better by the corrected resampled t-test at ``alpha``, the
    p-values of all jobs adjusted together (``p_adjusted``; Holm unless ``options`` say otherwise);
    fewer than two shared folds x repeats give no p-value, and no claim that it does."""
    if BASELINE_JOB not in set(models["job"]) or metric not in models.columns:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    options = options or Options(alpha=alpha)
    rows, tests = [], []
    baseline_mean = models.loc[models["job"] == BASELINE_JOB, metric].mean()
    for job in dict.fromkeys(models["job"]):
        if job == BASELINE_JOB:
            continue
        count, test = shared_test(models, job, BASELINE_JOB, metric, sizes)
        tests.append(test)
        rows.append(
            {
                "job": job,
                "metric": metric,
                "pairs": count,
                "job_mean": models.loc[models["job"] == job, metric].mean(),
                "baseline_mean": baseline_mean,
                "difference": test.difference,
                "p_value": test.p_value,
            }
        )
    adjusted = adjust([test.p_value for test in tests], options.correction)
    for row, test, p in zip(rows, tests, adjusted):
        row.update(p_adjusted=p, beats_baseline=beats(test, metric, alpha, p))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def _summary(
    by_job: dict[str, pd.DataFrame], intervals: pd.DataFrame, jobs: list[str], metrics: list[str]
) -> pd.DataFrame:
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


def _pairs(by_job, jobs, metrics, sizes, intervals, ranking_metric, options: Options, fixed: set[str]) -> pd.DataFrame:
    if len(jobs) <= ALL_PAIRS_UP_TO:
        pairs = list(itertools.combinations(jobs, 2))
    else:
        ranking = ranking_metric if ranking_metric in metrics else metrics[0]
        means = intervals[intervals["metric"] == ranking].set_index("job")["mean"]
        best = (means.idxmax() if higher_is_better(ranking) else means.idxmin()) if means.notna().any() else jobs[0]
        pairs = [(best, job) for job in jobs if job != best]
    family = len(jobs) * (len(jobs) - 1) // 2  # every pair could have been tested: the best one was chosen from them
    tests = {
        (a, b): matched_tests(by_job[a], by_job[b], metrics, sizes, a in fixed and b in fixed, options)
        for a, b in pairs
    }
    if options.test == "bayesian":
        return _bayesian_rows(tests, pairs, metrics)
    rows = []
    for metric in metrics:
        found = [(a, b, *tests[(a, b)][metric]) for a, b in pairs]
        adjusted = adjust(
            [test.p_value for *_, test in found], options.correction, family
        )  # the family: this metric's pairs
        for (a, b, count, test), p in zip(found, adjusted):
            rows.append(
                {
                    "metric": metric,
                    "job_a": a,
                    "job_b": b,
                    "pairs": count,
                    "difference": test.difference,
                    "t": test.t,
                    "df": test.df,
                    "p_value": test.p_value,
                    "p_adjusted": p,
                    "different": bool(p < options.alpha) if not np.isnan(p) else False,
                }
            )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _bayesian_rows(tests, pairs, metrics) -> pd.DataFrame:
    rows = []
    for metric in metrics:
        for a, b in pairs:
            count, test = tests[(a, b)][metric]
            probabilities = {f"{a} better": test.a_better, "equivalent": test.equivalent, f"{b} better": test.b_better}
            side, top = max(probabilities.items(), key=lambda item: -1 if np.isnan(item[1]) else item[1])
            rows.append(
                {
                    "metric": metric,
                    "job_a": a,
                    "job_b": b,
                    "pairs": count,
                    "difference": test.difference,
                    "P(a better)": test.a_better,
                    "P(equivalent)": test.equivalent,
                    "P(b better)": test.b_better,
                    "verdict": side if top > DECISIVE else "undecided",
                }
            )
    return pd.DataFrame(rows, columns=BAYES_COLUMNS)


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
    own = {
        flagged: [c for c in hp_columns if table.loc[baseline == flagged, c].notna().any()] for flagged in (True, False)
    }
    own = own if baseline.any() else {False: hp_columns}
    hyperparameters = (
        pd.Series(
            [
                hyperparameter_text({c[len(HP_PREFIX) :]: row[c] for c in own[flagged]})
                for (_, row), flagged in zip(table.iterrows(), baseline)
            ],
            index=table.index,
            dtype=object,
        )
        if hp_columns
        else ""
    )
    return pd.DataFrame(
        {
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
        }
    ).reset_index(drop=True)
