"""Resolving, building and fitting sklearn-style encoders on the columns they claimed."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.preprocessing import LabelBinarizer, LabelEncoder, MultiLabelBinarizer, OneHotEncoder, OrdinalEncoder

from mlflow_qc.classes import resolve_encoder_class
from mlflow_qc.errors import QCError, one_line
from mlflow_qc.recipe import Encoder

CATEGORICAL = (OneHotEncoder, OrdinalEncoder, LabelBinarizer, LabelEncoder, MultiLabelBinarizer)
TEXT = (CountVectorizer, HashingVectorizer, TfidfVectorizer)  # one text column each, as 1-D strings
ONE_DIMENSIONAL = (LabelBinarizer, LabelEncoder, MultiLabelBinarizer, *TEXT)
CLOSED = (LabelBinarizer, LabelEncoder)  # no way to encode a category their training rows lacked
UNSEEN_HINT = "expected a category of the training rows, or OneHotEncoder (an unseen category -> all zeros) or OrdinalEncoder (-> -1)"


def is_categorical(cls: type) -> bool:
    """Encoders of categories (classes): a target's learn them from every row, a feature's from the training rows."""
    return issubclass(cls, CATEGORICAL)


def one_hot_name(column, category) -> str:
    return f"{column}={category}"


def build_encoder(spec: Encoder, features: bool = True):
    """An unfitted encoder with dense output and ``column=value`` one-hot names unless the user chose otherwise.

    A feature encoder learns its categories from the training rows, so other rows (a held-out fold, the
    test split, a served request) may hold one it never saw: unless the recipe says otherwise, OneHotEncoder
    encodes it as its infrequent category when ``min_frequency`` / ``max_categories`` made one, else as all
    zeros, and OrdinalEncoder as -1. A target's encoder keeps sklearn's refusal (it knows every class).
    """
    cls = resolve_encoder_class(spec.sklearn)
    params = dict(spec.params)
    accepted = inspect.signature(cls).parameters
    if "sparse_output" in accepted:
        params.setdefault("sparse_output", False)
    if "feature_name_combiner" in accepted:
        params.setdefault("feature_name_combiner", one_hot_name)
    if features and issubclass(cls, OneHotEncoder):
        params.setdefault("handle_unknown", "infrequent_if_exist")
    if features and issubclass(cls, OrdinalEncoder):
        params.setdefault("handle_unknown", "use_encoded_value")
        if params["handle_unknown"] == "use_encoded_value":
            params.setdefault("unknown_value", -1)
    return cls(**params)


FEATURE_MEMORY_ENV = "MLFLOW_QC_FEATURE_MEMORY"
FEATURE_MEMORY_CAP = 8 * 2**30


def feature_memory_limit() -> int:
    """Bytes one categorical encoder's dense features may take: a quarter of this machine's
    memory, at most 8 GiB, unless MLFLOW_QC_FEATURE_MEMORY (bytes) says otherwise."""
    if os.environ.get(FEATURE_MEMORY_ENV):
        return int(os.environ[FEATURE_MEMORY_ENV])
    import psutil  # fitting only: a served model (serve/bundle.py) pins no psutil

    return min(psutil.virtual_memory().total // 4, FEATURE_MEMORY_CAP)


def dense(values) -> np.ndarray:
    values = values.toarray() if sparse.issparse(values) else np.asarray(values)
    return values.reshape(len(values), -1)


class ColumnEncoder:
    """One encoder spec on the columns it claimed; 1-D encoders are fit one per column.

    ``features``: a feature encoder (unseen categories handled, see ``build_encoder``); False for a target's.
    """

    def __init__(self, spec: Encoder, columns: list[str], where: str, features: bool = True):
        self.spec = spec
        self.columns = columns
        self.where = where
        cls = resolve_encoder_class(spec.sklearn)
        self.categorical = is_categorical(cls)
        self.one_dimensional = issubclass(cls, ONE_DIMENSIONAL)
        self.closed = issubclass(cls, CLOSED)
        self.features = features
        self.fitted: list = []
        self.names: list[str] = []

    def fit(self, frame: pd.DataFrame, total_rows: int | None = None) -> ColumnEncoder:
        """Learn from ``frame`` alone (a context's training rows; a target's every row); ``total_rows``:
        how many rows the encoded features will have in all (the memory check of a categorical encoder)."""
        try:
            if self.one_dimensional:
                self.fitted = [
                    build_encoder(self.spec, self.features).fit(frame[column].to_numpy()) for column in self.columns
                ]
            else:
                self.fitted = [build_encoder(self.spec, self.features).fit(frame[self.columns])]
            self.names = self._names(frame.iloc[:1])
        except (ValueError, TypeError) as exc:
            raise QCError(self.where, f"cannot fit {self.spec.sklearn} on {self.columns}: {one_line(exc)}") from None
        if self.categorical:
            self._check_width(total_rows or len(frame))
        return self

    def _check_width(self, rows: int) -> None:
        """A column of (nearly) one category per row, one-hot encoded, would not fit in memory."""
        needed = rows * len(self.names) * np.dtype(np.float64).itemsize
        if needed <= feature_memory_limit():
            return
        counts = {column: len(categories) for column, categories in zip(self.columns, self._categories_per_column())}
        widest = max(counts, key=counts.get) if counts else self.columns[0]
        raise QCError(
            self.where,
            f"{self.spec.sklearn} makes {len(self.names)} feature columns for {rows} rows ({needed / 2**30:.1f} GiB; "
            f"column '{widest}' has {counts.get(widest, '?')} categories), over the {feature_memory_limit() / 2**30:.1f} GiB "
            f"allowed ({FEATURE_MEMORY_ENV}); expected fewer categories: exclude identifier-like columns, or set min_frequency / max_categories",
        )

    def _categories_per_column(self) -> list:
        if self.one_dimensional:
            return [getattr(encoder, "classes_", []) for encoder in self.fitted]
        return list(getattr(self.fitted[0], "categories_", []))

    def transform(self, frame: pd.DataFrame, rows: str = "the rows") -> np.ndarray:
        """Encoded columns; ``rows`` names what is encoded in a message (``split 'test'``, ``the new rows``)."""
        if getattr(self, "closed", False):
            self._refuse_unseen(frame, rows)
        try:
            with warnings.catch_warnings():  # an unseen category encoded as documented (build_encoder) is no surprise
                warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
                if self.one_dimensional:
                    blocks = [
                        dense(encoder.transform(frame[column].to_numpy()))
                        for encoder, column in zip(self.fitted, self.columns)
                    ]
                else:
                    blocks = [dense(self.fitted[0].transform(frame[self.columns]))]
            return np.hstack(blocks).astype(np.float64)
        except (ValueError, TypeError) as exc:
            unseen = "unknown categor" in str(exc) or "unseen label" in str(exc)
            hint = (
                f"; {rows} hold a category the training rows lack: {UNSEEN_HINT}, or handle_unknown: ignore"
                if unseen
                else ""
            )
            raise QCError(
                self.where, f"cannot encode {self.columns} with {self.spec.sklearn}: {one_line(exc)}{hint}"
            ) from None

    def _refuse_unseen(self, frame: pd.DataFrame, rows: str) -> None:
        """LabelEncoder refuses an unseen category, LabelBinarizer would change its width: say which, and where."""
        for encoder, column in zip(self.fitted, self.columns):
            values = pd.unique(frame[column].to_numpy())
            unseen = values[~pd.Series(values).isin(encoder.classes_).to_numpy()]
            if len(unseen):
                raise QCError(
                    self.where,
                    f"column '{column}' of {rows} has the categor{'ies' if len(unseen) > 1 else 'y'} "
                    f"{unseen[:5].tolist()}, which its training rows lack ({self.spec.sklearn}); {UNSEEN_HINT}",
                )

    def inverse_transform(self, encoded: np.ndarray) -> np.ndarray:
        """The original values of a single-column, two-dimensional encoder (a regression target), 1-D."""
        return dense(self.fitted[0].inverse_transform(encoded))[:, 0]

    @property
    def invertible(self) -> bool:
        """Whether encoded values (a forecast) can be brought back to the original scale."""
        return not (self.categorical or self.one_dimensional) and hasattr(
            resolve_encoder_class(self.spec.sklearn), "inverse_transform"
        )

    def inverse(self, block: np.ndarray) -> np.ndarray:
        """(n, its encoded columns) -> (n, its claimed columns) on the original scale."""
        return dense(self.fitted[0].inverse_transform(block)).astype(np.float64)

    @property
    def categories(self) -> np.ndarray:
        """The categories of a single-column categorical encoder, in encoded order."""
        encoder = self.fitted[0]
        return encoder.categories_[0] if hasattr(encoder, "categories_") else encoder.classes_

    def _names(self, sample: pd.DataFrame) -> list[str]:
        if self.one_dimensional:
            return [
                name
                for encoder, column in zip(self.fitted, self.columns)
                for name in _one_dimensional_names(encoder, column)
            ]
        try:
            return [str(name) for name in self.fitted[0].get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):
            width = self.transform(sample).shape[1]
            return (
                list(self.columns) if width == len(self.columns) else [f"{self.spec.sklearn}_{k}" for k in range(width)]
            )


def _one_dimensional_names(encoder, column: str) -> list[str]:
    if isinstance(encoder, LabelEncoder):
        return [column]
    if isinstance(encoder, TEXT):  # a word (or n-gram, or hashed bucket) per column
        if isinstance(encoder, HashingVectorizer):
            return [one_hot_name(column, f"hash_{k}") for k in range(encoder.n_features)]
        return [one_hot_name(column, term) for term in encoder.get_feature_names_out()]
    classes = encoder.classes_
    if isinstance(encoder, LabelBinarizer) and len(classes) == 2:
        return [one_hot_name(column, classes[1])]
    return [one_hot_name(column, value) for value in classes]


def invert_blocks(
    encoders: list[ColumnEncoder], passthrough: list[str], columns: list[str], encoded: np.ndarray
) -> np.ndarray:
    """Encoded columns (each encoder's block in order, then the unclaimed columns) -> every column
    of ``columns`` on its original scale, in that order."""
    raw = np.empty((len(encoded), len(columns)))
    start = 0
    for encoder in encoders:
        width = len(encoder.names)
        raw[:, [columns.index(c) for c in encoder.columns]] = encoder.inverse(encoded[:, start : start + width])
        start += width
    raw[:, [columns.index(c) for c in passthrough]] = encoded[:, start:]
    return raw
