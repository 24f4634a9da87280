"""A typical sample of the training rows, column by column: the median of a number column, the most
frequent value of any other, with the range or the frequent values beside it. The what-if page
(README: "The QC pages") starts from it; it travels inside each served model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pandas.api import types

FREQUENT_VALUES = 50  # of a categorical column, most frequent first


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def one_table(kinds: list[str] | None, windows: list | None) -> bool:
    """Whether a model takes one row of raw columns per sample (tabular inputs, no windows): the models a
    what-if page offers one field per column, and those whose contexts keep a typical sample. ``kinds``
    None: an entry or model from before N-D data, when every model took one table."""
    return all(kind == "tabular" for kind in kinds or ["tabular"]) and not any(windows or [])


def typical_values(frame: pd.DataFrame) -> dict[str, dict]:
    """Per column: ``kind`` (number, boolean, category), ``default`` and ``min``/``max`` or ``values``."""
    numbers = _plain_number_summaries(frame)
    typical = {}
    for column in frame.columns:
        if column in numbers:
            typical[column] = numbers[column]
            continue
        series = frame[column].dropna()
        dtype = frame[column].dtype
        if types.is_bool_dtype(dtype):
            typical[column] = {
                "kind": "boolean",
                "default": bool(series.mode().iloc[0]) if len(series) else False,
                "values": [False, True],
            }
        elif types.is_numeric_dtype(dtype):
            whole = types.is_integer_dtype(dtype)
            median = series.quantile(0.5, interpolation="nearest" if whole else "linear") if len(series) else None
            typical[column] = _number(
                whole, median, series.min() if len(series) else None, series.max() if len(series) else None
            )
        else:
            counts = series.astype(str).value_counts(sort=True)
            typical[column] = {
                "kind": "category",
                "default": counts.index[0] if len(counts) else "",
                "values": list(counts.index[:FREQUENT_VALUES]),
                "distinct": int(len(counts)),
            }
    return typical


def _number(whole: bool, median, low, high) -> dict:
    return {"kind": "number", "whole": whole, "default": _plain(median), "min": _plain(low), "max": _plain(high)}


def _plain_number_summaries(frame: pd.DataFrame) -> dict[str, dict]:
    """``typical_values`` of the columns of numpy int and float dtypes, a dtype's columns at once (the
    values pandas gives column by column, in a fraction of the time: every fold's context has one)."""
    by_dtype: dict[np.dtype, list] = {}
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
            by_dtype.setdefault(dtype, []).append(column)
    summaries = {}
    for dtype, names in by_dtype.items():
        values = frame[names].to_numpy(dtype=dtype)
        whole = dtype.kind in "iu"
        filled = np.flatnonzero(len(values) - (0 if whole else np.isnan(values).sum(axis=0)))
        summaries.update({name: _number(whole, None, None, None) for name in names})
        if len(filled):
            block = values[:, filled]
            medians = np.nanquantile(block, 0.5, axis=0, method="nearest" if whole else "linear")
            lows, highs = np.nanmin(block, axis=0), np.nanmax(block, axis=0)
            summaries.update({names[j]: _number(whole, medians[k], lows[k], highs[k]) for k, j in enumerate(filled)})
    return summaries
