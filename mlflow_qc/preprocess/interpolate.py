"""Interpolation of float columns with AIQC's semantics.

The training rows are interpolated alone, in row order. Every other split is
interpolated with the (interpolated) training rows as context: both sorted by
row position, interpolated together, the split's rows kept. New rows at inference
come after the stored training rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types

from mlflow_qc.errors import QCError, one_line


def require_float(dtypes: pd.Series, where: str) -> None:
    for column, dtype in dtypes.items():
        if not types.is_float_dtype(dtype):
            raise QCError(where, f"column '{column}' has dtype {dtype}; expected float columns only")


class Interpolator:
    """One interpolation setting on its columns; keeps the training rows as context."""

    def __init__(self, columns: list[str], kwargs: dict, where: str):
        self.columns = columns
        self.kwargs = kwargs
        self.where = where
        self.context: pd.DataFrame | None = None

    def fit_transform(self, frame: pd.DataFrame, rows: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
        """``frame``: all rows of the columns, indexed by position; each split's rows in ``rows`` order."""
        self.context = self._interpolate(frame.iloc[np.sort(rows["train"])])
        return {
            split: self.context.loc[positions] if split == "train" else self._with_context(frame.iloc[positions])
            for split, positions in rows.items()
        }

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """New rows, placed after the training rows."""
        start = self.context.index.max() + 1
        new = frame.set_axis(pd.RangeIndex(start, start + len(frame)))
        return self._with_context(new).set_axis(frame.index)

    def _with_context(self, split: pd.DataFrame) -> pd.DataFrame:
        context = self.context.drop(index=split.index, errors="ignore")
        return self._interpolate(pd.concat([context, split]).sort_index()).loc[split.index]

    def _interpolate(self, frame: pd.DataFrame) -> pd.DataFrame:
        try:
            return frame.interpolate(**self.kwargs)
        except (ValueError, TypeError, ImportError) as exc:
            raise QCError(
                self.where, f"cannot interpolate {self.columns} with {self.kwargs}: {one_line(exc)}"
            ) from None


def interpolate_splits(
    interpolators: list[Interpolator], frame: pd.DataFrame, rows: dict[str, np.ndarray]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each split's rows after interpolation, and all rows with the interpolated values the splits got.

    ``frame`` holds all rows indexed by position; the second result is what encoders
    fitted on all rows see.
    """
    splits = {split: frame.iloc[positions].copy() for split, positions in rows.items()}
    full = frame.copy()
    for interpolator in interpolators:
        columns = interpolator.columns
        for split, part in interpolator.fit_transform(frame[columns], rows).items():
            splits[split][columns] = part.to_numpy()
            full.loc[part.index, columns] = part.to_numpy()
    return splits, full


def interpolate_new(interpolators: list[Interpolator], frame: pd.DataFrame) -> pd.DataFrame:
    if not interpolators:
        return frame
    frame = frame.copy()
    for interpolator in interpolators:
        frame[interpolator.columns] = interpolator.transform(frame[interpolator.columns]).to_numpy()
    return frame
