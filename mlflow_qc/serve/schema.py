"""New raw rows against the model's input signature: same columns, castable dtypes.

Shared by the scoring path (every QC pyfunc request) and ``Inference``, so both refuse
the same inputs with the same message naming the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types

from mlflow_qc.data.dataset import preview_columns
from mlflow_qc.errors import QCError

_NUMERIC = {"double": np.float64, "float": np.float32, "long": np.int64, "integer": np.int32}
_WHOLE = {"long", "integer"}


def as_frame(data) -> pd.DataFrame:
    """A table with named columns, or a QCError saying what arrived instead."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):  # columns {"col": [...]}, or one row {"col": value} (MLflow's ``inputs``)
        if data and all(np.ndim(value) == 0 for value in data.values()):
            return pd.DataFrame([_row(data)])
        try:
            return pd.DataFrame(data)
        except ValueError as exc:
            raise QCError(
                "input", f"cannot read the request as a table ({exc}); expected equal-length columns"
            ) from None
    rows = data.tolist() if isinstance(data, np.ndarray) and data.dtype == object and data.ndim == 1 else data
    if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):  # records [{"col": value}, ...]
        return pd.DataFrame([_row(row) for row in rows])
    raise QCError(
        "input",
        f"got {type(data).__name__} without column names; expected a table with named columns "
        "(dataframe_split, dataframe_records, or inputs / instances as records or columns)",
    )


def _row(row: dict) -> dict:
    """A record's values as plain scalars (MLflow's JSON parsing makes each a 0-d array)."""
    return {
        key: value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value for key, value in row.items()
    }


def conform(data, schema) -> pd.DataFrame:
    """``data`` with exactly the signature's columns, in its order, cast to its types.

    ``schema``: the model's ``mlflow.types.Schema`` of named columns.
    """
    frame = as_frame(data)
    names = schema.input_names()
    duplicated = [str(column) for column in frame.columns[frame.columns.duplicated()]]
    if duplicated:
        raise QCError(
            "input", f"column(s) {preview_columns(duplicated)} given more than once; expected each column once"
        )
    present = set(frame.columns)
    missing = [name for name in names if name not in present]
    if missing:
        raise QCError(
            "input", f"column(s) {preview_columns(missing)} missing; expected the columns {preview_columns(names)}"
        )
    extra = [str(column) for column in frame.columns if column not in set(names)]
    if extra:
        raise QCError(
            "input",
            f"unexpected column(s) {preview_columns(extra)}; expected only the columns {preview_columns(names)}",
        )
    if frame.empty:
        raise QCError("input", "no rows; expected at least one row")
    if list(frame.columns) != names:
        frame = frame[names]
    casts = {}
    for spec in schema.inputs:
        dtype = _cast_to(frame[spec.name], spec.type.name)
        if dtype is not None:
            casts[spec.name] = dtype
    return frame.astype(casts) if casts else frame


def _cast_to(series: pd.Series, kind: str):
    """The dtype ``series`` must be cast to (None: it already fits); QCError when it cannot be."""
    dtype = series.dtype
    if kind == "string":
        return None if types.is_string_dtype(dtype) else str
    if kind == "boolean":
        if not types.is_bool_dtype(dtype):
            _refuse(series, None, kind, "true or false")
        return None
    if kind not in _NUMERIC:
        return None  # datetime, binary: MLflow's own enforcement checks these
    target = _NUMERIC[kind]
    if dtype == target:
        return None
    if types.is_bool_dtype(dtype):
        _refuse(series, None, kind, "numbers")
    if not types.is_numeric_dtype(dtype):
        numbers = pd.to_numeric(series, errors="coerce")
        unreadable = (numbers.isna() & series.notna()).to_numpy()
        if unreadable.any():
            _refuse(series, unreadable, kind, "numbers")
        series, dtype = numbers, numbers.dtype
    if kind in _WHOLE and types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64)
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if fractional.any():
            _refuse(series, fractional, kind, "whole numbers without gaps")
    return target


def _refuse(series: pd.Series, mask, kind: str, expected: str):
    values = series.to_numpy(dtype=object)
    shown = list(dict.fromkeys(_plain(value) for value in (values if mask is None else values[mask])))[:3]
    raise QCError(
        f"column '{series.name}'", f"{series.dtype} values such as {shown} do not fit {kind}; expected {expected}"
    )


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
