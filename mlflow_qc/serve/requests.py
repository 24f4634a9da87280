"""A request as the raw inputs of a qc model: a table, a tensor of N-D samples, encoded image files.

``meta`` is the model's ``qc_model.json``: per input its kind, raw columns (tables) or raw
sample shape (N-D) and, for images, the colour mode the training images were decoded with.
Every problem is a QCError naming what arrived and what was expected (HTTP 400 when served).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pandas as pd

from mlflow_qc.data.images import decode_image
from mlflow_qc.errors import QCError
from mlflow_qc.serve.schema import as_frame
from mlflow_qc.tracking.names import IMAGE_COLUMN

TABULAR = "tabular"


def kinds_of(meta: dict) -> list[str]:
    return meta.get("kinds") or [TABULAR] * len(meta["raw_columns"])  # models logged before N-D inputs


def is_tabular(meta: dict) -> bool:
    return all(kind == TABULAR for kind in kinds_of(meta))


def raw_inputs(data, meta: dict) -> list:
    """One raw input per model input, in order."""
    kinds = kinds_of(meta)
    if is_tabular(meta):
        frame = as_frame(data)
        if frame.empty:
            raise QCError("input", "no rows; expected at least one row")
        return [frame[columns] for columns in meta["raw_columns"]]
    if len(kinds) == 1:
        return [samples(data, meta, 0, "input")]
    if not isinstance(data, dict):
        names = ", ".join(f"input_{i}" for i in range(len(kinds)))
        raise QCError("input", f"got {type(data).__name__}; expected a mapping of the model's inputs {names}")
    raws = []
    for index, kind in enumerate(kinds):
        name = f"input_{index}"
        if name not in data:
            raise QCError(
                "input", f"'{name}' missing; expected the inputs {', '.join(f'input_{i}' for i in range(len(kinds)))}"
            )
        if kind == TABULAR:
            raws.append(as_frame(data[name])[meta["raw_columns"][index]])
        else:
            raws.append(samples(data[name], meta, index, name))
    return raws


def samples(value, meta: dict, index: int, where: str) -> np.ndarray:
    """N-D samples as float64 of the training samples' shape: a tensor, or (images) encoded files."""
    shape = tuple(meta["raw_shapes"][index])
    kind = kinds_of(meta)[index]
    if isinstance(value, pd.DataFrame):
        if kind != "image" or value.shape[1] != 1:
            expected = (
                f"or one column '{IMAGE_COLUMN}' of base64-encoded image files" if kind == "image" else "as a tensor"
            )
            raise QCError(where, f"a table of {value.shape[1]} column(s); expected samples of shape {shape} {expected}")
        if str(value.columns[0]) != IMAGE_COLUMN:
            raise QCError(
                f"column '{value.columns[0]}'",
                f"unknown; expected the column '{IMAGE_COLUMN}' of base64-encoded image files",
            )
        return image_files(value.iloc[:, 0].tolist(), meta, index, where)
    try:
        array = np.asarray(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        raise QCError(
            where, f"values of uneven shape or type; expected a tensor of numbers of shape (n, {_dims(shape)})"
        )
    if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
        raise QCError(where, f"{array.dtype} values; expected numbers of shape (n, {_dims(shape)})")
    if array.ndim != len(shape) + 1 or array.shape[1:] != shape:
        raise QCError(where, f"a tensor of shape {tuple(array.shape)}; expected (n, {_dims(shape)})")
    if len(array) == 0:
        raise QCError(where, "no samples; expected at least one")
    return array.astype(np.float64, copy=False)


def image_files(values: list, meta: dict, index: int, where: str) -> np.ndarray:
    shape = tuple(meta["raw_shapes"][index])
    colors = meta.get("colors") or [None] * len(kinds_of(meta))
    color = colors[index] or ("L" if shape[0] == 1 else "RGB")
    if not values:
        raise QCError(where, "no images; expected at least one base64-encoded image file")
    decoded = []
    for row, value in enumerate(values):
        here = f"{where} row {row}"
        if not isinstance(value, (str, bytes)):
            raise QCError(here, f"{type(value).__name__}; expected a base64-encoded image file")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise QCError(here, "not base64; expected a base64-encoded image file (PNG, JPEG, ...)") from None
        decoded.append(decode_image(data, color, shape, here))
    return np.stack(decoded).astype(np.float64)


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape))
