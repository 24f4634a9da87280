"""Datasets: tables (CSV, TSV, Parquet, DataFrames), sequences (3-D ``.npy``/``.npz``) and images
(a folder of images, a manifest table of image paths, or a 4-D ``.npy``).

A sample is a row of a table, a sequence (timesteps x channels) or an image (channels x rows x
columns); ``n_samples`` counts them along the first axis. An image manifest keeps its table too:
a target can come from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_qc.data.arrays import ARRAY_SUFFIXES, check_samples, kind_of_rank, read_array
from mlflow_qc.data.images import folder_files, load_images, manifest_files
from mlflow_qc.data.tables import TABULAR_SUFFIXES, preview_columns, read_table
from mlflow_qc.errors import QCError
from mlflow_qc.recipe import DatasetSpec
from mlflow_qc.suggest import did_you_mean, preview_names

__all__ = ["Dataset", "infer_kind", "load_dataset", "preview_columns"]


@dataclass
class Dataset:
    spec: DatasetSpec
    kind: str
    frame: pd.DataFrame | None  # the table: tabular data, or an image manifest
    where: str = "dataset"
    array: np.ndarray | None = None  # N-D samples (sequence, image)
    files: list[str] | None = None  # image files, in sample order
    color: str | None = None  # images: the Pillow mode they were decoded with
    dtypes: dict[str, str] = field(init=False)

    def __post_init__(self):
        frame = self.frame if self.frame is not None else pd.DataFrame()
        self.dtypes = {column: str(dtype) for column, dtype in frame.dtypes.items()}

    @property
    def n_samples(self) -> int:
        return len(self.array) if self.array is not None else len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [] if self.frame is None else list(self.frame.columns)

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """One sample's shape for N-D data (timesteps x channels, channels x rows x columns)."""
        return None if self.array is None else tuple(self.array.shape[1:])

    @property
    def label(self) -> str:
        return self.spec.label

    def require_columns(self, columns, field_name: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            where = os.path.basename(self.label)
            if self.frame is None:
                raise QCError(
                    field_name, f"{where} is {self.kind} data without columns; expected a table for column(s) {missing}"
                )
            shown = missing if len(missing) <= 5 else str(missing[:5])[:-1] + ", ...]"
            raise QCError(
                field_name,
                f"column(s) {shown} not in {where};{did_you_mean(missing[0], self.columns)} "
                f"expected some of {preview_names(self.columns, near_to=missing)}",
            )


def infer_kind(spec: DatasetSpec) -> str:
    if spec.kind:
        return spec.kind
    if spec.frame is not None:
        return (
            "tabular" if isinstance(spec.frame, pd.DataFrame) else (kind_of_rank(np.asarray(spec.frame)) or "unknown")
        )
    if os.path.isdir(spec.path):
        return "image"
    suffix = os.path.splitext(spec.path)[1].lower()
    if spec.image_column is not None:
        return "image"
    if suffix in TABULAR_SUFFIXES:
        return "tabular"
    if suffix in ARRAY_SUFFIXES and os.path.isfile(spec.path):
        return kind_of_rank(read_array(spec.path, "dataset")) or "unknown"
    return "unknown"


def load_dataset(spec: DatasetSpec, where: str = "dataset") -> Dataset:
    """Read one dataset; problems are QCErrors naming ``where`` (e.g. ``data.inputs[0].dataset``)."""
    kind = infer_kind(spec)
    if kind == "unknown":
        raise QCError(
            f"{where}.path",
            f"cannot tell the kind of {spec.label}; expected .csv, .tsv, .parquet, "
            "a 3-D (sequence) or 4-D (image) .npy/.npz, or an image folder, or set kind",
        )
    if kind == "tabular":
        if spec.path is not None and (os.path.isdir(spec.path) or spec.path.lower().endswith(ARRAY_SUFFIXES)):
            raise QCError(f"{where}.kind", f"{spec.path} is not a table; expected kind sequence or image for it")
        return Dataset(spec=spec, kind=kind, frame=read_table(spec, where), where=where)
    if spec.image_column is not None:
        return _image_manifest(spec, where)
    if spec.frame is not None:
        array = check_samples(np.asarray(spec.frame), kind, where, "the array")
        return Dataset(spec=spec, kind=kind, frame=None, where=where, array=array)
    if kind == "image" and os.path.isdir(spec.path):
        files = folder_files(spec.path, where)
        array, color = load_images(files, spec.color, where)
        return Dataset(spec=spec, kind=kind, frame=None, where=where, array=array, files=files, color=color)
    if not spec.path.lower().endswith(ARRAY_SUFFIXES):
        raise QCError(
            f"{where}.path",
            f"{spec.path} is neither an image folder nor a .npy/.npz file; "
            f"expected one of them for {kind} data (an image manifest needs image_column)",
        )
    array = check_samples(read_array(spec.path, where), kind, where, os.path.basename(spec.path))
    return Dataset(
        spec=spec,
        kind=kind,
        frame=None,
        where=where,
        array=array,
        color=_channels_color(array) if kind == "image" else None,
    )


def _image_manifest(spec: DatasetSpec, where: str) -> Dataset:
    manifest = read_table(spec, where)
    files = manifest_files(manifest, spec.image_column, spec.path, where)
    array, color = load_images(files, spec.color, where)
    return Dataset(spec=spec, kind="image", frame=manifest, where=where, array=array, files=files, color=color)


def _channels_color(array: np.ndarray) -> str | None:
    """The Pillow mode an image array's channels correspond to (None: neither 1 nor 3 channels)."""
    return {1: "L", 3: "RGB"}.get(array.shape[1])
