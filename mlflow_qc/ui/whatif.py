"""What-if for one model run (``/qc/whatif/<model_run_id>``): one field per raw feature, starting at
the training median (numbers) or most frequent value (anything else), ordered by permutation
importance when the model has it; each change is predicted by the model's own pyfunc and answered
with the prediction and the probabilities.

Only a registered model is loaded (``models:/NAME/VERSION``, the newest version made from the
run): any other run is refused before anything of it is unpickled or imported. The model is
loaded and predicts in a worker process of its own (``ui.whatif_worker``, one per model and
server process) under a memory limit, each answer awaited at most ``MLFLOW_QC_WHATIF_TIMEOUT``
seconds, so a model that hangs or crashes costs its own request a 504 / 502, not the server.

A value the model cannot take comes back as a message for its field (HTTP 400), never as a
prediction made from something else.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from mlflow_qc.data.typical import one_table
from mlflow_qc.errors import QCError
from mlflow_qc.tracking.names import FINISHED, IMPORTANCE_ARTIFACT, MODEL, MODEL_DATA, MODEL_META_FILE
from mlflow_qc.ui.store import README, PageError, Store, shown
from mlflow_qc.ui.whatif_worker import MEMORY_ENV

MODELS_KEPT = 4  # loaded models (worker processes) per server process, the most recently used kept
TIMEOUT_ENV, DEFAULT_TIMEOUT = "MLFLOW_QC_WHATIF_TIMEOUT", 30.0  # seconds one prediction may take
LOAD_TIMEOUT_ENV, DEFAULT_LOAD_TIMEOUT = "MLFLOW_QC_WHATIF_LOAD_TIMEOUT", 180.0  # seconds a worker may take to load
VERSIONS_LISTED = 1000  # registered versions read for the list
ANSWER_LIMIT = 16 * 1024 * 1024  # bytes of one answer line from a worker
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


class ModelWorker:
    """The server's side of one model's worker process (``ui.whatif_worker``): JSON lines over its
    pipes, each answer awaited at most ``timeout`` seconds; a worker that does not answer in time,
    or exits, is stopped and the request answered 504 / 502 (the next request starts a new one)."""

    def __init__(self, model_uri: str, store: Store, load_timeout: float):
        env = {**os.environ, "MLFLOW_TRACKING_URI": store.tracking_uri, "MLFLOW_REGISTRY_URI": store.registry_uri}
        for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow_qc.ui.whatif_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.lock = threading.Lock()
        self._buffer = b""
        try:
            self.description = self.ask({"model_uri": model_uri}, load_timeout, "load")
        except PageError:
            self.stop()
            raise

    def ask(self, message: dict, timeout: float, what: str = "predict") -> dict:
        if not self.alive:  # stopped while this request waited for it
            raise PageError(
                503,
                "model",
                "the model's worker was stopped; expected to try again (a new one starts with the next request)",
            )
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            pass  # it exited: read_line says how
        line = self.read_line(time.monotonic() + timeout, timeout, what)
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not answer.keys() & {"ok", "field", "error"}:
            self.stop()
            raise PageError(
                502,
                "model",
                f"the model's worker answered {shown(line)} to {what}; expected one JSON answer "
                "(the worker was stopped)",
            )
        if "error" in answer:
            raise PageError(422, "model", f"{what}: {answer['error']}")
        return answer if "field" in answer else answer["ok"]

    def read_line(self, deadline: float, timeout: float, what: str) -> bytes:
        """One line of the worker's answers, read without ever blocking past ``deadline``."""
        out = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                self.stop()
                raise PageError(
                    504,
                    "model",
                    f"no answer to {what} within {timeout:g} s; the model's worker was stopped "
                    f"(a longer limit: {TIMEOUT_ENV}, {LOAD_TIMEOUT_ENV}; {README})",
                )
            chunk = os.read(out, 65536)
            if len(self._buffer) + len(chunk) > ANSWER_LIMIT:
                self.stop()
                raise PageError(
                    502,
                    "model",
                    f"the model's worker answered {what} with more than {ANSWER_LIMIT} bytes; "
                    "expected one prediction (the worker was stopped)",
                )
            if not chunk:
                self.stop()
                raise PageError(
                    502,
                    "model",
                    f"the model's worker exited (code {self.process.returncode}) during {what}; "
                    "expected a model that loads and predicts within the worker's memory limit "
                    f"({MEMORY_ENV}; {README})",
                )
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class LoadedModel:
    run_id: str
    version: str  # models:/NAME/VERSION
    worker: ModelWorker
    fields: list[Field]
    analysis_type: str
    classes: list | None
    typical_source: str  # "training rows" or "input example"
    loaded_at: float
    timeout: float


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
        raise PageError(
            404,
            "run_id",
            f"run {run.info.run_id} is a model of {takes}; expected a model of one table "
            f"(the what-if page has one field per column)",
        )


def registered_version(store: Store, run: Run):
    """The newest registered model version made from ``run`` (its id is checked: 32 hex digits)."""
    versions = store.client.search_model_versions(f"run_id='{run.info.run_id}'")
    if not versions:
        raise PageError(
            404,
            "run_id",
            f"run {run.info.run_id}'s model is not a registered model version; expected a "
            f"registered model (the what-if page loads registered models only: register it "
            f"with 'mlflow-qc register' or MLflow's Model Registry; {README})",
        )
    return max(versions, key=lambda v: (int(v.creation_timestamp or 0), int(v.version)))


def registered_versions(store: Store) -> list[dict]:
    """The registered model versions made from model runs the user may read, newest first (``/qc/whatif/``)."""
    versions = [v for v in store.client.search_model_versions(max_results=VERSIONS_LISTED) if v.run_id]
    experiments = {}
    for run_id in {v.run_id for v in versions}:
        with contextlib.suppress(MlflowException):
            experiments[run_id] = store.client.get_run(run_id).info.experiment_id
    readable = set(store.readable_ids(sorted(set(experiments.values()))))
    shown_versions = [v for v in versions if experiments.get(v.run_id) in readable]
    shown_versions.sort(key=lambda v: (-int(v.creation_timestamp or 0), v.name, -int(v.version)))
    return [{"name": v.name, "version": str(v.version), "run_id": v.run_id} for v in shown_versions]


def model_uri(store: Store, version) -> str:
    """``models:/NAME/VERSION``, or the version's files when they sit behind the server's artifact proxy."""
    source = store.client.get_model_version_download_uri(version.name, version.version)
    return (
        store.local_uri(source)
        if source.startswith("mlflow-artifacts:")
        else f"models:/{version.name}/{version.version}"
    )


def seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        raise QCError(name, f"{os.environ[name]!r}; expected a number of seconds") from None
    return value if value > 0 else default


def load_model(store: Store, run: Run) -> LoadedModel:
    check_one_table(store, run)
    version = registered_version(store, run)  # before anything is loaded: only a registered model gets a worker
    worker = ModelWorker(model_uri(store, version), store, seconds(LOAD_TIMEOUT_ENV, DEFAULT_LOAD_TIMEOUT))
    described = worker.description
    typical, example = described["typical"], described["example"] or {}
    importance = importance_of(store, run)
    fields = []
    for name, schema_type in described["columns"]:
        made = typical_field(name, schema_type, (typical or {}).get(name), example.get(name))
        made.importance = importance.get(name)
        fields.append(made)
    if importance:
        fields.sort(key=lambda f: -f.importance if f.importance is not None else math.inf)
    return LoadedModel(
        run.info.run_id,
        f"models:/{version.name}/{version.version}",
        worker,
        fields,
        described["analysis_type"],
        described["classes"],
        "training rows" if typical else "input example",
        time.time(),
        seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT),
    )


class Models:
    """Loaded models by run id, each in its worker process: loaded once (concurrent first requests
    wait for the one load); a stopped worker is dropped, and the next request loads the model again."""

    def __init__(self, size: int = MODELS_KEPT):
        self.size = size
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def get(self, store: Store, run_id) -> LoadedModel:
        run = store.run(run_id, "run_id", (MODEL,))
        if run.info.status != FINISHED:
            raise PageError(404, "run_id", f"run {run.info.run_id} is {run.info.status}; expected a finished model run")
        key = run.info.run_id
        with self._lock:
            if key in self._models and self._models[key].worker.alive:
                self._models.move_to_end(key)
                return self._models[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._models and self._models[key].worker.alive:
                    return self._models[key]
            loaded = load_model(store, run)
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
                while len(self._models) > self.size:
                    self._models.popitem(last=False)[1].worker.stop()
            return loaded

    def close(self) -> None:
        with self._lock:
            for loaded in self._models.values():
                loaded.worker.stop()
            self._models.clear()


def parse(fields: list[Field], values) -> dict:
    """The request's text values as the model's types; FieldErrors naming every field that cannot be."""
    if not isinstance(values, dict):
        raise FieldErrors({"": f"got {type(values).__name__}; expected an object of field values"})
    names = {f.name for f in fields}
    unknown = [str(k) for k in values if k not in names]
    errors = (
        {"": f"unknown field(s) {', '.join(shown(k) for k in unknown[:3])}; expected the model's raw columns"}
        if unknown
        else {}
    )
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
    if not loaded.worker.lock.acquire(timeout=loaded.timeout):
        raise PageError(
            503, "model", f"busy with another prediction for {loaded.timeout:g} s; expected to try again later"
        )
    try:
        answer = loaded.worker.ask({"row": row}, loaded.timeout)
    finally:
        loaded.worker.lock.release()
    if "field" in answer:
        named = (
            answer.get("where")
            if answer.get("where") in {f.name for f in loaded.fields}
            else next((f.name for f in loaded.fields if f"'{f.name}'" in answer["field"]), "")
        )
        raise FieldErrors({named: answer["field"]})
    return {**answer, "loaded_at": loaded.loaded_at, "analysis_type": loaded.analysis_type}
