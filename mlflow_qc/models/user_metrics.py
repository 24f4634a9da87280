"""User-defined metrics (the recipe's ``evaluation.metrics``; README, "Metrics").

A ``UserMetric`` carries its module's source text, not a function: it pickles into loky
processes and Dask workers on other machines, which compile the source once per process. The
function is ``fn(y_true, y_pred, y_proba) -> float`` on the original labels: classification
``y_true``/``y_pred`` the class labels (``y_pred`` by the decision threshold), ``y_proba`` one
column per class in the order of the model's classes; regression the values on the target's
scale with ``y_proba`` None; forecasting windows x size_shift x columns, ``y_proba`` None.
"""

from __future__ import annotations

import inspect
import numbers
import types
from dataclasses import dataclass, field

import numpy as np

from mlflow_qc.errors import QCError
from mlflow_qc.hashing import digest
from mlflow_qc.models.metrics import BUILT_IN_METRICS

EXPECTED = 'fn(y_true, y_pred, y_proba) returning a number (README, "Metrics")'
_LOADED: dict[
    tuple[str, str, str], types.FunctionType
] = {}  # (path, source digest, name) -> the function, once per process


@dataclass(frozen=True)
class UserMetric:
    name: str
    path: str  # the module file (absolute)
    function: str  # the function's name in it
    greater_is_better: bool
    source: str = field(repr=False)  # the module's text
    digest: str = ""  # sha256 of the function's own source

    @property
    def where(self) -> str:
        return f"evaluation.metrics {self.name} ({self.path}:{self.function})"

    def load(self):
        key = (self.path, digest(self.source), self.function)
        if key not in _LOADED:
            _LOADED[key] = _function_of(self.source, self.path, self.function, self.where)
        return _LOADED[key]

    def __call__(self, y_true, y_pred, y_proba) -> float:
        function = self.load()
        try:
            value = function(y_true, y_pred, y_proba)
        except Exception as exc:
            raise QCError(self.where, f"raised {type(exc).__name__}: {exc}; expected {EXPECTED}") from None
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise QCError(self.where, f"returned {type(value).__name__} {str(value)[:60]!r}; expected {EXPECTED}")
        return float(value)


def _function_of(source: str, path: str, name: str, where: str):
    module = types.ModuleType(f"mlflow_qc_user_metric_{digest(path, 12)}")
    module.__file__ = path
    try:
        exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - the project's own metric module
    except Exception as exc:
        raise QCError(where, f"the module does not load ({type(exc).__name__}: {exc}); expected {EXPECTED}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise QCError(where, f"{path} defines no function {name}; expected {EXPECTED}")
    return function


def user_metrics(specs) -> tuple[UserMetric, ...]:
    """The recipe's ``evaluation.metrics`` loaded (source read, function found, digest taken);
    a name of a built-in metric is refused."""
    metrics = []
    for index, spec in enumerate(specs):
        where = f"evaluation.metrics[{index}].name"
        if spec.name in BUILT_IN_METRICS:
            raise QCError(where, f"'{spec.name}' is a built-in metric; expected another name")
        with open(spec.path, encoding="utf-8") as handle:
            source = handle.read()
        function = _function_of(source, spec.path, spec.function_name, f"evaluation.metrics[{index}].function")
        try:
            own = inspect.getsource(function)
        except (OSError, TypeError):
            own = source
        metrics.append(
            UserMetric(spec.name, spec.path, spec.function_name, spec.greater_is_better, source, digest(own))
        )
    return tuple(metrics)


def score_user_metrics(metrics, y_true, y_pred, y_proba) -> dict[str, float]:
    return {metric.name: metric(y_true, y_pred, y_proba) for metric in metrics}


def check_user_metrics(metrics, analysis_type: str, classes) -> None:
    """Call every metric once on a tiny made-up sample (perfect answers), so that one that raises
    or answers no number is named before a whole training is spent."""
    if not metrics:
        return
    if analysis_type.startswith("classification"):
        labels = np.asarray(list(classes), dtype=object)
        y_true = np.concatenate([labels, labels])
        y_proba = np.eye(len(labels))[np.arange(len(y_true)) % len(labels)]
        sample = (y_true, y_true.copy(), y_proba)
    elif analysis_type == "forecasting":
        y_true = np.linspace(0.0, 1.0, 12).reshape(2, 3, 2)
        sample = (y_true, y_true + 0.1, None)
    else:
        y_true = np.linspace(0.0, 1.0, 6)
        sample = (y_true, y_true + 0.1, None)
    for metric in metrics:
        metric(*sample)


def recorded_user_metrics(specs, digests: dict[str, str]) -> tuple[UserMetric, ...]:
    """The user metrics an experiment run was trained with (``specs`` from its recipe, ``digests`` its
    tags by name), refused when a function's source changed since: its test score would not be the
    one its other splits were scored with."""
    metrics = user_metrics(specs)
    for metric in metrics:
        if digests.get(metric.name) not in (None, metric.digest):
            raise QCError(
                metric.where,
                "its source changed since the training; expected the function the models "
                "were scored with (restore it, e.g. from git)",
            )
    return metrics
