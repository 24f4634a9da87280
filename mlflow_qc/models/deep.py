"""What the Keras and PyTorch adapters share: the user's module and its functions."""

from __future__ import annotations

import numbers
from functools import cached_property
from pathlib import Path

import numpy as np

from mlflow_qc.errors import QCError, one_line
from mlflow_qc.models.base import ModelAdapter, features_shape
from mlflow_qc.models.user_module import copy_user_module, import_user_module, user_functions

# The hyperparameters the default training and optimizer read (README: "The recipe"), and what each must be.
DEFAULT_HYPERPARAMETERS = {
    "epochs": (numbers.Integral, "a positive integer (the number of training epochs), e.g. epochs: [30]"),
    "batch_size": (numbers.Integral, "a positive integer (samples per batch), e.g. batch_size: [32]"),
    "learning_rate": (numbers.Real, "a positive number (Adam's learning rate), e.g. learning_rate: [0.001]"),
}


class DeepAdapter(ModelAdapter):
    """An adapter driven by fn_build/fn_train/fn_predict/fn_lose/fn_optimize from ``module``.

    Exceptions raised by user functions propagate unchanged; only a missing function
    or a ``None`` return is turned into a QCError here.
    """

    @cached_property
    def functions(self) -> dict:
        functions = user_functions(import_user_module(self.architecture.module))
        if "fn_build" not in functions:
            raise QCError(
                self.architecture.module,
                "defines no fn_build; expected def fn_build(features_shape, label_shape, **hp)",
            )
        return functions

    @property
    def resumable(self) -> bool:
        """Only the default training is continued rung to rung (adaptive search on epochs): a user's
        fn_train may compile, schedule or stop in ways a continuation would not repeat."""
        return "fn_train" not in self.functions

    def __getstate__(self):
        # The functions live in a module imported by path; a worker process re-imports it.
        state = self.__dict__.copy()
        state.pop("functions", None)
        return state

    def check_values(self, grid: dict[str, list]) -> None:
        """The hyperparameters the default training reads must be positive numbers of their kind (a YAML
        ``'30'`` is text): refused before any run, naming the field, rather than failing every model."""
        for name, (kind, expected) in DEFAULT_HYPERPARAMETERS.items():
            for value in grid.get(name, []):
                if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
                    raise QCError(
                        f"model.hyperparameters.{name}", f"got {value!r} ({type(value).__name__}); expected {expected}"
                    )

    def returned(self, name: str, value):
        if value is None:
            raise QCError(
                f"{self.architecture.module}: {name}", "returned None; expected a value (is `return` missing?)"
            )
        return value

    def train_with(self, fn_train, evaluation, *arguments, **hyperparameters):
        """Call fn_train; a user's fn_train that fails without an evaluation split is told why."""
        try:
            return fn_train(*arguments, **hyperparameters)
        except Exception as exc:
            if evaluation is not None or "fn_train" not in self.functions:
                raise
            raise QCError(
                f"{self.architecture.module}: fn_train",
                f"failed with eval_features=None ({type(exc).__name__}: {one_line(exc)}): the recipe has no validation "
                "split to watch; expected data.stratifier.size_validation or fold_count, "
                "or an fn_train that accepts None",
            ) from exc

    def build(self, train, hyperparameters: dict):
        self.learn_label_shape(train.label)
        model = self.functions["fn_build"](
            features_shape(train.features), self.output_shape(train.label), **hyperparameters
        )
        return self.returned("fn_build", model)

    def loser(self, label: np.ndarray, hyperparameters: dict):
        fn_lose = self.functions.get("fn_lose")
        if fn_lose is None:
            return self.default_loser(label)
        return self.returned("fn_lose", fn_lose(**hyperparameters))

    def default_loser(self, label: np.ndarray):
        raise NotImplementedError

    def _save_model(self, model, folder: Path) -> None:
        copy_user_module(self.architecture.module, folder)
        self._save_library_model(model, folder)

    def _save_library_model(self, model, folder: Path) -> None:
        raise NotImplementedError
