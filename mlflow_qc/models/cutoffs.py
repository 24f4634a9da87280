"""Early stopping when every metric cutoff is met (AIQC's ``MetricCutoff``).

Hyperparameter ``metric_cutoffs``: one ``{metric, cutoff, above_or_below}`` mapping or a
list of them, e.g. ``[{metric: val_accuracy, cutoff: 0.9, above_or_below: above}]``;
``above`` means ``>=``, ``below`` means ``<=``. Training stops after the first epoch in
which all of them hold. Library-free so the PyTorch loop and the Keras callback share it.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow_qc.errors import QCError

WHERE = "model.hyperparameters.metric_cutoffs"
KEYS = {"metric", "cutoff", "above_or_below"}


def parse_cutoffs(metric_cutoffs) -> list[dict]:
    if metric_cutoffs is None:
        return []
    items = [metric_cutoffs] if isinstance(metric_cutoffs, Mapping) else list(metric_cutoffs)
    for item in items:
        if not isinstance(item, Mapping) or set(item) != KEYS:
            raise QCError(WHERE, f"{item!r}: expected a mapping with exactly the keys metric, cutoff, above_or_below")
        if item["above_or_below"] not in ("above", "below"):
            raise QCError(WHERE, f"above_or_below is {item['above_or_below']!r}; expected 'above' or 'below'")
        if isinstance(item["cutoff"], bool) or not isinstance(item["cutoff"], (int, float)):
            raise QCError(WHERE, f"cutoff {item['cutoff']!r}: expected a number")
    return [dict(item) for item in items]


def cutoffs_met(metric_cutoffs, metrics: Mapping) -> bool:
    """True when every cutoff holds for the latest values.

    ``metrics`` is a history (``{name: [per epoch]}``, the last value counts) or Keras
    epoch logs (``{name: value}``). An empty list of cutoffs is never met.
    """
    cutoffs = parse_cutoffs(metric_cutoffs)
    if not cutoffs:
        return False
    for item in cutoffs:
        if item["metric"] not in metrics:
            raise QCError(WHERE, f"metric '{item['metric']}' is not recorded; expected one of {sorted(metrics)}")
        value = metrics[item["metric"]]
        value = float(value[-1] if isinstance(value, (list, tuple)) else value)
        met = value >= item["cutoff"] if item["above_or_below"] == "above" else value <= item["cutoff"]
        if not met:
            return False
    return True
