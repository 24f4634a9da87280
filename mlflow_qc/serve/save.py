"""Writing the pyfunc folder of one trained model (``model/`` of its run; README: "Serving and inference").

The folder: ``MLmodel`` (loader ``qc_loader``, signature, input example), the public requirements,
``code/`` (``serve.bundle``: the loader and the zipped inference modules) and ``data/qc/`` (the fitted
preprocessing, the adapter's folder, ``qc_model.json``); ``serve.pyfunc`` loads it.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import json
import re
import shutil
import tempfile
import uuid
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.cache import CacheEntry
from mlflow_qc.models.outputs import probability_columns
from mlflow_qc.serve.bundle import LOADER_MODULE, code_paths, pip_requirements
from mlflow_qc.serve.quiet import without_log_line
from mlflow_qc.tracking.names import (
    MODEL_DATA_DIR,
    MODEL_INPUT_SCHEMA,
    MODEL_LIBRARY_DIR,
    MODEL_META_FILE,
    MODEL_PIPELINE_FILE,
    MODEL_TYPICAL,
)

_EXAMPLE_CHECK_MESSAGE = "Validating input example against model signature"


def _colspec_type(values) -> str:
    kind = pd.api.types.infer_dtype(pd.Series(list(values)), skipna=True)
    return {"integer": "long", "floating": "double", "mixed-integer-float": "double", "boolean": "boolean"}.get(
        kind, "string"
    )


def output_schema(analysis_type: str, classes, forecast_columns=None):
    """The answer's columns; None for an image forecaster (it answers frames, an array)."""
    from mlflow.types import ColSpec, Schema

    if analysis_type == "forecasting":
        return (
            None
            if forecast_columns is None or len(forecast_columns) == 0 or forecast_columns[0].startswith("channel_")
            else Schema([ColSpec("double", name) for name in forecast_columns])
        )
    if analysis_type == "regression":
        return Schema([ColSpec("double", "prediction")])
    columns = [ColSpec(_colspec_type(classes), "prediction")]
    columns += [ColSpec("double", name) for name in probability_columns(classes)]
    return Schema(columns)


def input_schema(example):
    """Named columns for a table; an unnamed tensor (any number of samples) for N-D samples; named
    tensors for several N-D inputs; None for a table beside N-D inputs."""
    from mlflow.models import infer_signature
    from mlflow.types import Schema, TensorSpec

    if isinstance(example, np.ndarray):
        return Schema([TensorSpec(np.dtype(np.float64), (-1, *example.shape[1:]))])
    if isinstance(example, dict):
        if not all(isinstance(value, np.ndarray) for value in example.values()):
            return None
        return Schema(
            [TensorSpec(np.dtype(np.float64), (-1, *value.shape[1:]), name) for name, value in example.items()]
        )
    with warnings.catch_warnings():
        # the hint says integer columns cannot hold missing values; the schema keeps the
        # training dtypes on purpose, and conform() names the column when a request breaks that
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        return infer_signature(example).inputs


def save_qc_model(
    dest: Path, fitted, entry, context: str, model_id: str | None = None, run_id: str | None = None
) -> None:
    """Write the pyfunc model of one trained model (``fitted``: its adapter and model) into ``dest``;
    ``model_id``, ``run_id``: its MLflow logged model and model run, written into its MLmodel."""
    import mlflow.models

    decoding = getattr(fitted, "decoding", ())
    pipeline = decoding[1] if decoding else entry.pipeline(context)  # the training's own, not unpickled again
    library = fitted.adapter.library
    scaffold = _scaffold(library, str(entry.root), fitted.adapter.analysis_type, fitted.adapter.architecture.module)
    _write_scaffold(str(scaffold), Path(dest))
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
        MODEL_INPUT_SCHEMA: _input_schema_json(str(entry.root)),  # checked by the model itself (serve/pyfunc.py)
    }
    (staging / MODEL_META_FILE).write_text(json.dumps(meta, default=str))
    identity = dict(
        zip(
            IDENTITY_FIELDS,
            (
                model_id or uuid.uuid4().hex,  # MLflow's logged models use their id as the model's uuid
                str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)),
                _scaffold_size(str(scaffold)) + _files_size(staging),  # the scaffold's files are copied as they are
            ),
        )
    )
    extra = {key: value for key, value in (("model_id", model_id), ("run_id", run_id)) if value}
    template = _mlmodel_template(str(scaffold))
    if template is not None:  # the scaffold's MLmodel with this model's identity: what Model.save would write
        text = template
        for key, value in identity.items():
            text = re.sub(rf"^{key}: .*$", lambda _, line=yaml_line(key, value): line, text, count=1, flags=re.M)
        text += "".join(yaml_line(key, value) + "\n" for key, value in extra.items())
        Path(dest, "MLmodel").write_text(text)
        return
    model = mlflow.models.Model.load(Path(dest, "MLmodel"))
    for key, value in {**identity, **extra}.items():
        setattr(model, key, value)
    model.save(Path(dest, "MLmodel"))


IDENTITY_FIELDS = ("model_uuid", "utc_time_created", "model_size_bytes")  # the MLmodel fields each model sets


def yaml_line(key: str, value) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, when PyYAML has it: the same text, 4x faster
    return yaml.dump({key: value}, Dumper=dumper, default_flow_style=False).rstrip("\n")


def _files_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


@functools.lru_cache(maxsize=8)
def _scaffold_contents(scaffold: str) -> tuple[tuple[str, ...], tuple[tuple[str, bytes], ...]]:
    """The scaffold's folders and files (relative path, bytes), read once: every model writes the same."""
    root = Path(scaffold)
    found = sorted(root.rglob("*"))
    folders = tuple(str(p.relative_to(root)) for p in found if p.is_dir())
    files = tuple((str(p.relative_to(root)), p.read_bytes()) for p in found if p.is_file())
    return folders, files


def _write_scaffold(scaffold: str, dest: Path) -> None:
    """``shutil.copytree(scaffold, dest)`` from the bytes in memory: no reads, no copied file metadata."""
    folders, files = _scaffold_contents(scaffold)
    dest.mkdir(parents=True)
    for folder in folders:
        (dest / folder).mkdir()
    for name, content in files:
        with open(dest / name, "wb") as file:
            file.write(content)


def _scaffold_size(scaffold: str) -> int:
    return sum(len(content) for _, content in _scaffold_contents(scaffold)[1])


@functools.lru_cache(maxsize=8)
def _mlmodel_template(scaffold: str) -> str | None:
    """The scaffold's MLmodel text, read once; None when a field a model sets is not a line of its own."""
    text = Path(scaffold, "MLmodel").read_text()
    return text if all(len(re.findall(rf"^{key}: .*$", text, flags=re.M)) == 1 for key in IDENTITY_FIELDS) else None


@functools.lru_cache(maxsize=8)
def _scaffold(library: str, entry_root: str, analysis_type: str, module: str | None) -> Path:
    """Everything of a saved model but its data, made once per process and cache entry.

    ``mlflow.pyfunc.save_model`` spends ~50 ms checking requirements, signature and
    example on every call; they are the same for every model of an experiment, so each
    model copies this folder (its code included) and adds its own data and identity.
    """
    import mlflow.pyfunc
    from mlflow.models import ModelSignature

    entry = CacheEntry(entry_root)
    example = entry.input_example()
    classes = entry.meta["classes"]
    folder = Path(tempfile.mkdtemp(prefix="qc-model-scaffold-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    staging = folder / MODEL_DATA_DIR
    staging.mkdir()
    outputs = output_schema(analysis_type, classes, entry.meta.get("forecast_columns"))
    # No input schema: MLflow would enforce it before the model's own check (serve/pyfunc.py), dropping an
    # extra column silently and refusing an image model's base64 files; the model checks its input itself.
    signature = (
        ModelSignature(inputs=None, outputs=outputs)
        if outputs is not None and input_schema(example) is not None
        else None
    )
    with without_log_line("mlflow.pyfunc", _EXAMPLE_CHECK_MESSAGE):
        mlflow.pyfunc.save_model(
            str(folder / "model"),
            loader_module=LOADER_MODULE,
            data_path=str(staging),
            code_paths=list(code_paths()),
            pip_requirements=list(pip_requirements(library, "image" in entry.meta.get("kinds", ()), module)),
            metadata=_made_by(),
            signature=signature,
            input_example=example if signature is not None else None,
        )
    return folder / "model"


@functools.lru_cache(maxsize=8)
def _input_schema_json(entry_root: str) -> str | None:
    """The model's input schema (MLflow's Schema as JSON), or None for a table beside N-D inputs."""
    schema = input_schema(CacheEntry(entry_root).input_example())
    return None if schema is None else schema.to_json()


def _made_by() -> dict | None:
    """The MLmodel's ``metadata``: which mlflow-qc saved the model (its requirements no longer say)."""
    try:
        return {"mlflow_qc_version": metadata.version("mlflow-qc")}
    except metadata.PackageNotFoundError:
        return None
