"""The target column: checks, interpolation, encoding into 2-D float64 labels, decoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types
from sklearn.preprocessing import MultiLabelBinarizer

from mlflow_qc.classes import resolve_encoder_class
from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.cells import check_cells
from mlflow_qc.preprocess.encoders import ColumnEncoder, dense, is_categorical
from mlflow_qc.preprocess.interpolate import Interpolator, interpolate_new, interpolate_splits, require_float
from mlflow_qc.preprocess.labels import encoded_class_index
from mlflow_qc.recipe import Encoder, Target

CLASS_ENCODERS = "OneHotEncoder, OrdinalEncoder, LabelBinarizer or LabelEncoder"


def infer_analysis_type(series: pd.Series, encoder_cls: type | None) -> str:
    """Without a model section: a categorical encoder or a non-numeric target means classification."""
    numeric = types.is_numeric_dtype(series) and not types.is_bool_dtype(series)
    if (encoder_cls is None and numeric) or (encoder_cls is not None and not is_categorical(encoder_cls)):
        return "regression"
    return "classification_binary" if series.nunique() == 2 else "classification_multi"


class TargetColumn:
    """The target's interpolation and encoder, fitted per context.

    Classification without an encoder uses an OrdinalEncoder (labels 0..k-1 in sorted class order).
    """

    def __init__(self, spec: Target, dataset: Dataset, analysis_type: str | None):
        """Checks everything that needs no fitting."""
        dataset.require_columns([spec.column], "data.target.column")
        series = dataset.frame[spec.column]
        check_cells(series.to_frame(), "data.target.column")
        encoder_cls = resolve_encoder_class(spec.encoder.sklearn) if spec.encoder else None
        self.column = spec.column
        self.analysis_type = analysis_type or infer_analysis_type(series, encoder_cls)
        self.classification = self.analysis_type.startswith("classification")
        _check(spec, series, self.analysis_type, encoder_cls)
        self.interpolators = (
            [Interpolator([spec.column], spec.interpolater.kwargs, "data.target.interpolater")]
            if spec.interpolater
            else []
        )
        encoder = spec.encoder or (Encoder(sklearn="OrdinalEncoder") if self.classification else None)
        self.encoder = ColumnEncoder(encoder, [spec.column], "data.target.encoder", features=False) if encoder else None
        self.categories: np.ndarray | None = None

    @property
    def classes(self) -> list | None:
        return None if self.categories is None else self.categories.tolist()

    def fit_transform(self, frame: pd.DataFrame, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        frame = frame[[self.column]].reset_index(drop=True)
        splits, full = interpolate_splits(self.interpolators, frame, rows)
        if (
            self.encoder is not None
        ):  # a class encoder learns every class (each split holds each), a scaler the training rows
            self.encoder.fit(full if self.classification else splits["train"], len(full))
        if self.classification:
            self._set_categories()
        return {split: self._encode(part) for split, part in splits.items()}

    def encode(self, values) -> np.ndarray:
        frame = pd.DataFrame({self.column: pd.Series(values).reset_index(drop=True)})
        return self._encode(interpolate_new(self.interpolators, frame))

    def decode(self, encoded) -> np.ndarray:
        """Original labels (classification) or values on the original scale (regression), 1-D."""
        encoded = dense(np.asarray(encoded, dtype=np.float64))
        if self.classification:
            return self.categories[self.class_index(encoded)]
        return encoded[:, 0] if self.encoder is None else self.encoder.inverse_transform(encoded)

    def class_index(self, encoded) -> np.ndarray:
        """One column: the rounded value (binary 0/1 or ordinal); several: the argmax (one-hot, probabilities)."""
        return encoded_class_index(dense(np.asarray(encoded, dtype=np.float64)), len(self.categories))

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        if self.encoder is None:
            return frame.to_numpy(dtype=np.float64, na_value=np.nan)
        return self.encoder.transform(frame)

    def _set_categories(self) -> None:
        self.categories = self.encoder.categories
        width = len(self.encoder.names)
        if width not in (1, len(self.categories)):
            raise QCError(
                "data.target.encoder",
                f"encodes {len(self.categories)} classes into {width} columns; expected one column (binary, ordinal) "
                "or one per class (one-hot): drop and min_frequency do not suit a target",
            )


def _check(spec: Target, series: pd.Series, analysis_type: str, encoder_cls: type | None) -> None:
    column = spec.column
    if analysis_type == "regression":
        if not types.is_numeric_dtype(series) or types.is_bool_dtype(series):
            raise QCError(
                "data.target.column", f"'{column}' has dtype {series.dtype}; expected a numeric target for regression"
            )
        if encoder_cls is not None and is_categorical(encoder_cls):
            raise QCError(
                "data.target.encoder",
                f"{spec.encoder.sklearn} encodes classes; expected a scaler such as StandardScaler or PowerTransformer for regression",
            )
    else:
        if encoder_cls is not None and (
            not is_categorical(encoder_cls) or issubclass(encoder_cls, MultiLabelBinarizer)
        ):
            raise QCError(
                "data.target.encoder",
                f"{spec.encoder.sklearn} does not encode classes; expected {CLASS_ENCODERS} for {analysis_type}",
            )
        count = series.nunique()
        if analysis_type == "classification_binary" and count != 2:
            raise QCError(
                "data.target.column",
                f"'{column}' has {count} class{'es' if count != 1 else ''}; expected exactly 2 for classification_binary",
            )
        if count < 2:
            raise QCError(
                "data.target.column", f"'{column}' has {count} class; expected at least 2 for {analysis_type}"
            )
    if spec.interpolater is not None:
        require_float(series.to_frame().dtypes, "data.target.interpolater")
    elif series.isna().any():
        raise QCError(
            "data.target.column",
            f"'{column}' has {series.isna().sum()} missing value(s); expected none: drop those rows or set data.target.interpolater (float targets)",
        )
