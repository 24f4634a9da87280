"""Permutation feature importance: how much the loss grows when a column's values are shuffled.

For a column c and permutation k (a random reordering pi_k of the rows):

    increase(c, k) = loss(model, X with column c reordered by pi_k) - loss(model, X)
    importance(c)  = median over k of increase(c, k)

- Encoded level: one column of a 2-D input (one channel, the last axis, of an N-D input).
- Original level: the encoded columns that come from one raw column ("column=value" one-hot
  columns) are reordered together by the same pi_k, so every row stays a valid one-hot row.
- Permutation k uses the same pi_k for every column (common random numbers): comparisons
  between columns are not blurred by different shuffles. pi_k comes from ``seed`` only.
- The permuted copies are stacked and predicted in a few large batches, not one call each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

ENCODED, ORIGINAL = "encoded", "original"
BATCH_BYTES = 16 * 2**20  # per batch of stacked copies; larger batches gain nothing, smaller ones lose
METRIC_PREFIX = "importance_"


@dataclass(frozen=True)
class ColumnGroup:
    level: str
    input_index: int
    name: str
    positions: tuple[int, ...]  # on the last axis of the input


def owner_column(name: str, raw_columns: list[str]) -> str:
    """The raw column an encoded column comes from: ``name`` itself or the longest ``raw=...`` prefix."""
    owners = [raw for raw in raw_columns if name == raw or name.startswith(f"{raw}=")]
    if owners:
        return max(owners, key=len)
    return name.split("=", 1)[0]


def column_groups(
    feature_names: list[list[str]], widths: list[int], raw_columns: list[list[str]] | None = None
) -> list[ColumnGroup]:
    """Encoded and original groups of every input; names fall back to ``channel_K`` when they do not fit."""
    groups = []
    for index, width in enumerate(widths):
        names = feature_names[index] if index < len(feature_names) else []
        if len(names) != width:
            names = [f"channel_{k}" for k in range(width)]
        raw = raw_columns[index] if raw_columns and index < len(raw_columns) else []
        owners: dict[str, list[int]] = {}
        for position, name in enumerate(names):
            groups.append(ColumnGroup(ENCODED, index, str(name), (position,)))
            owners.setdefault(owner_column(str(name), raw), []).append(position)
        groups += [ColumnGroup(ORIGINAL, index, name, tuple(positions)) for name, positions in owners.items()]
    return groups


def permutation_importance(
    predict: Callable[[list[np.ndarray]], np.ndarray],
    loss: Callable[[np.ndarray], float],
    features: list[np.ndarray],
    groups: list[ColumnGroup],
    permute_count: int,
    seed: int,
    batch_bytes: int = BATCH_BYTES,
) -> pd.DataFrame:
    """One row per group: level, input, column, median, mean, baseline_loss, permutation_0..K-1.

    ``predict`` maps a list of feature arrays (one per input, rows stacked) to the model output;
    ``loss`` maps the output for the original rows to a number (lower is better).
    """
    features = [np.asarray(f) for f in features]
    n = len(features[0])
    baseline = float(loss(predict(features)))
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n) for _ in range(permute_count)]
    unique = list(dict.fromkeys((g.input_index, g.positions) for g in groups))
    increases = _increases(predict, loss, features, unique, orders, baseline, batch_bytes)
    rows = []
    for group in groups:
        values = increases[(group.input_index, group.positions)]
        rows.append(
            {
                "level": group.level,
                "input": group.input_index,
                "column": group.name,
                "median": float(np.median(values)) if values else np.nan,
                "mean": float(np.mean(values)) if values else np.nan,
                "baseline_loss": baseline,
                **{f"permutation_{k}": value for k, value in enumerate(values)},
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(["level", "median"], ascending=[True, False], kind="stable").reset_index(drop=True)


def _increases(predict, loss, features, unique, orders, baseline, batch_bytes) -> dict:
    n = len(features[0])
    tasks = [(key, k) for key in unique for k in range(len(orders))]
    copy_bytes = max(1, sum(f.nbytes for f in features))
    chunk = max(1, batch_bytes // copy_bytes)
    increases: dict = {key: [] for key in unique}
    for start in range(0, len(tasks), chunk):
        block = tasks[start : start + chunk]
        stacked = [np.concatenate([f] * len(block)) for f in features]
        for b, ((index, positions), k) in enumerate(block):
            columns = list(positions)
            stacked[index][b * n : (b + 1) * n][..., columns] = features[index][..., columns][orders[k]]
        output = np.asarray(predict(stacked))
        for b, (key, _) in enumerate(block):
            increases[key].append(float(loss(output[b * n : (b + 1) * n])) - baseline)
    return increases


def metric_name(column: str, input_index: int, input_count: int) -> str:
    """``importance_<column>`` with only the characters MLflow accepts everywhere."""
    safe = re.sub(r"[^\w.\- ]", "_", column).strip() or "_"
    if set(safe) <= {"."}:
        safe = safe.replace(".", "_")
    prefix = f"input{input_index}/" if input_count > 1 else ""
    return f"{METRIC_PREFIX}{prefix}{safe}"[:250]


def importance_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The median per original column as metrics (names made unique after sanitising)."""
    original = table[table["level"] == ORIGINAL]
    input_count = int(table["input"].max()) + 1 if len(table) else 1
    metrics: dict[str, float] = {}
    for _, row in original.iterrows():
        name = metric_name(str(row["column"]), int(row["input"]), input_count)
        unique, suffix = name, 1
        while unique in metrics:
            unique, suffix = f"{name}_{suffix}", suffix + 1
        metrics[unique] = float(row["median"])
    return metrics
