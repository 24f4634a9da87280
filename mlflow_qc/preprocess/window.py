"""Windows (AIQC's Window): the samples are windows of ``size_window`` consecutive time steps (rows
of a table, frames of images); without a target, a window's label is the ``size_shift`` steps
that follow it, in the input's own columns (self-supervised forecasting).

The encoders are fit on the time steps the training windows cover, and only those; each split's
windows are then cut from its own encoded steps. A forecast comes back to the original scale by
inverting the encoders, so they must be invertible scalers.
"""

from __future__ import annotations

import numpy as np

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.feature_input import FeatureInput


def covered_steps(starts: np.ndarray, span: int) -> np.ndarray:
    """Every time step some window of ``starts`` covers, sorted."""
    if not len(starts):
        return np.array([], dtype=np.int64)
    return np.unique((np.asarray(starts)[:, None] + np.arange(span)).ravel())


class WindowedInput(FeatureInput):
    """Wraps the input of one time step (``inner``: a table's row, an image frame)."""

    def __init__(self, inner: FeatureInput, size_window: int, size_shift: int, where: str, reshape_indices):
        if inner.kind == "sequence":
            raise QCError(
                f"{where}.window", "sequence samples are windows already; expected a table or images of time steps"
            )
        super().__init__(where, reshape_indices)
        self.inner = inner
        self.kind = inner.kind
        self.size_window, self.size_shift = size_window, size_shift
        self.raw_columns, self.raw_dtypes, self.raw_shape = inner.raw_columns, inner.raw_dtypes, inner.raw_shape
        self.color = getattr(inner, "color", None)

    @property
    def span(self) -> int:
        return self.size_window + self.size_shift

    def check_invertible(self) -> None:
        for index, encoder in enumerate(self.inner.encoders):
            if not encoder.invertible:
                raise QCError(
                    f"{self.where}.encoders[{index}]",
                    f"{encoder.spec.sklearn} cannot be inverted, and a forecast must come "
                    "back to the original scale; expected a scaler such as StandardScaler",
                )

    def fit_windows(self, dataset: Dataset, rows: dict[str, np.ndarray]) -> tuple[dict, dict]:
        """(features, shifted steps) per split: ``rows`` are window starts; the encoders see the
        training windows' steps only."""
        steps = {split: covered_steps(starts, self.span) for split, starts in rows.items()}
        encoded = self.inner._fit_transform(dataset, steps)
        self.feature_names = self.inner.feature_names
        features, shifted = {}, {}
        for split, starts in rows.items():
            first = np.searchsorted(steps[split], starts)  # the split's steps are consecutive inside each window
            features[split] = self._shaped(encoded[split][first[:, None] + np.arange(self.size_window)])
            shifted[split] = encoded[split][first[:, None] + self.size_window + np.arange(self.size_shift)]
        return features, shifted

    def _fit_transform(self, dataset: Dataset, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError("use fit_windows")

    def fit_transform(self, dataset: Dataset, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.fit_windows(dataset, rows)[0]

    def transform(self, raw, where: str) -> np.ndarray:
        """One window of raw steps (``size_window`` rows or frames) -> the features of one sample."""
        if len(raw) != self.size_window:
            unit = "rows" if self.kind == "tabular" else "frames"
            raise QCError(
                where, f"{len(raw)} {unit}; expected {self.size_window} {unit}: one window of size_window time steps"
            )
        return self._shaped(self.inner._transform(raw, where)[None])

    def windows(self, raw, where: str) -> np.ndarray:
        """Every window of a longer series of raw steps (start 0, 1, ...), as features."""
        if len(raw) < self.size_window:
            raise QCError(where, f"{len(raw)} time steps; expected at least {self.size_window}, one window")
        encoded = self.inner._transform(raw, where)
        starts = np.arange(len(raw) - self.size_window + 1)
        return self._shaped(encoded[starts[:, None] + np.arange(self.size_window)])

    def encode_steps(self, raw, where: str) -> np.ndarray:
        return self.inner._transform(raw, where)

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded steps (..., one step's encoded shape) -> the original scale, same leading axes."""
        step = (encoded.shape[-1],) if self.kind == "tabular" else encoded.shape[-3:]
        raw = self.inner.inverse(encoded.reshape(-1, *step))
        return raw.reshape(*encoded.shape[: encoded.ndim - len(step)], *raw.shape[1:])

    def raw_example(self, dataset: Dataset, rows: np.ndarray):
        """One window of raw steps: the first training window's."""
        start = int(rows[0])
        steps = np.arange(start, start + self.size_window)
        return self.inner.raw_example(dataset, steps)


class ShiftedTarget:
    """The label of a window without a target: its next ``size_shift`` steps, in the input's columns."""

    column = None
    classes = None
    categories = None
    classification = False

    def __init__(self, windowed: WindowedInput):
        windowed.check_invertible()
        self.windowed = windowed

    @property
    def columns(self) -> list[str]:
        return self.windowed.raw_columns or [f"channel_{k}" for k in range(len(self.windowed.inner.channels))]

    def decode(self, encoded) -> np.ndarray:
        """(windows, size_shift, encoded step) -> (windows, size_shift, raw step) on the original scale."""
        return self.windowed.inverse(np.asarray(encoded, dtype=np.float64))

    def encode(self, values) -> np.ndarray:
        return self.windowed.encode_steps(values, "target")

    def class_index(self, encoded):
        raise QCError("data.target", "a forecast has no classes; expected a classification target")
