"""The corrected resampled t-test (Nadeau and Bengio, 2003) and the matching confidence interval.

Models trained on overlapping training sets (folds x repeats of one dataset) give scores
that are not independent, so the ordinary paired t-test calls too many differences real.
Nadeau and Bengio inflate the variance by the ratio of held-out to training rows.

For J paired scores a_j, b_j (the same fold and repeat for both jobs), d_j = a_j - b_j:

    mean   d = (1/J) sum_j d_j
    var    s2 = sum_j (d_j - d)^2 / (J - 1)
    t      = d / sqrt((1/J + n_test/n_train) * s2)        with J - 1 degrees of freedom
    p      = 2 * (1 - T_{J-1}(|t|))                        (two-sided)

n_test is the size of the split the metric is computed on and n_train the size of the
training rows of the models. Without folds the J pairs are the repeats and the same formula
applies with the fixed split sizes. The confidence interval of one job's mean uses the same
corrected variance: mean +- t_{J-1, 1-alpha/2} * sqrt((1/J + n_test/n_train) * s2).

Differences that do not vary (s2 = 0: the same difference on every pair) give no test (t and p NaN)
rather than t = +-inf, p = 0: J equal numbers say nothing about how much they would vary.

The Bayesian correlated t-test (Benavoli, Corani, Demsar and Zaffalon, JMLR 2017) puts a posterior
on the mean difference: a Student t with J - 1 degrees of freedom, location d and scale
sqrt((1/J + rho/(1 - rho)) * s2) with rho = n_test / (n_train + n_test) (so rho/(1 - rho) =
n_test/n_train, Nadeau and Bengio's factor). With a region of practical equivalence [-rope, rope]
it gives P(a - b > rope), P(|a - b| <= rope) and P(a - b < -rope).

Several tests at once are adjusted (``adjust``): Holm's step-down (the family-wise error rate) by
default, Benjamini and Hochberg's step-up (the false discovery rate) as an option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedTest:
    difference: float  # mean of a - b
    t: float
    df: int
    p_value: float  # NaN when fewer than two pairs


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    count: int


def not_varying(d: np.ndarray) -> bool:
    """The same value throughout, up to rounding (0.9 - 0.7 and 0.8 - 0.6 differ in the last bits)."""
    return float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.abs(d).max()))


def correction(count: int, n_train: float, n_test: float) -> float:
    """1/J + n_test/n_train: the variance factor of the corrected resampled t-test."""
    return 1.0 / count + (n_test / n_train if n_train > 0 else 0.0)


def corrected_resampled_ttest(a, b, n_train: float, n_test: float) -> PairedTest:
    """Two-sided test that paired scores ``a`` and ``b`` (same folds and repeats) differ."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[~np.isnan(d)]
    count = len(d)
    if count == 0:
        return PairedTest(math.nan, math.nan, 0, math.nan)
    mean = float(d.mean())
    if count < 2:
        return PairedTest(mean, math.nan, 0, math.nan)
    variance = float(d.var(ddof=1))
    df = count - 1
    if not_varying(d):  # the same difference on every pair: none at all (p = 1), else nothing to test
        return PairedTest(0.0, 0.0, df, 1.0) if abs(mean) <= 1e-12 else PairedTest(mean, math.nan, df, math.nan)
    t = mean / math.sqrt(correction(count, n_train, n_test) * variance)
    return PairedTest(mean, t, df, float(2 * stats.t.sf(abs(t), df)))


def corrected_interval(values, n_train: float, n_test: float, confidence: float = 0.95) -> Interval:
    """Mean and corrected confidence interval of one job's scores over folds x repeats."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    count = len(x)
    if count == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if count < 2:
        return Interval(mean, math.nan, math.nan, count)
    half = stats.t.ppf(0.5 + confidence / 2, count - 1) * math.sqrt(correction(count, n_train, n_test) * x.var(ddof=1))
    return Interval(mean, mean - half, mean + half, count)


@dataclass(frozen=True)
class BayesianTest:
    difference: float  # mean of a - b
    a_better: float  # P(a - b > rope), or P(a - b < -rope) for a metric where lower is better
    equivalent: float  # P(|a - b| <= rope)
    b_better: float
    df: int


def bayesian_correlated_ttest(
    a, b, n_train: float, n_test: float, rope: float, higher_is_better: bool = True
) -> BayesianTest:
    """Posterior probabilities that ``a`` is better, practically equivalent within ``rope``, or ``b`` better
    (NaN with fewer than two pairs)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[~np.isnan(d)]
    count = len(d)
    if count < 2:
        mean = float(d.mean()) if count else math.nan
        return BayesianTest(mean, math.nan, math.nan, math.nan, 0)
    mean, df = float(d.mean()), count - 1
    scale = math.sqrt(correction(count, n_train, n_test) * float(d.var(ddof=1)))
    if not_varying(d):  # a posterior with all its mass at the mean
        above, below = float(mean > rope), float(mean < -rope)
    else:
        above, below = float(stats.t.sf(rope, df, mean, scale)), float(stats.t.cdf(-rope, df, mean, scale))
    equivalent = max(0.0, 1.0 - above - below)
    if not higher_is_better:
        above, below = below, above
    return BayesianTest(mean, above, equivalent, below, df)


CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def adjust(p_values, method: str = "holm", family: int | None = None) -> np.ndarray:
    """p-values adjusted for testing them together (NaN stays NaN and does not count): ``holm`` (Holm's
    step-down, family-wise) or ``bh`` (Benjamini-Hochberg, false discovery rate).

    ``family``: the number of hypotheses these were chosen from when only some were tested (every pair
    of jobs, when the report tests each job against the best one): the others count as p = 1, so the
    adjusted values are never below those of the whole family's."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    tested = ~np.isnan(p)
    if not tested.any():
        return out
    m = max(int(tested.sum()), family or 0)
    values = np.concatenate([p[tested], np.ones(m - int(tested.sum()))])
    if method == "bh":
        adjusted = stats.false_discovery_control(values, method="bh")
    elif method == "holm":
        order = np.argsort(values, kind="stable")
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(1.0, np.maximum.accumulate(values[order] * (m - np.arange(m))))
    else:
        raise ValueError(f"correction {method!r}; expected one of {sorted(CORRECTIONS)}")
    out[tested] = adjusted[: int(tested.sum())]
    return out
