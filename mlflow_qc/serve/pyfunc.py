"""The deployable model of a model run (README: "Serving and inference").

raw rows -> the fitted preprocessing of that model's fold -> the model -> decoded
``prediction`` (+ ``probability_<class>``). Saved as an ``mlflow.pyfunc`` model with
``loader_module`` pointing here, so loading it needs mlflow_qc and the model's library,
nothing from the training session. Every input problem is an ``MlflowException`` with
INVALID_PARAMETER_VALUE (HTTP 400 from the scoring server) naming the column.
"""
from __future__ import annotations

import atexit
import datetime
import functools
import json
import pickle
import shutil
import tempfile
import uuid
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.errors import QCError
from mlflow_qc.models.outputs import decode_output, probability_columns
from mlflow_qc.tracking.names import (
    MODEL_DATA_DIR, MODEL_LIBRARY_DIR, MODEL_META_FILE, MODEL_PIPELINE_FILE, MODEL_TYPICAL,
)

_LIBRARY_PACKAGES = {"sklearn": [], "keras": ["tensorflow-cpu", "keras"], "pytorch": ["torch"]}
_BASE_PACKAGES = ["mlflow", "scikit-learn", "pandas", "numpy", "pyarrow", "pydantic", "pyyaml"]
_EXAMPLE_CHECK_MESSAGE = "Validating input example against model signature"


@functools.lru_cache(maxsize=None)
def pip_requirements(library: str) -> tuple[str, ...]:
    """Pinned to this environment; never inferred (inference costs seconds per model)."""
    pins = []
    for package in _BASE_PACKAGES + _LIBRARY_PACKAGES[library]:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    try:
        pins.append(f"mlflow-qc=={metadata.version('mlflow-qc')}")
    except metadata.PackageNotFoundError:
        pins.append("mlflow-qc")
    return tuple(pins)


def _colspec_type(values) -> str:
    kind = pd.api.types.infer_dtype(pd.Series(list(values)), skipna=True)
    return {"integer": "long", "floating": "double", "mixed-integer-float": "double", "boolean": "boolean"}.get(kind, "string")


def output_schema(analysis_type: str, classes, forecast_columns=None):
    """The answer's columns; None for an image forecaster (it answers frames, an array)."""
    from mlflow.types import ColSpec, Schema

    if analysis_type == "forecasting":
        return None if forecast_columns is None or len(forecast_columns) == 0 or forecast_columns[0].startswith("channel_") \
            else Schema([ColSpec("double", name) for name in forecast_columns])
    if analysis_type == "regression":
        return Schema([ColSpec("double", "prediction")])
    columns = [ColSpec(_colspec_type(classes), "prediction")]
    columns += [ColSpec("double", name) for name in probability_columns(classes)]
    return Schema(columns)


def input_schema(example):
    """Named columns for a table; an unnamed tensor (any number of samples) for N-D samples; named
    tensors for several N-D inputs; None (no signature) for a table beside N-D inputs."""
    from mlflow.types import Schema, TensorSpec
    from mlflow.types.utils import _infer_schema

    if isinstance(example, np.ndarray):
        return Schema([TensorSpec(np.dtype(np.float64), (-1, *example.shape[1:]))])
    if isinstance(example, dict):
        if not all(isinstance(value, np.ndarray) for value in example.values()):
            return None
        return Schema([TensorSpec(np.dtype(np.float64), (-1, *value.shape[1:]), name) for name, value in example.items()])
    with warnings.catch_warnings():
        # the hint says integer columns cannot hold missing values; the schema keeps the
        # training dtypes on purpose, and conform() names the column when a request breaks that
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        return _infer_schema(example)


def save_qc_model(dest: Path, fitted, entry, context: str) -> None:
    """Write the pyfunc model of one trained model (``fitted``: its adapter and model) into ``dest``."""
    import mlflow.models

    pipeline = entry.pipeline(context)
    library = fitted.adapter.library
    scaffold = _scaffold(library, str(entry.root), fitted.adapter.analysis_type)
    shutil.copytree(scaffold, dest)
    staging = Path(dest, "data", MODEL_DATA_DIR)
    shutil.copyfile(entry.pipeline_path(context), staging / MODEL_PIPELINE_FILE)
    fitted.adapter.save(fitted.model, staging / MODEL_LIBRARY_DIR)
    meta = {
        "analysis_type": fitted.adapter.analysis_type,
        "library": library,
        "context": context,
        "raw_columns": pipeline.raw_columns,
        "classes": pipeline.classes,
        MODEL_TYPICAL: entry.typical(context),
        "kinds": pipeline.kinds,
        "raw_shapes": pipeline.raw_shapes,
        "colors": [getattr(item, "color", None) for item in pipeline.inputs],
        "windows": pipeline.windows,
        "threshold": fitted.threshold,  # binary: P(class 1) > threshold is class 1
    }
    (staging / MODEL_META_FILE).write_text(json.dumps(meta, default=str))
    model = mlflow.models.Model.load(Path(dest, "MLmodel"))
    model.model_uuid = uuid.uuid4().hex
    model.utc_time_created = str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    model.model_size_bytes = sum(f.stat().st_size for f in Path(dest).rglob("*") if f.is_file())
    model.save(Path(dest, "MLmodel"))


@functools.lru_cache(maxsize=8)
def _scaffold(library: str, entry_root: str, analysis_type: str) -> Path:
    """Everything of a saved model but its data, made once per process and cache entry.

    ``mlflow.pyfunc.save_model`` spends ~50 ms checking requirements, signature and
    example on every call; they are the same for every model of an experiment, so each
    model copies this folder and adds its own data and identity.
    """
    import mlflow.pyfunc
    from mlflow.models import ModelSignature

    from mlflow_qc.cache import CacheEntry
    from mlflow_qc.serve.quiet import without_log_line

    entry = CacheEntry(entry_root)
    example = entry.input_example()
    classes = entry.meta["classes"]
    folder = Path(tempfile.mkdtemp(prefix="qc-model-scaffold-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    staging = folder / MODEL_DATA_DIR
    staging.mkdir()
    inputs = input_schema(example)
    outputs = output_schema(analysis_type, classes, entry.meta.get("forecast_columns"))
    signature = ModelSignature(inputs=inputs, outputs=outputs) if inputs is not None else None
    with without_log_line("mlflow.pyfunc", _EXAMPLE_CHECK_MESSAGE):
        mlflow.pyfunc.save_model(
            str(folder / "model"),
            loader_module=__name__,
            data_path=str(staging),
            pip_requirements=list(pip_requirements(library)),
            signature=signature,
            input_example=example if signature is not None else None,
        )
    return folder / "model"


def invalid_input(exc: QCError):
    """The exception MLflow's scoring server answers with HTTP 400 and this message."""
    from mlflow.exceptions import MlflowException

    return MlflowException.invalid_parameter_value(str(exc))


class QCModel:
    """Raw samples in (a table, a tensor, encoded image files; see ``serve.requests``), decoded table out."""

    def __init__(self, folder: Path):
        from mlflow_qc.models import load_trained

        self.meta = json.loads((folder / MODEL_META_FILE).read_text())
        with open(folder / MODEL_PIPELINE_FILE, "rb") as handle:
            self.pipeline = pickle.load(handle)
        self.adapter, self.model = load_trained(folder / MODEL_LIBRARY_DIR)

    @property
    def analysis_type(self) -> str:
        return self.meta["analysis_type"]

    @property
    def classes(self) -> list | None:
        return self.meta["classes"]

    @property
    def target(self) -> str | None:
        return self.pipeline.label_name

    @property
    def typical(self) -> dict | None:
        """The typical training sample per raw column (``data/typical.py``); None for models logged before it."""
        return self.meta.get(MODEL_TYPICAL)

    @property
    def threshold(self) -> float | None:
        """A binary model's decision threshold (None: 0.5; models saved before it had none)."""
        return self.meta.get("threshold")

    def predict(self, model_input, params=None) -> pd.DataFrame:
        try:
            return self.predict_raw(model_input)
        except QCError as exc:
            raise invalid_input(exc) from exc

    def predict_raw(self, model_input) -> pd.DataFrame:
        """QCError for samples the preprocessing cannot take (unknown category, gap it cannot fill, shape)."""
        from mlflow_qc.serve.requests import raw_inputs

        features = self.pipeline.transform(raw_inputs(model_input, self.meta))
        output = np.asarray(self.adapter.predict(self.model, features))
        return decode_output(output, self.meta["analysis_type"], self.pipeline, self.threshold)

    def forecast_series(self, series) -> tuple[pd.DataFrame, object]:
        """Every window of a longer series (a table of raw rows, or frames) forecast at once:
        (a table of ``window``, ``horizon``, ``step`` per forecast step, the forecasts: columns, or frames)."""
        from mlflow_qc.serve.requests import raw_inputs

        [raw] = raw_inputs(series, self.meta)
        windowed = self.pipeline.inputs[0]
        features = windowed.windows(raw, "input")
        forecast = self.pipeline.decode_target(np.asarray(self.adapter.predict(self.model, [features])))
        count, shift = forecast.shape[:2]
        index = pd.DataFrame({"window": np.repeat(np.arange(count), shift), "horizon": np.tile(np.arange(1, shift + 1), count)})
        index["step"] = index["window"] + windowed.size_window + index["horizon"] - 1
        return index, forecast.reshape(count * shift, *forecast.shape[2:])

    def checked(self, data, schema):
        """A request made ready for MLflow's own schema enforcement: a table with exactly the signature's
        columns, or N-D samples as float64 tensors of the training shape (image files decoded)."""
        from mlflow_qc.serve.requests import is_tabular, samples

        if schema is None:
            return data
        if is_tabular(self.meta):
            from mlflow_qc.serve.schema import conform

            return conform(data, schema) if schema.has_input_names() else data
        if len(self.meta["kinds"]) == 1:
            return samples(data, self.meta, 0, "input")
        if isinstance(data, dict):
            return {name: samples(value, self.meta, int(name.rsplit("_", 1)[1]), name) if name.startswith("input_") else value
                    for name, value in data.items()}
        return data


def _guard_pyfunc_predict() -> None:
    """Check QC models' raw input before MLflow's schema enforcement, once per process.

    MLflow only warns about extra columns and drops them before ``QCModel.predict`` sees the
    frame, so a request with a misspelt or unexpected column would silently succeed. The
    scoring server and ``mlflow.pyfunc.load_model`` both call ``PyFuncModel.predict`` on a
    ``PyFuncModel`` that MLflow builds after ``_load_pyfunc`` returns, so the check wraps that
    method; it touches nothing but models whose implementation is a ``QCModel``.
    """
    from mlflow.pyfunc import PyFuncModel

    original = PyFuncModel.predict
    if getattr(original, "_qc_guard", False):
        return

    @functools.wraps(original)
    def predict(self, data, params=None):
        if isinstance(self._model_impl, QCModel):
            try:
                data = self._model_impl.checked(data, self.metadata.get_input_schema())
            except QCError as exc:
                raise invalid_input(exc) from exc
        return original(self, data, params)

    predict._qc_guard = True
    PyFuncModel.predict = predict


def _accept_image_files() -> None:
    """Let the scoring server hand an image model's ``dataframe_split``/``dataframe_records`` body over
    as a table, once per process.

    The server parses such a body against the signature, and an image model's signature is a
    tensor: a column of base64-encoded image files would fail as "could not convert string to
    float" before the model sees it. Tables for tensor signatures are parsed without the
    signature instead; the model's own check (``QCModel.checked``) decodes or refuses them.
    """
    from mlflow.pyfunc import scoring_server

    original = scoring_server.infer_and_parse_data
    if getattr(original, "_qc_images", False):
        return

    @functools.wraps(original)
    def parse(data, schema=None):
        tables = isinstance(data, dict) and data.keys() & {scoring_server.DF_SPLIT, scoring_server.DF_RECORDS}
        if tables and schema is not None and schema.is_tensor_spec():
            schema = None
        return original(data, schema)

    parse._qc_images = True
    scoring_server.infer_and_parse_data = parse


def _load_pyfunc(data_path: str) -> QCModel:
    _guard_pyfunc_predict()
    model = QCModel(Path(data_path))
    if "image" in (model.meta.get("kinds") or []):
        _accept_image_files()
    return model
