"""Every check that needs no fitting, so recipe and data problems surface before any MLflow run."""

from __future__ import annotations

from mlflow_qc.data.dataset import Dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.feature_input import FeatureInput
from mlflow_qc.preprocess.kinds import input_of
from mlflow_qc.preprocess.target import TargetColumn
from mlflow_qc.preprocess.window import ShiftedTarget
from mlflow_qc.recipe import DatasetSpec, Pipeline


def same_source(a: DatasetSpec, b: DatasetSpec) -> bool:
    return a is b or (a.path is not None and a.path == b.path) or (a.frame is not None and a.frame is b.frame)


def target_dataset_of(spec: Pipeline, datasets: list[Dataset], target_dataset: Dataset | None) -> Dataset | None:
    """The target's dataset: the one given, else the input dataset it names (``null``: the first input's)."""
    if spec.target is None:
        return None
    if target_dataset is not None:
        return target_dataset
    wanted = spec.target_dataset()
    for item, dataset in zip(spec.inputs, datasets):
        if same_source(item.dataset, wanted):
            return dataset
    raise ValueError("data.target.dataset is not among the inputs' datasets; pass target_dataset")


def validate(
    spec: Pipeline, datasets: list[Dataset], target_dataset: Dataset | None, analysis_type: str | None
) -> tuple[list[FeatureInput], TargetColumn | ShiftedTarget | None]:
    """Raises the first QCError; returns the unfitted per-input transformers and target."""
    if len(datasets) != len(spec.inputs):
        raise ValueError(f"{len(datasets)} datasets for {len(spec.inputs)} inputs")
    target_dataset = target_dataset_of(spec, datasets, target_dataset)
    expected = datasets[0].n_samples
    named = [(f"data.inputs[{index}].dataset", dataset) for index, dataset in enumerate(datasets)]
    for where, dataset in named + ([("data.target.dataset", target_dataset)] if target_dataset else []):
        if dataset.n_samples != expected:
            raise QCError(
                where,
                f"{dataset.n_samples} samples, but data.inputs[0] has {expected}; expected the same number of samples",
            )
    if analysis_type == "forecasting" and (spec.window is None or spec.target is not None):
        raise QCError(
            "model.analysis_type",
            "forecasting learns the steps that follow a window; expected data.inputs[0].window and no data.target",
        )
    target = TargetColumn(spec.target, target_dataset, analysis_type) if spec.target else None
    inputs = []
    for index, (item, dataset) in enumerate(zip(spec.inputs, datasets)):
        shares_target = target is not None and (
            dataset is target_dataset or same_source(item.dataset, spec.target_dataset())
        )
        inputs.append(input_of(item, dataset, f"data.inputs[{index}]", spec.target.column if shares_target else None))
    if spec.window is not None and target is None:
        if analysis_type not in (None, "forecasting"):
            raise QCError(
                "model.analysis_type",
                f"{analysis_type} needs a target; windows without one forecast their next "
                "steps: expected forecasting, or a data.target",
            )
        target = ShiftedTarget(inputs[0])
    if spec.stratifier.group_column is not None:
        group_table = target_dataset or datasets[0]
        group_table.require_columns([spec.stratifier.group_column], "data.stratifier.group_column")
    return inputs, target
