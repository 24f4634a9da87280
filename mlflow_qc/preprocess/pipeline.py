"""FittedPipeline: the preprocessing of one context, fitted on its training rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.checks import target_dataset_of, validate
from mlflow_qc.preprocess.feature_input import FeatureInput
from mlflow_qc.preprocess.target import TargetColumn
from mlflow_qc.preprocess.window import ShiftedTarget
from mlflow_qc.recipe import Pipeline


@dataclass
class PreparedSplit:
    features: list[np.ndarray]  # float64, one per input
    label: np.ndarray | None  # 2-D; None without a target


class FittedPipeline:
    """Picklable: it is cached on disk and travels inside the served model."""

    def __init__(self, inputs: list[FeatureInput], target: TargetColumn | None):
        self.inputs = inputs
        self.target = target

    @classmethod
    def fit_transform(
        cls,
        spec: Pipeline,
        datasets: list[Dataset],
        target_dataset: Dataset | None,
        rows: dict[str, np.ndarray],
        analysis_type: str | None,
    ) -> tuple[FittedPipeline, dict[str, PreparedSplit]]:
        """Fit on ``rows["train"]`` (a target's class list on all rows) and prepare every split in ``rows``.

        ``rows`` maps a split name to 0-based row positions; each split's arrays follow that order.
        """
        inputs, target = validate(spec, datasets, target_dataset, analysis_type)
        rows = {split: np.asarray(positions, dtype=np.int64) for split, positions in rows.items()}
        labels = None
        if spec.window is None:
            features = [item.fit_transform(dataset, rows) for item, dataset in zip(inputs, datasets)]
        else:  # the samples are windows: ``rows`` hold their first time steps
            windowed = [item.fit_windows(dataset, rows) for item, dataset in zip(inputs, datasets)]
            features = [item_features for item_features, _ in windowed]
            if isinstance(target, ShiftedTarget):
                labels = windowed[0][1]
        if isinstance(target, TargetColumn):
            label_rows = (
                rows
                if spec.window is None
                else {split: starts + spec.window.size_window - 1 for split, starts in rows.items()}
            )
            labels = target.fit_transform(target_dataset_of(spec, datasets, target_dataset).frame, label_rows)
        arrays = {
            split: PreparedSplit(
                [per_input[split] for per_input in features], None if labels is None else labels[split]
            )
            for split in rows
        }
        return cls(inputs, target), arrays

    @property
    def feature_names(self) -> list[list[str]]:
        return [item.feature_names for item in self.inputs]

    @property
    def raw_columns(self) -> list[list[str]]:
        return [item.raw_columns for item in self.inputs]

    @property
    def raw_dtypes(self) -> list[dict[str, str]]:
        return [item.raw_dtypes for item in self.inputs]

    @property
    def label_name(self) -> str | None:
        return None if self.target is None else self.target.column

    @property
    def classes(self) -> list | None:
        return None if self.target is None else self.target.classes

    @property
    def windows(self) -> list[tuple[int, int] | None]:
        return [(item.size_window, item.size_shift) if hasattr(item, "size_window") else None for item in self.inputs]

    @property
    def forecast_columns(self) -> list[str] | None:
        """The columns (or channels) a forecaster predicts; None for other models."""
        return self.target.columns if isinstance(self.target, ShiftedTarget) else None

    @property
    def kinds(self) -> list[str]:
        return [item.kind for item in self.inputs]

    @property
    def raw_shapes(self) -> list[tuple[int, ...] | None]:
        return [item.raw_shape for item in self.inputs]

    def transform(self, raws: list) -> list[np.ndarray]:
        """New raw samples, one per input (inference): a DataFrame for a table, an array for N-D data."""
        if len(raws) != len(self.inputs):
            raise QCError("input", f"{len(raws)} inputs; expected one per input ({len(self.inputs)})")
        return [item.transform(raw, f"inputs[{index}]") for index, (item, raw) in enumerate(zip(self.inputs, raws))]

    def encode_target(self, values) -> np.ndarray:
        return self._require_target().encode(values)

    def decode_target(self, encoded) -> np.ndarray:
        return self._require_target().decode(encoded)

    def class_index(self, encoded) -> np.ndarray:
        return self._require_target().class_index(encoded)

    def _require_target(self) -> TargetColumn | ShiftedTarget:
        if self.target is None:
            raise QCError("data.target", "this pipeline has no target; expected a recipe with data.target")
        return self.target
