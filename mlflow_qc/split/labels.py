"""What a random split is stratified by: the classes, or quantile bins of a continuous target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.errors import QCError

DEFAULT_BIN_COUNT = 3


def stratification_labels(
    target: pd.Series | None, classification: bool | None, bin_count: int | None
) -> np.ndarray | None:
    if target is None:
        return None
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    continuous = pd.api.types.is_float_dtype(target) if classification is None else not classification
    if bin_count is not None and not numeric:
        raise QCError(
            "data.stratifier.bin_count", f"target '{target.name}' is {target.dtype}, not numeric; expected no bin_count"
        )
    if continuous or (bin_count is not None and not classification):
        bins = pd.qcut(target, q=bin_count or DEFAULT_BIN_COUNT, labels=False, duplicates="drop")
        return bins.fillna(-1).to_numpy(dtype=np.int64)
    return target.astype(str).to_numpy()
