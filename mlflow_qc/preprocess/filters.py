"""Column selection: an input's feature columns and the filters that claim them."""

from __future__ import annotations

import pandas as pd
from pandas.api import types

from mlflow_qc.data.dataset import Dataset, preview_columns
from mlflow_qc.errors import QCError
from mlflow_qc.recipe import ColumnFilter, Input


def is_text(dtype) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _is_category(dtype) -> bool:
    return isinstance(dtype, pd.CategoricalDtype)


def _is_number(dtype) -> bool:
    return types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)


_KINDS = {
    "number": _is_number,
    "numeric": _is_number,
    "float": types.is_float_dtype,
    "int": types.is_integer_dtype,
    "integer": types.is_integer_dtype,
    "bool": types.is_bool_dtype,
    "category": _is_category,
    "datetime": types.is_datetime64_any_dtype,
    "object": is_text,
    "str": is_text,
    "string": is_text,
}
DTYPE_EXAMPLES = "float64, int64, bool, str, object, category, or a kind: number, float, int"


def known_dtype(name: str) -> bool:
    if name.lower() in _KINDS:
        return True
    try:
        types.pandas_dtype(name)
    except TypeError:
        return False
    return True


def dtype_matches(dtype, name: str) -> bool:
    """Forgiving dtype matching: the exact name, a generic kind, or a numpy/pandas alias."""
    if str(dtype) == name:
        return True
    kind = _KINDS.get(name.lower())
    if kind is not None:
        return bool(kind(dtype))
    return dtype == types.pandas_dtype(name)


def filter_matches(spec: ColumnFilter, column: str, dtype) -> bool:
    """A filter without columns and dtypes matches every column (none with ``include: false``)."""
    if spec.columns is None and spec.dtypes is None:
        matched = True
    else:
        matched = column in (spec.columns or ()) or any(dtype_matches(dtype, name) for name in spec.dtypes or ())
    return matched == spec.include


def claim_columns(filters: list[ColumnFilter], dtypes: pd.Series, where: str) -> list[list[str]]:
    """Each filter, in order, claims the still-unclaimed columns it matches; one list per filter.

    ``dtypes`` is the input's feature columns -> dtype; ``where`` names the list (``...encoders``).
    """
    unclaimed = dict(dtypes.items())
    claims = []
    for index, spec in enumerate(filters):
        here = f"{where}[{index}]"
        _check_filter(spec, dtypes, here)
        claimed = [column for column, dtype in unclaimed.items() if filter_matches(spec, column, dtype)]
        if not claimed:
            left = [f"{column} ({dtype})" for column, dtype in unclaimed.items()]
            raise QCError(
                here,
                f"matches no unclaimed column; expected columns or dtypes matching some of {preview_columns(left)}",
            )
        for column in claimed:
            del unclaimed[column]
        claims.append(claimed)
    return claims


def _check_filter(spec: ColumnFilter, dtypes: pd.Series, where: str) -> None:
    unknown = [column for column in spec.columns or () if column not in dtypes.index]
    if unknown:
        raise QCError(
            f"{where}.columns",
            f"column(s) {unknown} are not features of this input; expected some of {preview_columns(list(dtypes.index))}",
        )
    bad = [name for name in spec.dtypes or () if not known_dtype(name)]
    if bad:
        raise QCError(f"{where}.dtypes", f"unknown dtype(s) {bad}; expected e.g. {DTYPE_EXAMPLES}")


def select_features(spec: Input, dataset: Dataset, where: str, target_column: str | None) -> list[str]:
    """The input's feature columns in dataset order: include/exclude applied, the target column removed.

    ``target_column`` is set when the target comes from this input's dataset.
    """
    for key in ("include_columns", "exclude_columns"):
        listed = getattr(spec, key)
        if listed is not None:
            dataset.require_columns(listed, f"{where}.{key}")
    if spec.include_columns is not None and target_column in spec.include_columns:
        raise QCError(
            f"{where}.include_columns", f"'{target_column}' is the target column; expected feature columns only"
        )
    columns = [column for column in dataset.columns if column != target_column]
    if spec.include_columns is not None:
        columns = [column for column in columns if column in spec.include_columns]
    elif spec.exclude_columns is not None:
        columns = [column for column in columns if column not in spec.exclude_columns]
    if not columns:
        raise QCError(where, "no feature columns left after include/exclude and the target; expected at least one")
    return columns
