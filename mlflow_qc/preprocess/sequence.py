"""A sequence input: samples x timesteps x channels (a 3-D ``.npy``/``.npz``).

Encoders are fit per channel over all timesteps of the training samples; interpolaters fill
each sample's gaps along its own time axis (``DataFrame.interpolate`` on every channel of
every sample at once), which looks at no other sample and so cannot leak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError, one_line
from mlflow_qc.preprocess.arrays import ArrayInput
from mlflow_qc.preprocess.filters import claim_columns
from mlflow_qc.recipe import Input


class SequenceInput(ArrayInput):
    kind = "sequence"
    channel_axis = -1

    def __init__(self, spec: Input, dataset: Dataset, where: str, target_column: str | None):
        super().__init__(spec, dataset, where, target_column)
        dtypes = pd.Series({name: np.dtype(np.float64) for name in self.channels}, dtype=object)
        claims = claim_columns(spec.interpolaters, dtypes, f"{where}.interpolaters")
        self.interpolation = [
            (channels, spec.interpolaters[i].kwargs, f"{where}.interpolaters[{i}]") for i, channels in enumerate(claims)
        ]

    def prepared(self, samples: np.ndarray, where: str) -> np.ndarray:
        samples = samples.astype(np.float64)
        for channels, kwargs, here in self.interpolation:
            positions = [self.channels.index(name) for name in channels]
            block = samples[:, :, positions]  # samples x timesteps x claimed channels
            series = pd.DataFrame(np.moveaxis(block, 1, 0).reshape(block.shape[1], -1))  # timesteps x (sample, channel)
            try:
                filled = series.interpolate(**kwargs).to_numpy()
            except (ValueError, TypeError, ImportError) as exc:
                raise QCError(
                    here, f"cannot interpolate {channels} along time with {kwargs}: {one_line(exc)}"
                ) from None
            samples[:, :, positions] = np.moveaxis(filled.reshape(block.shape[1], block.shape[0], -1), 0, 1)
        return samples
