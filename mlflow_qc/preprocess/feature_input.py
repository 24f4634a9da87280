"""What every kind of input (tabular, sequence, image) offers the pipeline, the cache and serving.

A kind is one module with one subclass: it checks its recipe section against the dataset
(no fitting), fits on a context's training samples and prepares every split, transforms new
raw samples (serving), and says what a raw sample looks like (the served model's signature).
``reshape_indices`` is applied last, whatever the kind.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlflow_qc.preprocess.reshape import Reshape


class FeatureInput:
    kind: ClassVar[str]
    # Defaults on the class: a pipeline pickled before these attributes existed still loads.
    reshape: Reshape | None = None
    raw_columns: list[str] = []
    raw_dtypes: dict[str, str] = {}
    raw_shape: tuple[int, ...] | None = None  # one raw sample of an N-D input

    def __init__(self, where: str, reshape_indices):
        self.where = where
        self.reshape = Reshape(reshape_indices, where) if reshape_indices is not None else None
        self.feature_names: list[str] = []

    def fit_transform(self, dataset, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Fit on ``rows["train"]`` of ``dataset``; every split's features in ``rows`` order."""
        return {split: self._shaped(features) for split, features in self._fit_transform(dataset, rows).items()}

    def transform(self, raw, where: str) -> np.ndarray:
        """New raw samples (inference): a DataFrame for tables, an array for N-D inputs."""
        return self._shaped(self._transform(raw, where))

    def raw_example(self, dataset, rows: np.ndarray):
        """A few raw samples as the served model receives them."""
        raise NotImplementedError

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded values (before any reshape) back on the original scale: a forecast of this input's own values."""
        raise NotImplementedError

    def _shaped(self, features: np.ndarray) -> np.ndarray:
        return features if self.reshape is None else self.reshape.apply(features)

    def _fit_transform(self, dataset, rows):
        raise NotImplementedError

    def _transform(self, raw, where: str) -> np.ndarray:
        raise NotImplementedError
