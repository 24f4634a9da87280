"""The columns a recipe names, checked against the header of each table before anything heavy loads.

Only the header is read (the first line of a CSV/TSV, the schema of a Parquet file), so a
misspelt column is reported in a moment with the nearest names, before DVC, MLflow or a
model library is imported. The full reading (``data/``, ``preprocess/``) checks the same and
more (dtypes, cells, repeated names); a dataset this cannot read is left to it.
"""

from __future__ import annotations

import csv
import os

from mlflow_qc.errors import QCError
from mlflow_qc.recipe import Recipe
from mlflow_qc.recipe_data import DatasetSpec
from mlflow_qc.suggest import did_you_mean, preview_names

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None}
PARQUET_SUFFIXES = (".parquet", ".pq")


def check_columns(recipe: Recipe) -> None:
    """QCError naming the first field whose column is not in its table, with the nearest names."""
    data = recipe.data
    for index, item in enumerate(data.inputs):
        where = f"data.inputs[{index}]"
        for key in ("include_columns", "exclude_columns"):
            _require(item.dataset, getattr(item, key), f"{where}.{key}")
        for kind in ("encoders", "interpolaters"):
            for position, step in enumerate(getattr(item, kind)):
                _require(item.dataset, step.columns, f"{where}.{kind}[{position}].columns")
        if item.dataset.image_column is not None:
            _require(item.dataset, [item.dataset.image_column], f"{where}.dataset.image_column", renamed=False)
    target = data.target_dataset()
    if data.target is not None:
        _require(target, [data.target.column], "data.target.column")
    if data.stratifier.group_column is not None:
        _require(data.group_dataset(), [data.stratifier.group_column], "data.stratifier.group_column")


def header(spec: DatasetSpec | None) -> list[str] | None:
    """The column names of a table file as the trainer will see them; None when not a readable table."""
    if (
        spec is None
        or spec.path is None
        or not os.path.isfile(spec.path)
        or spec.kind not in (None, "tabular", "image")
    ):
        return None
    suffix = os.path.splitext(spec.path)[1].lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            if spec.header != "infer":
                return None  # refused by the full reading, which names the header
            import pyarrow.parquet

            names = list(pyarrow.parquet.read_schema(spec.path).names)
            names = [name for name in names if not name.startswith("__index_level_")]  # pandas' saved index
        elif suffix in TEXT_SUFFIXES and spec.header is None:
            names = [str(i) for i in range(len(_text_row(spec.path, TEXT_SUFFIXES[suffix], 0)))]
        elif suffix in TEXT_SUFFIXES:
            names = _text_row(spec.path, TEXT_SUFFIXES[suffix], 0 if spec.header == "infer" else int(spec.header))
        else:
            return None
    except (
        OSError,
        ValueError,
        csv.Error,
    ):  # unreadable here (pyarrow's errors are ValueError/OSError): the full reading names it
        return None
    if spec.rename_columns is not None:
        return list(spec.rename_columns) if len(spec.rename_columns) == len(names) else None
    return names


def sniff_delimiter(path: str, default: str | None) -> str:
    """The delimiter of a text table: files named .csv are sometimes tab separated."""
    with open(path, newline="", errors="replace") as handle:
        sample = handle.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return default or ","


def _text_row(path: str, default: str | None, row: int) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for number, cells in enumerate(csv.reader(handle, delimiter=sniff_delimiter(path, default))):
            if number == row:
                return [cell or f"Unnamed: {i}" for i, cell in enumerate(cells)]  # pandas' name for an empty one
    raise ValueError("no header row")


def _require(spec: DatasetSpec | None, columns: list[str] | None, field: str, renamed: bool = True) -> None:
    if not columns:
        return
    names = header(spec) if renamed else header(spec.model_copy(update={"rename_columns": None}))
    if names is None:
        return
    missing = [column for column in columns if column not in names]
    if not missing:
        return
    shown = missing if len(missing) <= 5 else str(missing[:5])[:-1] + ", ...]"
    hint = did_you_mean(missing[0], names)
    raise QCError(
        field,
        f"column(s) {shown} not in {os.path.basename(spec.path)};{hint} "
        f"expected some of {preview_names(names, near_to=missing)}",
    )
