"""The kinds of input, one module each: ``kind`` -> the class that checks, fits and transforms it."""

from __future__ import annotations

from mlflow_qc.preprocess.feature_input import FeatureInput
from mlflow_qc.preprocess.image import ImageInput
from mlflow_qc.preprocess.sequence import SequenceInput
from mlflow_qc.preprocess.tabular import TabularInput
from mlflow_qc.preprocess.window import WindowedInput

INPUT_KINDS: dict[str, type[FeatureInput]] = {kind.kind: kind for kind in (TabularInput, SequenceInput, ImageInput)}


def input_of(spec, dataset, where: str, target_column: str | None) -> FeatureInput:
    """The unfitted input for a recipe's ``data.inputs[i]`` and its dataset (windows of its steps when it has one)."""
    if spec.window is None:
        return INPUT_KINDS[dataset.kind](spec, dataset, where, target_column)
    step = spec.model_copy(update={"window": None, "reshape_indices": None})
    inner = INPUT_KINDS[dataset.kind](step, dataset, where, target_column)
    return WindowedInput(inner, spec.window.size_window, spec.window.size_shift, where, spec.reshape_indices)
