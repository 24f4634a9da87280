"""The recipe's data section (README: "The recipe", ``data:``): datasets, inputs and their
preprocessing, the target, windows and the stratifier, and the ``Spec`` base every section shares.

``mlflow_qc.recipe`` builds the whole recipe on these and re-exports them.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from mlflow_qc.classes import resolve_encoder_class
from mlflow_qc.errors import one_line

AnalysisType = Literal["classification_binary", "classification_multi", "regression", "forecasting"]
DATASET_KINDS = ("tabular", "sequence", "image")


CLASSES = "classes"  # validation context: False leaves encoder and estimator classes unchecked (recipe.load_recipe)


def classes_checked(info: ValidationInfo) -> bool:
    return (info.context or {}).get(CLASSES, True)


def resolve_path(path: str | None, info: ValidationInfo) -> str | None:
    if path is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = os.path.expanduser(str(path))
    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(os.path.abspath(path))


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_assignment=True)


class DatasetSpec(Spec):
    """Where a dataset comes from and how to read it."""

    path: str | None = None
    kind: Literal["tabular", "sequence", "image"] | None = None
    header: Literal["infer"] | int | None = "infer"
    rename_columns: list[str] | None = None
    retype: str | dict[str, str] | None = None
    image_column: str | None = None  # image manifest: the column of image paths (relative to the manifest)
    color: Literal["L", "RGB"] | None = None  # images: Pillow mode; default L when every image is grayscale, else RGB
    frame: Any = Field(default=None, exclude=True, repr=False)  # a DataFrame (or an N-D array) handed over in Python

    @field_validator("path")
    @classmethod
    def _absolute(cls, path, info: ValidationInfo):
        return resolve_path(path, info)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.frame is None):
            raise ValueError("expected exactly one of a file path or a DataFrame")
        if self.image_column is not None and self.kind not in (None, "image"):
            raise ValueError(f"image_column is for image manifests; expected kind: image, not {self.kind}")
        return self

    @property
    def label(self) -> str:
        return self.path if self.path is not None else "<DataFrame>"


def _dataset_shorthand(value):
    """Accept a path or a DataFrame wherever a dataset spec is expected."""
    if isinstance(value, (str, os.PathLike)):
        return {"path": str(value)}
    if value is not None and type(value).__name__ in ("DataFrame", "ndarray"):
        return {"frame": value}
    return value


class ColumnFilter(Spec):
    """Selects columns by name and/or dtype; ``include: false`` selects the rest."""

    columns: list[str] | None = None
    dtypes: list[str] | None = None
    include: bool = True


class Encoder(Spec):
    """An sklearn-style transformer: a class in sklearn.preprocessing or a dotted path."""

    sklearn: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sklearn")
    @classmethod
    def _known_class(cls, name, info: ValidationInfo):
        if classes_checked(info):
            resolve_encoder_class(name)  # raises ValueError naming the class
        return name

    @model_validator(mode="after")
    def _constructible(self, info: ValidationInfo):
        if not classes_checked(info):
            return self
        cls = resolve_encoder_class(self.sklearn)
        try:
            cls(**self.params)
        except TypeError as exc:
            raise ValueError(f"params {self.params} do not fit {cls.__name__}: {one_line(exc)}") from None
        return self


class FeatureEncoder(Encoder, ColumnFilter):
    pass


_INTERPOLATE_KWARGS = {"limit", "limit_direction", "limit_area", "order"}


class Interpolation(Spec):
    """``DataFrame.interpolate`` settings; extra keys are its keyword arguments."""

    model_config = ConfigDict(extra="allow")
    method: str = "linear"

    @model_validator(mode="after")
    def _known_kwargs(self):
        unknown = set(self.model_extra or {}) - _INTERPOLATE_KWARGS
        if unknown:
            raise ValueError(
                f"unknown interpolation argument(s) {sorted(unknown)}; expected method or one of {sorted(_INTERPOLATE_KWARGS)}"
            )
        if self.method == "polynomial":
            raise ValueError("method 'polynomial' does not fill leading/trailing gaps; use 'spline' or 'linear'")
        return self

    @property
    def kwargs(self) -> dict:
        return {"method": self.method, "limit_direction": "both", **(self.model_extra or {})}


class Interpolater(Interpolation, ColumnFilter):
    model_config = ConfigDict(extra="allow")


class Window(Spec):
    size_window: int = Field(gt=0)
    size_shift: int = Field(gt=0)


class Input(Spec):
    """One featureset: a dataset, its columns and their preprocessing."""

    dataset: DatasetSpec
    include_columns: list[str] | None = None
    exclude_columns: list[str] | None = None
    interpolaters: list[Interpolater] = Field(default_factory=list)
    encoders: list[FeatureEncoder] = Field(default_factory=list)
    window: Window | None = None
    reshape_indices: list[int | str | list[int]] | None = None  # AIQC Shape, applied last (README: N-D data)

    @field_validator("dataset", mode="before")
    @classmethod
    def _shorthand(cls, value):
        return _dataset_shorthand(value)

    @model_validator(mode="after")
    def _not_both(self):
        if self.include_columns is not None and self.exclude_columns is not None:
            raise ValueError("expected include_columns or exclude_columns, not both")
        return self


class Target(Spec):
    """The label column; ``dataset: null`` takes it from the first input's dataset."""

    column: str
    dataset: DatasetSpec | None = None
    interpolater: Interpolation | None = None
    encoder: Encoder | None = None

    @field_validator("dataset", mode="before")
    @classmethod
    def _shorthand(cls, value):
        return _dataset_shorthand(value)


class Stratifier(Spec):
    """Split sizes (shares of all samples, or of the time steps for windows), folds of the training
    split, bins; ``order: time`` for contiguous blocks in time, ``group_column`` to keep groups apart."""

    size_test: float | None = Field(default=None, gt=0, lt=1)
    size_validation: float | None = Field(default=None, gt=0, lt=1)
    fold_count: int | None = Field(default=None, ge=2)
    bin_count: int | None = Field(default=None, ge=2, le=1000)
    order: Literal["random", "time"] = "random"
    group_column: str | None = None

    @model_validator(mode="after")
    def _sizes_leave_training_rows(self):
        total = (self.size_test or 0) + (self.size_validation or 0)
        if total >= 1:
            raise ValueError(f"size_test + size_validation = {total:g}; expected less than 1 to leave training rows")
        return self


class Pipeline(Spec):
    """The data section: inputs, target, stratifier and the DVC versioning mode."""

    inputs: list[Input] = Field(min_length=1)
    target: Target | None = None
    stratifier: Stratifier = Field(default_factory=Stratifier)
    version: Literal["auto", "require", "off"] = "auto"

    @field_validator("inputs", mode="before")
    @classmethod
    def _listify(cls, value):
        return value if isinstance(value, (list, tuple)) else [value]

    @model_validator(mode="after")
    def _windows_agree(self):
        windows = {
            None if item.window is None else (item.window.size_window, item.window.size_shift) for item in self.inputs
        }
        if len(windows) > 1:
            raise ValueError("inputs have different windows; expected the same window on every input (or none)")
        if self.window is not None and self.stratifier.order != "time":
            raise ValueError(
                "windows overlap, so a random split puts the same time steps in two splits; "
                "expected stratifier.order: time"
            )
        return self

    @property
    def window(self) -> Window | None:
        return self.inputs[0].window

    def target_dataset(self) -> DatasetSpec | None:
        if self.target is None:
            return None
        return self.target.dataset or self.inputs[0].dataset

    def group_dataset(self) -> DatasetSpec | None:
        """Where ``stratifier.group_column`` is read: the target's table, else the first input's."""
        if self.stratifier.group_column is None:
            return None
        return self.target_dataset() or self.inputs[0].dataset


def iter_dataset_specs(data: Pipeline):
    seen = set()
    for spec in [i.dataset for i in data.inputs] + (
        [data.target.dataset] if data.target and data.target.dataset else []
    ):
        if id(spec) not in seen:
            seen.add(id(spec))
            yield spec
