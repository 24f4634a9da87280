"""What a feature or target cell may hold, checked before any fitting.

One number or text per cell (a Parquet list or struct column arrives as Python objects that
no encoder takes), and finite numbers (``inf`` is not a missing value an interpolater or
imputer fills; scikit-learn refuses it deep inside a fit). For a text column that no encoder
claims, ``text_hint`` says what it looks like: numbers with a stray word, or dates as text.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api import types

from mlflow_qc.errors import QCError

NESTED = (list, tuple, dict, set, np.ndarray)
DATE_TEXT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\S*\s*$")
HINT_SAMPLE = 500


def check_cells(frame: pd.DataFrame, where: str) -> None:
    """QCError naming the first column with nested values or infinite numbers."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            nested = series.map(lambda value: isinstance(value, NESTED)).to_numpy(dtype=bool)
            if nested.any():
                row = int(np.argmax(nested))
                value = series.iloc[row]
                raise QCError(
                    where,
                    f"column '{column}' holds nested values ({type(value).__name__}, e.g. {_short(value)} in row {row}); "
                    "expected one number or text per cell: flatten it into columns in the file, or exclude it",
                )
        elif types.is_numeric_dtype(series) and not types.is_bool_dtype(series):
            infinite = np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
            if infinite.any():
                raise QCError(
                    where,
                    f"column '{column}' has {int(infinite.sum())} infinite value(s) (first in row {int(np.argmax(infinite))}); "
                    "expected finite numbers: replace or drop them in the file (inf is not a missing value to fill)",
                )


def text_hint(series: pd.Series) -> str | None:
    """What a text column looks like, when it looks like something other than categories."""
    present = series.dropna()
    numbers = pd.to_numeric(present.astype(str), errors="coerce")
    if len(present) and numbers.notna().mean() >= 0.5:
        bad = numbers.isna().to_numpy()
        row = int(present.index[int(np.argmax(bad))])
        return f"looks numeric, but cells such as {_short(present[row])} (row {row}) are not numbers; expected numbers: fix those cells in the file"
    sample = present.astype(str).head(HINT_SAMPLE)
    if len(sample) and sample.map(lambda text: bool(DATE_TEXT.match(text))).mean() >= 0.9:
        return (
            f"holds dates as text (e.g. {_short(sample.iloc[0])}); expected numbers: derive numeric columns "
            "(year, day of year, ...) in the file, or exclude it"
        )
    return None


def _short(value, limit: int = 40) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[:limit] + "..."
