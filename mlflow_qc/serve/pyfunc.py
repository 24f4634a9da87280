"""The deployable model of a model run (README: "Serving and inference"): loading and predicting.

raw rows -> the fitted preprocessing of that model's fold -> the model -> decoded
``prediction`` (+ ``probability_<class>``). ``serve.save`` writes the model folder; its
loader (``qc_loader``, carried in the model's ``code/``) hands over to ``_load_pyfunc`` here, as
the MLmodel of models logged before it did directly (``loader_module: mlflow_qc.serve.pyfunc``).
What this module imports is what a served model carries (``serve.bundle``): keep training-only
imports out of it. Every input problem is an ``MlflowException`` with INVALID_PARAMETER_VALUE
(HTTP 400 from the scoring server) naming the column.
"""
from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.errors import QCError
from mlflow_qc.models.outputs import decode_output
from mlflow_qc.tracking.names import MODEL_LIBRARY_DIR, MODEL_META_FILE, MODEL_PIPELINE_FILE, MODEL_TYPICAL


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
            if params:
                raise invalid_input(QCError("params", f"got {str(params)[:80]}; expected none: a qc model takes only its input"))
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
    from mlflow_qc.serve.scoring_guard import guard_json_decoding

    _guard_pyfunc_predict()
    guard_json_decoding()
    model = QCModel(Path(data_path))
    if "image" in (model.meta.get("kinds") or []):
        _accept_image_files()
    return model
