"""The recipe (the README's "The recipe"): a pydantic schema with ``extra="forbid"``.

A recipe file and the Python objects (``Pipeline``, ``Input``, ``Target``,
``Stratifier``, ``Architecture``, ``Trainer``) are two faces of one model:
``load_recipe`` reads YAML into them, ``Recipe.to_yaml`` writes them back.
Paths in a file are relative to that file; in memory they are absolute.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from mlflow_qc.classes import resolve_estimator
from mlflow_qc.errors import QCError, from_validation_error
from mlflow_qc.hashing import canonical_json
from mlflow_qc.overrides import apply_overrides, parse_overrides
from mlflow_qc.recipe_data import (  # noqa: F401  (re-exported: the recipe's data section)
    CLASSES,
    DATASET_KINDS,
    AnalysisType,
    ColumnFilter,
    DatasetSpec,
    Encoder,
    FeatureEncoder,
    Input,
    Interpolater,
    Interpolation,
    Pipeline,
    Spec,
    Stratifier,
    Target,
    Window,
    classes_checked,
    iter_dataset_specs,
    resolve_path,
)
from mlflow_qc.recipe_evaluation import Evaluation, UserMetricSpec, relative_function  # noqa: F401  (re-exported)
from mlflow_qc.recipe_yaml import load_yaml, read_text, settle_words, unknown_key
from mlflow_qc.suggest import did_you_mean


class Architecture(Spec):
    """The model section: library, analysis type, code and the hyperparameter grid."""

    library: Literal["keras", "pytorch", "sklearn"]
    analysis_type: AnalysisType
    module: str | None = None
    estimator: str | None = None
    hyperparameters: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("module")
    @classmethod
    def _module_path(cls, path, info: ValidationInfo):
        path = resolve_path(path, info)
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"file not found: {path}; expected a Python file defining fn_build")
        return path

    @field_validator("estimator")
    @classmethod
    def _estimator_path(cls, name, info: ValidationInfo):
        """A scikit-learn class name becomes its dotted path (as encoder names resolve)."""
        if name is None or not classes_checked(info):
            return name
        return resolve_estimator(name)

    @field_validator("hyperparameters")
    @classmethod
    def _non_empty_lists(cls, grid):
        for name, values in grid.items():
            if len(values) == 0:
                raise ValueError(f"hyperparameter '{name}' has an empty list; expected at least one value")
            repeated = [text for text, count in Counter(canonical_json(value) for value in values).items() if count > 1]
            if repeated:
                raise ValueError(
                    f"hyperparameter '{name}' lists {repeated[0][:40]} more than once; "
                    "expected distinct values (each is one job)"
                )
        return grid

    @model_validator(mode="after")
    def _code_for_library(self):
        if self.library == "sklearn":
            if not self.estimator:
                raise ValueError("library sklearn expects estimator: a dotted class path such as sklearn.svm.SVC")
            if self.module:
                raise ValueError("library sklearn takes estimator, not module")
        else:
            if not self.module:
                raise ValueError(f"library {self.library} expects module: a Python file defining fn_build")
            if self.estimator:
                raise ValueError(f"library {self.library} takes module, not estimator")
        return self

    @property
    def is_classification(self) -> bool:
        return self.analysis_type.startswith("classification")


class Search(Spec):
    method: Literal["grid", "random", "tpe", "hyperband", "halving"] = "grid"
    count: int | None = Field(default=None, ge=1, le=100_000)
    percent: float | None = Field(default=None, gt=0, le=1)
    space: dict[str, dict[str, list[Any]]] | None = None
    # hyperband | halving (README: "Adaptive search"); adaptive.check_adaptive checks them against the model
    resource: Literal["epochs", "samples"] | None = None
    reduction_factor: int = 3
    min_resource: float | None = Field(default=None, gt=0)
    max_resource: float | None = Field(default=None, gt=0)
    candidates: Literal["grid", "random"] = "grid"

    @model_validator(mode="after")
    def _adaptive_needs(self):
        adaptive = self.method in ("hyperband", "halving")
        if not adaptive:
            given = [k for k in ("resource", "min_resource", "max_resource") if getattr(self, k) is not None]
            given += [k for k in ("reduction_factor", "candidates") if k in self.model_fields_set]
            if given:
                raise ValueError(f"{given[0]} belongs to an adaptive search; expected method hyperband or halving")
            return self
        if self.resource is None:
            raise ValueError(f"method {self.method} expects resource: epochs or samples")
        if self.space is not None:
            raise ValueError(f"method {self.method} takes no space; expected the candidates in model.hyperparameters")
        if self.percent is not None:
            raise ValueError(f"method {self.method} takes count (with candidates: random), not percent")
        if (self.candidates == "random") != (self.count is not None):
            raise ValueError(
                "candidates: random expects count (how many candidates), and count expects candidates: random"
            )
        return self

    @model_validator(mode="after")
    def _method_needs(self):
        if self.method == "random" and (self.count is None) == (self.percent is None):
            raise ValueError("method random expects exactly one of count or percent")
        if self.method == "tpe" and (self.count is None or not self.space):
            raise ValueError("method tpe expects count and space")
        if self.method == "grid" and (self.count is not None or self.percent is not None):
            raise ValueError("method grid takes neither count nor percent")
        return self


THRESHOLD_RULES = ("f1", "youden")
THRESHOLD_EXPECTED = f"expected {' or '.join(THRESHOLD_RULES)} or a number between 0 and 1"


class Trainer(Spec):
    repeat_count: int = Field(default=1, ge=1, le=10_000)
    permute_count: int = Field(default=0, ge=0, le=1000)
    continue_on_error: bool = True
    n_jobs: int = Field(default=1, ge=-1, le=1024)
    backend: str = "local"  # local | dask | another registered joblib backend
    address: str | None = None  # dask: a running scheduler; None = a local cluster of n_jobs workers
    refit: bool = False
    hide_test: bool = False  # test metrics sealed until `mlflow-qc finalize`
    baseline: bool = False  # a Dummy job beside the others
    threshold: str | float | None = (
        None  # binary: the decision threshold (f1, youden, an evaluation.metrics name, a number)
    )

    @field_validator("n_jobs")
    @classmethod
    def _not_zero(cls, n_jobs):
        if n_jobs == 0:
            raise ValueError("expected a positive number of processes, or -1 for all cores")
        return n_jobs

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (
            value is None
            or value in THRESHOLD_RULES
            or (number and 0 < value < 1)
            or (isinstance(value, str) and value.isidentifier())
        ):
            return value  # another name must be one of evaluation.metrics (Recipe._guards_fit)
        raise ValueError(f"{THRESHOLD_EXPECTED}, or a metric of evaluation.metrics")

    @field_validator("address")
    @classmethod
    def _scheduler_address(cls, address):
        if address is not None and not address.strip():
            raise ValueError(
                "expected a Dask scheduler address such as tcp://10.0.0.5:8786, or null for a local cluster"
            )
        return address

    @model_validator(mode="after")
    def _address_needs_dask(self):
        if self.address is not None and self.backend != "dask":
            raise ValueError(f"address names a Dask scheduler; expected backend: dask (got backend: {self.backend})")
        return self


class Register(Spec):
    model_name: str = Field(min_length=1)
    metric: str | None = None
    alias: str | None = "champion"
    gate: float | None = Field(
        default=None, gt=0, lt=1
    )  # the alias moves only when the new model beats its holder at this p


# BaseModel's metaclass brings ABCMeta.register; the recipe's "register" field shadows it on purpose.
warnings.filterwarnings("ignore", message='Field name "register" in "Recipe"')


class Recipe(Spec):
    """One experiment: the root of the recipe file."""

    name: str | None = Field(default=None, min_length=1)
    seed: int = Field(default=42, ge=0, lt=2**32)  # numpy, scikit-learn and torch take 0 .. 2**32-1
    data: Pipeline
    model: Architecture | None = None
    search: Search = Field(default_factory=Search)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    trainer: Trainer = Field(default_factory=Trainer)
    register: Register | None = None
    source: str | None = Field(default=None, exclude=True)  # the file it was read from

    @field_validator("name")
    @classmethod
    def _visible_name(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise ValueError("only blanks; expected a name with a visible character (it names the MLflow experiment)")
        return name

    @property
    def base_dir(self) -> str:
        return os.path.dirname(self.source) if self.source else os.getcwd()

    @model_validator(mode="after")
    def _guards_fit(self, info: ValidationInfo):
        """The quality guards' settings against the rest of the recipe (README: "Quality guards")."""
        source = (info.context or {}).get("source") or "recipe"
        trainer, stratifier = self.trainer, self.data.stratifier
        if (
            trainer.threshold is not None
            and self.model is not None
            and self.model.analysis_type != "classification_binary"
        ):
            raise QCError(
                f"{source}: trainer.threshold",
                f"applies to classification_binary only; expected null for {self.model.analysis_type}",
            )
        own = [metric.name for metric in self.evaluation.metrics]
        if isinstance(trainer.threshold, str) and trainer.threshold not in (*THRESHOLD_RULES, *own):
            raise QCError(
                f"{source}: trainer.threshold",
                f"{THRESHOLD_EXPECTED}, or a metric of evaluation.metrics {own}; got '{trainer.threshold}'",
            )
        if isinstance(trainer.threshold, str) and not (stratifier.fold_count or stratifier.size_validation):
            raise QCError(
                f"{source}: trainer.threshold",
                f"{trainer.threshold} is chosen on each model's evaluation split; "
                "expected data.stratifier.fold_count or size_validation, or a fixed number",
            )
        if trainer.hide_test and not stratifier.size_test:
            raise QCError(
                f"{source}: trainer.hide_test", "there is no test split to seal; expected data.stratifier.size_test"
            )
        metric = self.register.metric if self.register else None
        if trainer.hide_test and metric and metric.startswith("test_"):
            raise QCError(
                f"{source}: register.metric",
                f"{metric} is sealed by trainer.hide_test; expected a metric of fold_validation, validation or train",
            )
        return self

    def require_model(self) -> Architecture:
        if self.model is None:
            raise QCError(f"{self.source or 'recipe'}: model", "required to train; expected a model section")
        return self.model

    def to_dict(self, relative_to: str | None = None) -> dict:
        """Plain data as in a recipe file; paths relative to ``relative_to`` (default: absolute)."""
        raw = self.model_dump(mode="json", exclude_defaults=True)
        raw = {"name": self.name, "seed": self.seed, **raw}
        if relative_to is not None:
            _relativize(raw, os.path.abspath(relative_to))
        return raw

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The recipe as YAML; written to ``path`` when given, paths relative to it."""
        if path is None:
            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
            return text
        for dataset in iter_dataset_specs(self.data):
            if dataset.path is None:
                raise QCError(
                    "data: dataset", "a DataFrame cannot be written to a recipe file; save it and give its path"
                )
        text = yaml.safe_dump(self.to_dict(relative_to=os.path.dirname(os.path.abspath(path))), sort_keys=False)
        Path(path).write_text(text)
        return text


def _relativize(raw: dict, base: str) -> None:
    for item in raw["data"]["inputs"]:
        item["dataset"]["path"] = os.path.relpath(item["dataset"]["path"], base)
    target = raw["data"].get("target") or {}
    if (target.get("dataset") or {}).get("path"):
        target["dataset"]["path"] = os.path.relpath(target["dataset"]["path"], base)
    if raw.get("model") and raw["model"].get("module"):
        raw["model"]["module"] = os.path.relpath(raw["model"]["module"], base)
    for metric in (raw.get("evaluation") or {}).get("metrics") or []:
        metric["function"] = relative_function(metric["function"], base)


# --- loading ---------------------------------------------------------------------


OVERRIDES = "overrides"  # where an override's mistake is blamed: --overrides / -P overrides=...
README_RECIPE = "README, section 'The recipe'"


def load_recipe(path: str | os.PathLike, overrides: str | None = None, classes: bool = True) -> Recipe:
    """Read a recipe file; every problem is a QCError naming the file (or the overrides) and the field.

    Keys are checked before any value (nothing is imported or read for that), first the file's,
    then the ones the overrides add, each with the closest valid name. ``classes=False`` leaves the
    encoder and estimator classes unchecked (and scikit-learn unimported): the command line checks
    the data's columns first, then loads the recipe again with them."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise QCError("recipe", f"file not found: {path}; expected a YAML recipe file")
    raw = load_yaml(read_text(path), path)
    if not isinstance(raw, dict):
        raise QCError(path, "expected a mapping of recipe keys (name, seed, data, model, ...)")
    check_keys(raw, path)
    raw = apply_overrides(raw, overrides)
    check_keys(raw, OVERRIDES, overrides)
    raw = settle_words(raw, Recipe)
    if raw.get("name") is None:
        raw["name"] = Path(path).stem
    return recipe_from_dict(raw, base_dir=os.path.dirname(path), source=path, overrides=overrides, classes=classes)


def check_keys(raw: dict, source: str, overrides: str | None = None) -> None:
    """The first key no section takes, as a QCError with the closest valid keys."""
    found = unknown_key(raw, Recipe)
    if found is None:
        return
    where, key, valid = found
    section = where.rpartition(".")[0].split("[")[0] or "the recipe"
    hint = did_you_mean(key, valid) or f" expected one of {', '.join(valid)};"
    raise QCError(f"{source}: {where}", f"unknown key '{key}' in {section};{hint} ({README_RECIPE}){_given(overrides)}")


def _given(overrides: str | None) -> str:
    return (
        f"; the overrides given: '{overrides}' (--overrides, or -P overrides=... under mlflow run)" if overrides else ""
    )


def recipe_from_dict(
    raw: dict,
    base_dir: str | None = None,
    source: str | None = None,
    overrides: str | None = None,
    classes: bool = True,
) -> Recipe:
    """``overrides``: the override text that changed ``raw``; an error in a key it set is blamed on it."""
    try:
        try:
            recipe = Recipe.model_validate(
                raw, context={"base_dir": base_dir or os.getcwd(), "source": source, CLASSES: classes}
            )
        except ValidationError as exc:
            raise from_validation_error(exc, source or "recipe") from None
    except QCError as exc:
        raise _blame_overrides(exc, source, overrides) from None
    recipe.source = source
    return recipe


def _blame_overrides(exc: QCError, source: str | None, overrides: str | None) -> QCError:
    """``exc`` as the overrides' error when the field it names is one they set (or lies below one)."""
    prefix = f"{source or 'recipe'}: "
    if not overrides or not exc.where.startswith(prefix):
        return exc
    field = re.sub(r"\[(\d+)\]", r".\1", exc.where[len(prefix) :])
    for keys, _ in parse_overrides(overrides):
        dotted = ".".join(keys)
        if field == dotted or field.startswith((dotted + ".", dotted + "[")):
            return QCError(f"{OVERRIDES}: {field}", exc.expected + _given(overrides))
    return exc
