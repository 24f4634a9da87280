"""The deployable model of a model run (DESIGN section 6).

raw rows -> the fitted preprocessing of that model's fold -> the model -> decoded
``prediction`` (+ ``probability_<class>``). Saved as an ``mlflow.pyfunc`` model with
``loader_module`` pointing here, so loading it needs mlflow_qc and the model's library,
nothing from the training session.
"""
from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

MODEL_ARTIFACT = "model"
DATA_DIR = "qc"
META_FILE = "qc_model.json"
PIPELINE_FILE = "pipeline.pkl"
MODEL_DIR = "model"

_LIBRARY_PACKAGES = {"sklearn": [], "keras": ["tensorflow-cpu", "keras"], "pytorch": ["torch"]}
_BASE_PACKAGES = ["mlflow", "scikit-learn", "pandas", "numpy", "pyarrow", "pydantic", "pyyaml"]


@lru_cache(maxsize=None)
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


def output_schema(analysis_type: str, classes):
    from mlflow.types import ColSpec, Schema

    from mlflow_qc.serve.decode import probability_columns

    if analysis_type == "regression":
        return Schema([ColSpec("double", "prediction")])
    columns = [ColSpec(_colspec_type(classes), "prediction")]
    columns += [ColSpec("double", name) for name in probability_columns(classes)]
    return Schema(columns)


def save_qc_model(dest: Path, outcome, entry, context: str) -> None:
    """Write the pyfunc model of one trained model into ``dest``."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.utils import _infer_schema

    pipeline = entry.pipeline(context)
    example = entry.input_example()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp, DATA_DIR)
        staging.mkdir()
        shutil.copyfile(entry.pipeline_path(context), staging / PIPELINE_FILE)
        outcome.adapter.save(outcome.model, staging / MODEL_DIR)
        meta = {
            "analysis_type": outcome.adapter.analysis_type,
            "library": outcome.adapter.library,
            "context": context,
            "raw_columns": pipeline.raw_columns,
            "classes": pipeline.classes,
        }
        (staging / META_FILE).write_text(json.dumps(meta, default=str))
        signature = ModelSignature(inputs=_infer_schema(example), outputs=output_schema(meta["analysis_type"], pipeline.classes))
        mlflow.pyfunc.save_model(
            str(dest),
            loader_module=__name__,
            data_path=str(staging),
            pip_requirements=list(pip_requirements(meta["library"])),
            signature=signature,
            input_example=example,
        )


class QCModel:
    """Raw DataFrame in, decoded DataFrame out."""

    def __init__(self, folder: Path):
        from mlflow_qc.models import load_trained

        self.meta = json.loads((folder / META_FILE).read_text())
        with open(folder / PIPELINE_FILE, "rb") as handle:
            self.pipeline = pickle.load(handle)
        self.adapter, self.model = load_trained(folder / MODEL_DIR)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(c for columns in self.meta["raw_columns"] for c in columns))

    def predict(self, model_input, params=None) -> pd.DataFrame:
        from mlflow_qc.serve.decode import decode_output

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        features = self.pipeline.transform([frame[columns] for columns in self.meta["raw_columns"]])
        output = np.asarray(self.adapter.predict(self.model, features))
        return decode_output(output, self.meta["analysis_type"], self.pipeline)


def _load_pyfunc(data_path: str) -> QCModel:
    return QCModel(Path(data_path))
