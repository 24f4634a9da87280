"""AIQC's Shape: the features of an input reshaped last, by ``reshape_indices``.

Each entry builds one dimension of the new shape from the current one (samples first):
an integer ``n`` takes ``shape[n]``, a string is a literal size (``"1"`` adds an axis of 1),
a list of integers takes the product of those dimensions (``[1, 2]`` merges them). The
samples stay first: index 0 comes first and alone. E.g. images (n, 1, 160, 120) with
``[0, 2, 3]`` become (n, 160, 120); a table (n, 30) with ``[0, 1, "1"]`` becomes (n, 30, 1).
"""

from __future__ import annotations

import math

import numpy as np

from mlflow_qc.errors import QCError


class Reshape:
    def __init__(self, indices: list, where: str):
        self.indices = list(indices)
        self.where = f"{where}.reshape_indices"
        if not self.indices or self.indices[0] != 0:
            raise QCError(self.where, f"{self.indices}; expected 0 first: the samples stay the first dimension")
        for entry in self.indices[1:]:
            if isinstance(entry, str):
                if not entry.isdigit() or int(entry) < 1:
                    raise QCError(
                        self.where,
                        f"'{entry}' is not a literal size; expected a positive whole number as text, e.g. \"1\"",
                    )
            elif isinstance(entry, list):
                if not entry or 0 in entry or not all(isinstance(i, int) and not isinstance(i, bool) for i in entry):
                    raise QCError(self.where, f"{entry}: expected a list of dimension indices other than 0 to multiply")
            elif isinstance(entry, bool) or not isinstance(entry, int) or entry == 0:
                raise QCError(
                    self.where,
                    f"{entry!r}: expected a dimension index above 0, a literal size as text, or a list of indices",
                )

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The new shape of an array of ``shape`` (samples first); QCError when it does not fit."""

        def size(entry):
            if isinstance(entry, str):
                return int(entry)
            positions = entry if isinstance(entry, list) else [entry]
            bad = [i for i in positions if i >= len(shape) or i < 0]
            if bad:
                raise QCError(
                    self.where,
                    f"index {bad[0]} for features of shape {tuple(shape)}; expected indices below {len(shape)}",
                )
            return math.prod(shape[i] for i in positions)

        new = (shape[0], *(size(entry) for entry in self.indices[1:]))
        if math.prod(new) != math.prod(shape):
            raise QCError(
                self.where,
                f"{self.indices} turns features of shape {tuple(shape)} into {new}: "
                f"{math.prod(new[1:])} values per sample instead of {math.prod(shape[1:])}; expected the same number",
            )
        return new

    def apply(self, features: np.ndarray) -> np.ndarray:
        return features.reshape(self.shape(features.shape))
