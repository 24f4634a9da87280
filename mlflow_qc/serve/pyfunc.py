"""The deployable model of a model run (README: "Serving and inference"): loading and predicting.

raw rows -> the fitted preprocessing of that model's fold -> the model -> decoded
``prediction`` (+ ``probability_<class>``). ``serve.save`` writes the model folder; its
loader (``qc_loader``, carried in the model's ``code/``) hands over to ``_load_pyfunc`` here, as
the MLmodel of models logged before it did directly (``loader_module: mlflow_qc.serve.pyfunc``):
MLflow's documented ``loader_module`` route, nothing of MLflow changed. The model's MLmodel
has no input schema (MLflow would enforce one first, dropping an extra column silently), so
``QCModel.predict`` checks every request itself against the schema in ``qc_model.json``.
What this module imports is what a served model carries (``serve.bundle``): keep training-only
imports out of it. Every input problem is an ``MlflowException`` with INVALID_PARAMETER_VALUE
(HTTP 400 from the scoring server) whose message is the one line naming the problem.
"""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_qc.errors import QCError
from mlflow_qc.models.outputs import decode_output
from mlflow_qc.tracking.names import (
    MODEL_INPUT_SCHEMA,
    MODEL_LIBRARY_DIR,
    MODEL_META_FILE,
    MODEL_PIPELINE_FILE,
    MODEL_TYPICAL,
)


class InvalidInput(MlflowException):
    """An input the model cannot take: HTTP 400 from MLflow's scoring server with this line as its message.

    The scoring server prefixes ``Failed to predict data '<the whole request>'`` to the message of an
    MlflowException that ``predict`` raises; this one keeps its own line (a later message is not taken).
    """

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_line"):
            self._line = value


def invalid_input(exc: QCError) -> InvalidInput:
    return InvalidInput(str(exc), error_code=INVALID_PARAMETER_VALUE)


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

    @functools.cached_property
    def input_schema(self):
        """MLflow's ``Schema`` of the raw input (None: models logged before it, whose MLmodel has it, and
        a table beside N-D inputs)."""
        from mlflow.types import Schema

        text = self.meta.get(MODEL_INPUT_SCHEMA)
        return None if text is None else Schema.from_json(text)

    def get_raw_model(self) -> QCModel:
        """What ``PyFuncModel.get_raw_model()`` hands out: this model (its meta, pipeline, adapter)."""
        return self

    def predict(self, model_input, params=None) -> pd.DataFrame:
        """Every request checked here (columns, types, shapes, image files), then predicted."""
        try:
            if params:
                raise QCError("params", f"got {str(params)[:80]}; expected none: a qc model takes only its input")
            return self.predict_raw(self.checked(model_input, self.input_schema))
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
        index = pd.DataFrame(
            {"window": np.repeat(np.arange(count), shift), "horizon": np.tile(np.arange(1, shift + 1), count)}
        )
        index["step"] = index["window"] + windowed.size_window + index["horizon"] - 1
        return index, forecast.reshape(count * shift, *forecast.shape[2:])

    def checked(self, data, schema):
        """A request checked against the model's input ``schema``: a table with exactly its columns, cast to
        its types, or N-D samples as float64 tensors of the training shape (image files decoded). With no
        schema (a model logged before it: MLflow enforced its signature already) the request as it came."""
        from mlflow_qc.serve.requests import is_tabular, samples

        if schema is None:
            return data
        if is_tabular(self.meta):
            from mlflow_qc.serve.schema import conform

            return conform(data, schema) if schema.has_input_names() else data
        if len(self.meta["kinds"]) == 1:
            return samples(data, self.meta, 0, "input")
        if isinstance(data, dict):
            return {
                name: samples(value, self.meta, int(name.rsplit("_", 1)[1]), name)
                if name.startswith("input_")
                else value
                for name, value in data.items()
            }
        return data


def qc_model_of(model) -> QCModel | None:
    """The QCModel behind a loaded pyfunc model (``PyFuncModel.get_raw_model()``), if it is one."""
    try:
        raw = model.get_raw_model()
    except (AttributeError, NotImplementedError):
        return None
    return raw if isinstance(raw, QCModel) else None


def _load_pyfunc(data_path: str) -> QCModel:
    """MLflow's ``loader_module`` contract: the model behind ``mlflow.pyfunc.load_model`` and ``mlflow models serve``."""
    return QCModel(Path(data_path))
