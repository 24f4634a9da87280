"""What N-D inputs (sequences, images) share: encoders fit per channel over every position of the
training samples (all timesteps, all pixels), channels named ``channel_K``, raw samples checked.

The claimed channels become the columns of a (samples x positions, channels) table, so the
encoders are the same ``ColumnEncoder`` tables use, and learn from the context's training samples only.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.encoders import ColumnEncoder, invert_blocks
from mlflow_qc.preprocess.feature_input import FeatureInput
from mlflow_qc.preprocess.filters import claim_columns
from mlflow_qc.recipe import Input

MISSING_HINT = (
    "expected none: interpolate them (sequences) or impute them with an encoder such as sklearn.impute.SimpleImputer"
)


def channel_names(count: int) -> list[str]:
    return [f"channel_{k}" for k in range(count)]


class ArrayInput(FeatureInput):
    channel_axis: ClassVar[int]  # of a raw sample batch: -1 (sequence), 1 (image)

    def __init__(self, spec: Input, dataset: Dataset, where: str, target_column: str | None):
        for key in ("include_columns", "exclude_columns"):
            if getattr(spec, key) is not None:
                raise QCError(f"{where}.{key}", f"{dataset.kind} samples have channels, not columns; expected no {key}")
        if spec.window is not None:
            raise QCError(f"{where}.window", "window is not supported yet; expected window: null")
        if dataset.array is None or dataset.kind != self.kind:
            raise QCError(
                f"{where}.dataset.kind", f"{dataset.kind} data for a {self.kind} input; expected {self.kind} samples"
            )
        super().__init__(where, spec.reshape_indices)
        self.raw_shape = tuple(dataset.array.shape[1:])
        self.raw_dtype = str(dataset.array.dtype)
        self.channels = channel_names(
            self.raw_shape[self.channel_axis - 1 if self.channel_axis > 0 else self.channel_axis]
        )
        dtypes = pd.Series({name: dataset.array.dtype for name in self.channels}, dtype=object)
        claims = claim_columns(spec.encoders, dtypes, f"{where}.encoders")
        self.encoders = [
            ColumnEncoder(spec.encoders[i], channels, f"{where}.encoders[{i}]") for i, channels in enumerate(claims)
        ]
        claimed = {name for channels in claims for name in channels}
        self.passthrough = [name for name in self.channels if name not in claimed]
        if self.reshape is not None:
            self.reshape.shape((dataset.n_samples, *self.raw_shape))  # checked again once encoders fixed the channels

    # --- what a kind adds --------------------------------------------------------------

    def prepared(self, samples: np.ndarray, where: str) -> np.ndarray:
        """Raw samples before the encoders (a sequence fills its gaps along time here)."""
        return samples.astype(np.float64)

    # --- the shared steps --------------------------------------------------------------

    def _table(self, samples: np.ndarray) -> pd.DataFrame:
        """(samples x positions, channels), channels named."""
        moved = np.moveaxis(samples, self.channel_axis, -1)
        return pd.DataFrame(moved.reshape(-1, moved.shape[-1]), columns=self.channels, copy=False)

    def _back(self, table: np.ndarray, count: int, positions: tuple[int, ...]) -> np.ndarray:
        """The encoded (samples x positions, channels) table as samples again, channels where they were."""
        features = table.reshape(count, *positions, table.shape[-1])
        return np.moveaxis(features, -1, self.channel_axis)

    def _fit_transform(self, dataset: Dataset, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        samples = self.prepared(np.asarray(dataset.array), f"{self.where}.dataset")
        training = self._table(samples[np.sort(rows["train"])])
        total = len(training) // max(len(rows["train"]), 1) * sum(len(positions) for positions in rows.values())
        for encoder in self.encoders:
            encoder.fit(training, total)
        self.feature_names = [name for encoder in self.encoders for name in encoder.names] + self.passthrough
        return {
            split: self._encode(samples[positions], self.where, f"split '{split}'") for split, positions in rows.items()
        }

    def _transform(self, samples, where: str) -> np.ndarray:
        samples = self.check_samples(samples, where)
        return self._encode(self.prepared(samples, where), where, "the new samples")

    def check_samples(self, samples, where: str) -> np.ndarray:
        """New raw samples as numbers of the training samples' shape; QCError naming both shapes otherwise."""
        array = np.asarray(samples)
        if array.shape[1:] != self.raw_shape:
            raise QCError(
                where,
                f"samples of shape {tuple(array.shape[1:])}; expected {self.raw_shape} per sample "
                f"(a batch of shape (n, {', '.join(map(str, self.raw_shape))}))",
            )
        if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
            raise QCError(where, f"{array.dtype} values; expected numbers")
        if len(array) == 0:
            raise QCError(where, "no samples; expected at least one")
        return array

    def _encode(self, samples: np.ndarray, where: str, which: str) -> np.ndarray:
        moved = np.moveaxis(samples, self.channel_axis, -1).shape[1:-1]  # the positions of one sample's values
        table = self._table(samples)
        blocks = [encoder.transform(table, which) for encoder in self.encoders]
        blocks.append(table[self.passthrough].to_numpy(dtype=np.float64))
        encoded = np.hstack(blocks)
        missing = np.isnan(encoded).any(axis=0)
        if missing.any():
            name = self.feature_names[int(np.argmax(missing))]
            raise QCError(where, f"channel '{name}' has missing values in {which} after preprocessing; {MISSING_HINT}")
        return self._back(encoded, len(samples), moved)

    def inverse(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded samples -> raw channels on the original scale, each encoder's channels inverted."""
        positions = np.moveaxis(encoded, self.channel_axis, -1).shape[1:-1]
        raw = invert_blocks(self.encoders, self.passthrough, self.channels, self._table_of(encoded))
        return self._back(raw, len(encoded), positions)

    def _table_of(self, encoded: np.ndarray) -> np.ndarray:
        moved = np.moveaxis(encoded, self.channel_axis, -1)
        return moved.reshape(-1, moved.shape[-1])

    def raw_example(self, dataset: Dataset, rows: np.ndarray) -> np.ndarray:
        return np.asarray(dataset.array[rows], dtype=np.float64)
