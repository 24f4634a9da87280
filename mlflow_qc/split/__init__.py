"""Seeded splits: train / validation / test and k folds of the training split, in one of two orders.

- ``order: random`` (default): shuffled, stratified by class or by quantile bins of a continuous
  target (``bin_count``, default 3 as in AIQC); sizes are shares of the samples.
- ``order: time``: contiguous blocks, test last, validation before it, forward-chaining folds
  (scikit-learn's ``TimeSeriesSplit``); sizes are shares of the time steps (rows).
- ``group_column``: no group value in two splits or two folds (``GroupShuffleSplit``,
  ``StratifiedGroupKFold``/``GroupKFold``); sizes are then shares of the groups.
- Windows (forecasting): the samples are windows, cut inside each block, so that no time step
  belongs to windows of two splits, nor to a fold's train and validation parts.
"""

from mlflow_qc.split.labels import stratification_labels
from mlflow_qc.split.make import make_splits
from mlflow_qc.split.splits import REFIT_CONTEXT, SPLIT_ORDER, Splits, declared_splits, refit_rows

__all__ = [
    "REFIT_CONTEXT",
    "SPLIT_ORDER",
    "Splits",
    "declared_splits",
    "make_splits",
    "refit_rows",
    "stratification_labels",
]
