"""One tabular input: its raw columns, interpolaters and encoders, fitted per context.

Sequence and image inputs will be siblings with the same surface
(raw_columns, raw_dtypes, feature_names, fit_transform, transform).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.cells import check_cells, text_hint
from mlflow_qc.preprocess.encoders import ColumnEncoder
from mlflow_qc.preprocess.filters import is_text, claim_columns, select_features
from mlflow_qc.preprocess.interpolate import Interpolator, interpolate_new, interpolate_splits, require_float
from mlflow_qc.recipe import Input

_MISSING_HINT = "expected none: add an interpolater (float columns) or an encoder such as sklearn.impute.SimpleImputer"


class TabularInput:
    def __init__(self, spec: Input, dataset: Dataset, where: str, target_column: str | None):
        """Checks everything that needs no fitting; ``target_column`` is set when the target shares the dataset."""
        for key in ("window", "reshape_indices"):
            if getattr(spec, key) is not None:
                raise QCError(f"{where}.{key}", f"{key} is not supported yet; expected {key}: null")
        if dataset.kind != "tabular":
            raise QCError(f"{where}.dataset.kind", f"{dataset.kind} inputs are not supported yet; expected tabular data")
        self.where = where
        self.raw_columns = select_features(spec, dataset, where, target_column)
        check_cells(dataset.frame[self.raw_columns], where)
        dtypes = dataset.frame[self.raw_columns].dtypes
        self.raw_dtypes = {column: str(dtype) for column, dtype in dtypes.items()}
        self.interpolators = []
        for index, columns in enumerate(claim_columns(spec.interpolaters, dtypes, f"{where}.interpolaters")):
            here = f"{where}.interpolaters[{index}]"
            require_float(dtypes[columns], here)
            self.interpolators.append(Interpolator(columns, spec.interpolaters[index].kwargs, here))
        claims = claim_columns(spec.encoders, dtypes, f"{where}.encoders")
        self.encoders = [ColumnEncoder(spec.encoders[index], columns, f"{where}.encoders[{index}]") for index, columns in enumerate(claims)]
        claimed = {column for columns in claims for column in columns}
        self.passthrough = [column for column in self.raw_columns if column not in claimed]
        self._check_passthrough(dataset.frame, dtypes)
        self.feature_names: list[str] = []

    def _check_passthrough(self, frame: pd.DataFrame, dtypes: pd.Series) -> None:
        interpolated = {column for interpolator in self.interpolators for column in interpolator.columns}
        for column in self.passthrough:
            if not types.is_numeric_dtype(dtypes[column]):
                hint = text_hint(frame[column]) if is_text(dtypes[column]) else None
                raise QCError(
                    f"{self.where}.encoders",
                    f"column '{column}' ({dtypes[column]}) is claimed by no encoder and "
                    + (hint or f"is not numeric; expected an encoder for it, e.g. {{sklearn: OneHotEncoder, columns: [{column}]}}, or exclude it"),
                )
            if column not in interpolated and frame[column].isna().any():
                raise QCError(self.where, f"column '{column}' has missing values; {_MISSING_HINT}")

    def fit_transform(self, frame: pd.DataFrame, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``frame``: the whole dataset; returns each split's features in ``rows`` order."""
        frame = frame[self.raw_columns].reset_index(drop=True)
        splits, full = interpolate_splits(self.interpolators, frame, rows)
        for encoder in self.encoders:
            encoder.fit(full, splits["train"])
        self.feature_names = [name for encoder in self.encoders for name in encoder.names] + self.passthrough
        return {split: self._encode(part, self.where, f"split '{split}'") for split, part in splits.items()}

    def transform(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """New raw rows (inference)."""
        missing = [column for column in self.raw_columns if column not in frame.columns]
        if missing:
            raise QCError(where, f"column(s) {missing} missing; expected the raw feature columns {self.raw_columns}")
        frame = interpolate_new(self.interpolators, frame[self.raw_columns].reset_index(drop=True))
        return self._encode(frame, where, "the new rows")

    def _encode(self, frame: pd.DataFrame, where: str, rows: str) -> np.ndarray:
        blocks = [encoder.transform(frame) for encoder in self.encoders]
        blocks.append(frame[self.passthrough].to_numpy(dtype=np.float64, na_value=np.nan))
        features = np.hstack(blocks)
        missing = np.isnan(features).any(axis=0)
        if missing.any():
            name = self.feature_names[int(np.argmax(missing))]
            raise QCError(where, f"feature '{name}' has missing values in {rows} after preprocessing; {_MISSING_HINT}")
        return features
