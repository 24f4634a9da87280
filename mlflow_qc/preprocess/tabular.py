"""One tabular input: its raw columns, interpolaters and encoders, fitted per context.

Text is a column too: a vectorizer encoder (TfidfVectorizer, CountVectorizer) claims a text
column, gets it 1-D and is fit on the training rows like any other encoder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.cells import check_cells, text_hint
from mlflow_qc.preprocess.encoders import ColumnEncoder, invert_blocks
from mlflow_qc.preprocess.feature_input import FeatureInput
from mlflow_qc.preprocess.filters import claim_columns, is_text, select_features
from mlflow_qc.preprocess.interpolate import Interpolator, interpolate_new, interpolate_splits, require_float
from mlflow_qc.recipe import Input

_MISSING_HINT = "expected none: add an interpolater (float columns) or an encoder such as sklearn.impute.SimpleImputer"


class TabularInput(FeatureInput):
    kind = "tabular"

    def __init__(self, spec: Input, dataset: Dataset, where: str, target_column: str | None):
        """Checks everything that needs no fitting; ``target_column`` is set when the target shares the dataset."""
        if spec.window is not None:
            raise QCError(f"{where}.window", "window is not supported yet; expected window: null")
        super().__init__(where, spec.reshape_indices)
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
        self.encoders = [
            ColumnEncoder(spec.encoders[index], columns, f"{where}.encoders[{index}]")
            for index, columns in enumerate(claims)
        ]
        claimed = {column for columns in claims for column in columns}
        self.passthrough = [column for column in self.raw_columns if column not in claimed]
        self._check_passthrough(dataset.frame, dtypes)
        if self.reshape is not None:
            self.reshape.shape(
                (dataset.n_samples, len(self.raw_columns))
            )  # checked again once encoders fixed the width

    def _check_passthrough(self, frame: pd.DataFrame, dtypes: pd.Series) -> None:
        interpolated = {column for interpolator in self.interpolators for column in interpolator.columns}
        for column in self.passthrough:
            if not types.is_numeric_dtype(dtypes[column]):
                hint = text_hint(frame[column]) if is_text(dtypes[column]) else None
                raise QCError(
                    f"{self.where}.encoders",
                    f"column '{column}' ({dtypes[column]}) is claimed by no encoder and "
                    + (
                        hint
                        or f"is not numeric; expected an encoder for it, e.g. {{sklearn: OneHotEncoder, columns: [{column}]}}, or exclude it"
                    ),
                )
            if column not in interpolated and frame[column].isna().any():
                raise QCError(self.where, f"column '{column}' has missing values; {_MISSING_HINT}")

    def _fit_transform(self, dataset: Dataset, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        frame = dataset.frame[self.raw_columns].reset_index(drop=True)
        splits, _ = interpolate_splits(self.interpolators, frame, rows)
        total = sum(len(part) for part in splits.values())
        for encoder in self.encoders:
            encoder.fit(splits["train"], total)
        self.feature_names = [name for encoder in self.encoders for name in encoder.names] + self.passthrough
        return {split: self._encode(part, self.where, f"split '{split}'") for split, part in splits.items()}

    def raw_example(self, dataset: Dataset, rows: np.ndarray) -> pd.DataFrame:
        return dataset.frame.iloc[rows][self.raw_columns].reset_index(drop=True)

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        """(n, features) -> (n, raw columns): each encoder's block inverted, passthrough columns as they are."""
        return invert_blocks(self.encoders, self.passthrough, self.raw_columns, encoded)

    def _transform(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        missing = [column for column in self.raw_columns if column not in frame.columns]
        if missing:
            raise QCError(where, f"column(s) {missing} missing; expected the raw feature columns {self.raw_columns}")
        frame = interpolate_new(self.interpolators, frame[self.raw_columns].reset_index(drop=True))
        return self._encode(frame, where, "the new rows")

    def _encode(self, frame: pd.DataFrame, where: str, rows: str) -> np.ndarray:
        blocks = [encoder.transform(frame, rows) for encoder in self.encoders]
        blocks.append(frame[self.passthrough].to_numpy(dtype=np.float64, na_value=np.nan))
        features = np.hstack(blocks)
        missing = np.isnan(features).any(axis=0)
        if missing.any():
            name = self.feature_names[int(np.argmax(missing))]
            raise QCError(where, f"feature '{name}' has missing values in {rows} after preprocessing; {_MISSING_HINT}")
        return features
