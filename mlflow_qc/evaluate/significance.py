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
    if variance == 0.0:
        # identical differences on every pair: no difference at all, or a certain one
        return PairedTest(mean, 0.0 if mean == 0 else math.copysign(math.inf, mean), df, 1.0 if mean == 0 else 0.0)
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
