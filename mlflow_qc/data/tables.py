"""Reading tables: CSV, TSV (the delimiter sniffed), Parquet; naming and retyping their columns."""

from __future__ import annotations

import os

import pandas as pd

from mlflow_qc.errors import QCError, one_line
from mlflow_qc.recipe import DatasetSpec
from mlflow_qc.recipe_columns import sniff_delimiter

TABULAR_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".parquet": None, ".pq": None}


def read_table(spec: DatasetSpec, where: str) -> pd.DataFrame:
    """The table of ``spec`` (a file or a DataFrame) with its columns named and retyped, index reset."""
    frame = spec.frame.copy() if spec.frame is not None else _read_file(spec, where)
    frame = _name_columns(frame, spec, where)
    frame = _retype(frame, spec, where)
    if frame.empty:
        raise QCError(f"{where}.path", f"{spec.label} has no rows; expected a non-empty table")
    return frame.reset_index(drop=True)


def preview_columns(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(str(column)[:60] for column in columns[:limit])
    return f"[{shown}{', ...' if len(columns) > limit else ''}]"


def _read_file(spec: DatasetSpec, where: str) -> pd.DataFrame:
    path = spec.path
    if not os.path.isfile(path):
        raise QCError(f"{where}.path", f"file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix in (".parquet", ".pq"):
            if spec.header != "infer":
                raise QCError(f"{where}.header", "Parquet files carry their column names; expected header: infer")
            return pd.read_parquet(path)
        header = 0 if spec.header == "infer" else spec.header
        sep = sniff_delimiter(path, TABULAR_SUFFIXES.get(suffix))
        frame = pd.read_csv(path, sep=sep, header=header)
        if header is not None and spec.rename_columns is None:
            _refuse_repeated_names(
                pd.read_csv(path, sep=sep, header=None, skiprows=header, nrows=1, dtype=str), spec, where
            )
        return frame
    except QCError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors
        raise QCError(f"{where}.path", f"cannot read {path} as a table ({one_line(exc)})") from None


def _refuse_repeated_names(header_row: pd.DataFrame, spec: DatasetSpec, where: str) -> None:
    """pandas renames a repeated header name (``bh``, ``bh.1``) and would train on both."""
    names = pd.Series(header_row.iloc[0].tolist()) if len(header_row) else pd.Series([], dtype=object)
    repeated = names[names.duplicated() & names.notna()].unique().tolist()
    if repeated:
        raise QCError(
            f"{where}.path",
            f"column name(s) {preview_columns(repeated)} appear more than once in the header of "
            f"{os.path.basename(spec.path)}; expected unique names: rename them in the file or give rename_columns",
        )


def _name_columns(frame: pd.DataFrame, spec: DatasetSpec, where: str) -> pd.DataFrame:
    if spec.rename_columns is not None:
        if len(spec.rename_columns) != frame.shape[1]:
            raise QCError(
                f"{where}.rename_columns",
                f"{len(spec.rename_columns)} names for {frame.shape[1]} columns; expected one name per column",
            )
        frame.columns = list(spec.rename_columns)
    else:
        frame.columns = [str(c) for c in frame.columns]
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise QCError(f"{where}", f"duplicate column name(s) {duplicated}; expected unique names (use rename_columns)")
    return frame


def _retype(frame: pd.DataFrame, spec: DatasetSpec, where: str) -> pd.DataFrame:
    retype = spec.retype
    if retype is None:
        return frame
    targets = retype if isinstance(retype, dict) else {column: retype for column in frame.columns}
    unknown = [c for c in targets if c not in frame.columns]
    if unknown:
        raise QCError(
            f"{where}.retype",
            f"column(s) {unknown} not in the dataset; expected some of {preview_columns(list(frame.columns))}",
        )
    for column, dtype in targets.items():
        try:
            frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise QCError(f"{where}.retype.{column}", f"cannot convert to {dtype} ({one_line(exc)})") from None
    return frame
