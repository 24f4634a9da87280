"""What-if for one model run (``/qc/whatif/<model_run_id>``): one field per raw feature, starting at
the training median (numbers) or most frequent value (anything else), ordered by permutation
importance when the model has it; each change is predicted by the model's own pyfunc, loaded
once per model and server process, and answered with the prediction and the probabilities.

A value the model cannot take comes back as a message for its field (HTTP 400), never as a
prediction made from something else.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import pandas as pd
from mlflow.entities import Run

from mlflow_qc.data.typical import one_table
from mlflow_qc.errors import QCError
from mlflow_qc.models.outputs import probability_columns
from mlflow_qc.serve.inference import Inference
from mlflow_qc.tracking.names import FINISHED, IMPORTANCE_ARTIFACT, MODEL, MODEL_ARTIFACT, MODEL_DATA, MODEL_META_FILE
from mlflow_qc.ui.store import PageError, Store, shown

MODELS_KEPT = 4  # loaded models per server process, the most recently used kept
NUMBER_TYPES = {"double": False, "float": False, "long": True, "integer": True}  # schema type -> whole numbers only


@dataclass
class Field:
    name: str
    kind: str  # number, boolean, category
    whole: bool
    default: str
    hint: str
    values: list[str] = field(default_factory=list)  # suggestions (categories) or choices (booleans)
    importance: float | None = None


class FieldErrors(Exception):
    """Values the model cannot take, by field name (and ``""`` for the request as a whole)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))


def number_text(value) -> str:
    """A number as a person would type it: whole numbers without a point, others to 10 significant
    digits (a median of floats carries binary noise: 0.32689999999999997 -> 0.3269)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{float(value):.10g}"


def typical_field(name: str, schema_type: str, typical: dict | None, example) -> Field:
    """A field from the model's typical training sample, or from its input example (older models)."""
    whole = NUMBER_TYPES.get(schema_type)
    if schema_type == "boolean":
        default = typical["default"] if typical else bool(example)
        return Field(name, "boolean", False, str(bool(default)).lower(), "true or false", ["true", "false"])
    if whole is not None:
        default = typical.get("default") if typical else example
        low, high = (typical.get("min"), typical.get("max")) if typical else (None, None)
        hint = f"training range {number_text(low)} to {number_text(high)}" if low is not None else "a number"
        return Field(name, "number", whole, number_text(default), hint)
    values = [str(v) for v in (typical or {}).get("values", [])]
    distinct = (typical or {}).get("distinct", len(values))
    default = str(typical["default"]) if typical else ("" if example is None else str(example))
    hint = f"one of {distinct} training values" if typical else "text"
    return Field(name, "category", False, default, hint, values)


@dataclass
class LoadedModel:
    run_id: str
    inference: Inference
    fields: list[Field]
    analysis_type: str
    classes: list | None
    typical_source: str  # "training rows" or "input example"
    loaded_at: float
    folder: str | None  # a downloaded copy to remove when evicted (None: read in place)
    lock: threading.Lock = field(default_factory=threading.Lock)


def importance_of(store: Store, run: Run) -> dict[str, float]:
    """Median loss increase per original column (``qc/importance.csv``), when importance was computed."""
    table = store.read_table(run, IMPORTANCE_ARTIFACT)
    if table is None or not {"level", "column", "median"} <= set(table.columns):
        return {}
    original = table[table["level"] == "original"]
    return {str(c): float(m) for c, m in zip(original["column"], original["median"]) if not math.isnan(m)}


def check_one_table(store: Store, run: Run) -> None:
    """Refuse, before loading it, a model that does not take one row of raw columns (N-D inputs, windows)."""
    text = store.read_text(run, f"{MODEL_DATA}/{MODEL_META_FILE}")
    try:
        meta = json.loads(text) if text else {}
    except ValueError:
        meta = {}
    if not one_table(meta.get("kinds"), meta.get("windows")):
        takes = "windows of steps" if any(meta.get("windows") or []) else f"{'/'.join(meta['kinds'])} inputs"
        raise PageError(404, "run_id", f"run {run.info.run_id} is a model of {takes}; expected a model of one table "
                                       f"(the what-if page has one field per column)")


def load_model(store: Store, run: Run) -> LoadedModel:
    check_one_table(store, run)
    scratch = tempfile.mkdtemp(prefix="qc-whatif-")
    path = store.artifact_path(run, MODEL_ARTIFACT, scratch)
    if path is None or not (path / "MLmodel").is_file():
        shutil.rmtree(scratch, ignore_errors=True)
        raise PageError(404, "run_id", f"run {run.info.run_id} has no {MODEL_ARTIFACT}/ artifact; expected a model run with its pyfunc")
    in_place = not str(path).startswith(scratch)
    if in_place:
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        inference = Inference(str(path))
    except QCError as exc:
        raise PageError(404, "run_id", f"run {run.info.run_id}: {exc.expected}") from None
    typical = inference.model.typical
    example = None if typical else inference.pyfunc.input_example
    example_row = example.iloc[0] if isinstance(example, pd.DataFrame) and len(example) else {}
    importance = importance_of(store, run)
    fields = []
    for spec in inference.schema.inputs:
        made = typical_field(spec.name, spec.type.name, (typical or {}).get(spec.name), example_row.get(spec.name))
        made.importance = importance.get(spec.name)
        fields.append(made)
    if importance:
        fields.sort(key=lambda f: -f.importance if f.importance is not None else math.inf)
    model = inference.model
    return LoadedModel(run.info.run_id, inference, fields, model.analysis_type, model.classes,
                       "training rows" if typical else "input example", time.time(), None if in_place else scratch)


class Models:
    """Loaded models by run id: each loaded once (concurrent first requests wait for the one load)."""

    def __init__(self, size: int = MODELS_KEPT):
        self.size = size
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, run_id) -> LoadedModel:
        run = store.run(run_id, "run_id", (MODEL,))
        if run.info.status != FINISHED:
            raise PageError(404, "run_id", f"run {run.info.run_id} is {run.info.status}; expected a finished model run")
        key = run.info.run_id
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            loaded = load_model(store, run)
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
                while len(self._models) > self.size:
                    _, evicted = self._models.popitem(last=False)
                    if evicted.folder:
                        shutil.rmtree(evicted.folder, ignore_errors=True)
            return loaded


def parse(fields: list[Field], values) -> dict:
    """The request's text values as the model's types; FieldErrors naming every field that cannot be."""
    if not isinstance(values, dict):
        raise FieldErrors({"": f"got {type(values).__name__}; expected an object of field values"})
    names = {f.name for f in fields}
    unknown = [str(k) for k in values if k not in names]
    errors = {"": f"unknown field(s) {', '.join(shown(k) for k in unknown[:3])}; expected the model's raw columns"} if unknown else {}
    row = {}
    for spec in fields:
        text = values.get(spec.name)
        if not isinstance(text, str):
            errors[spec.name] = "missing; expected a value"
            continue
        try:
            row[spec.name] = parse_value(spec, text)
        except ValueError as exc:
            errors[spec.name] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return row


def parse_value(spec: Field, text: str):
    value = text.strip()
    if spec.kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{shown(text)} is not true or false; expected true or false")
        return value.lower() == "true"
    if spec.kind == "category":
        return text
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a number; expected a number ({spec.hint})") from None
    if not math.isfinite(number):
        raise ValueError(f"{shown(text)} is not a finite number; expected a number ({spec.hint})")
    if spec.whole:
        if not number.is_integer():
            raise ValueError(f"{shown(text)} is not a whole number; expected a whole number ({spec.hint})")
        return int(number)
    return number


def predict(loaded: LoadedModel, values) -> dict:
    """The model's answer for one sample: prediction and, for a classifier, the probability per class."""
    row = parse(loaded.fields, values)
    frame = pd.DataFrame([row], columns=[f.name for f in loaded.fields])
    try:
        with loaded.lock:
            output = loaded.inference.predict(frame)
    except QCError as exc:
        named = next((f.name for f in loaded.fields if f"'{f.name}'" in str(exc)), "")
        raise FieldErrors({named: exc.expected if named else str(exc)}) from None
    answer = {"prediction": plain(output["prediction"].iloc[0]), "probabilities": [],
              "loaded_at": loaded.loaded_at, "analysis_type": loaded.analysis_type}
    if loaded.classes:
        for label, column in zip(loaded.classes, probability_columns(loaded.classes)):
            answer["probabilities"].append({"class": str(label), "probability": float(output[column].iloc[0])})
    return answer


def plain(value):
    return value.item() if hasattr(value, "item") else value
