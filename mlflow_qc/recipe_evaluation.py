"""The recipe's ``evaluation`` section: user-defined metrics beside the built-in ones (README, "Metrics").

``function`` is ``path/to/module.py:fn`` with the path relative to the recipe file (absolute in
memory); the function is ``fn(y_true, y_pred, y_proba) -> float``. Whether it loads and answers
a number is checked before training (``models.user_metrics``), not here: the schema stays cheap.
"""

from __future__ import annotations

import os
import re

from pydantic import Field, ValidationInfo, field_validator

from mlflow_qc.recipe_data import Spec, resolve_path

METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class UserMetricSpec(Spec):
    name: str
    function: str
    greater_is_better: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, name):
        if not METRIC_NAME.match(name):
            raise ValueError(
                f"'{name}' is not a metric name; expected letters, digits and _ (a letter first, at most 64)"
            )
        return name

    @field_validator("function")
    @classmethod
    def _function(cls, function, info: ValidationInfo):
        path, separator, name = str(function).rpartition(":")
        if not separator or not path or not name.isidentifier():
            raise ValueError(
                f"'{function}' is not path/to/module.py:function; expected a Python file and a function name"
            )
        path = resolve_path(path, info)
        if not os.path.isfile(path):
            raise ValueError(f"file not found: {path}; expected a Python file defining {name}")
        return f"{path}:{name}"

    @property
    def path(self) -> str:
        return self.function.rpartition(":")[0]

    @property
    def function_name(self) -> str:
        return self.function.rpartition(":")[2]


class Evaluation(Spec):
    metrics: list[UserMetricSpec] = Field(default_factory=list)

    @field_validator("metrics")
    @classmethod
    def _distinct(cls, metrics):
        names = [metric.name for metric in metrics]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"metric '{repeated[0]}' is declared more than once; expected distinct names")
        return metrics


def relative_function(function: str, base: str) -> str:
    """``function`` with its path relative to ``base`` (a recipe file's folder)."""
    path, _, name = function.rpartition(":")
    return f"{os.path.relpath(path, base)}:{name}"
