"""Batch inference with a QC model: ``mlflow-qc predict`` and ``mlflow_qc.Inference``.

New rows are checked against the model's training schema (same columns, castable dtypes),
predicted through the same pyfunc path the scoring server uses, written as CSV or Parquet;
with a target they are also scored with the training metrics and an inference run is logged
in the experiment of the model's run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from mlflow_qc.errors import QCError, one_line
from mlflow_qc.models.metrics import classification_metrics, regression_metrics
from mlflow_qc.models.outputs import label_positions, probability_columns
from mlflow_qc.serve.pyfunc import qc_model_of
from mlflow_qc.serve.quiet import no_progress_bars
from mlflow_qc.serve.requests import is_tabular
from mlflow_qc.serve.schema import as_frame
from mlflow_qc.tracking.names import FINISHED, INFERENCE, INFERENCE_ARTIFACT, LEVEL, MODEL_RUN_ID, MODEL_URI, RUN_NAME

OUTPUT_WRITERS = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}


class Inference:
    """A QC model loaded for new data: ``Inference(model_uri).predict(frame)``, ``.score(frame, target)``."""

    def __init__(self, model_uri: str):
        import mlflow.pyfunc

        self.model_uri = model_uri
        try:
            with no_progress_bars():
                self.pyfunc = mlflow.pyfunc.load_model(model_uri)
        except (MlflowException, OSError) as exc:
            raise QCError(
                "model_uri",
                f"cannot load {model_uri} ({one_line(exc)}); expected a runs:/ or models:/ URI of a QC model",
            ) from None
        self.model = qc_model_of(self.pyfunc)
        if self.model is None:
            raise QCError(
                "model_uri", f"{model_uri} is not a QC model; expected the model of a model run (tag qc.model_uri)"
            )
        self.schema = (
            self.model.input_schema or self.pyfunc.metadata.get_input_schema()
        )  # models logged before: their MLmodel's

    @property
    def columns(self) -> list[str]:
        return self.schema.input_names() if self.tabular else []

    @property
    def tabular(self) -> bool:
        return is_tabular(self.model.meta)

    def predict(self, samples, record_shifted: bool = False) -> pd.DataFrame:
        """Decoded ``prediction`` (+ ``probability_<class>``), one row per input sample, in order.

        A table's target column is ignored when present (a labelled file predicts as is); its
        columns are checked and cast by the pyfunc's own input check (``conform``). N-D models
        take their samples as a tensor (or, for images, a column of base64-encoded files).
        A forecaster takes one window of raw rows and answers its next steps; with
        ``record_shifted`` it takes a longer series and answers every window's forecasts, each
        aligned to the time step it forecasts, beside the actual value where the series has it.
        """
        if record_shifted:
            return self.forecast(samples)
        if self.tabular:
            samples = as_frame(samples)
            if self.model.target in samples.columns and self.model.target not in self.columns:
                samples = samples.drop(columns=[self.model.target])
        try:
            return self.pyfunc.predict(samples).reset_index(drop=True)
        except MlflowException as exc:
            if isinstance(exc.__cause__, QCError):
                raise exc.__cause__ from None
            raise QCError("input", one_line(exc.message)) from None

    def forecast(self, series) -> pd.DataFrame:
        """Every window of ``series`` forecast: ``window`` (its first row), ``horizon``, ``step`` (the row
        forecast), the forecast columns and, where the series reaches that step, ``actual_<column>``."""
        if self.model.analysis_type != "forecasting":
            raise QCError(
                "record_shifted", f"{self.model_uri} is a {self.model.analysis_type} model; expected a forecaster"
            )
        series = as_frame(series) if self.tabular else np.asarray(series)
        try:
            index, forecast = self.model.forecast_series(series)
        except MlflowException as exc:
            raise QCError("input", one_line(exc.message)) from None
        if not self.tabular:
            return index.assign(frame=list(forecast))
        columns = self.model.meta["raw_columns"][0]
        frame = pd.concat([index, pd.DataFrame(forecast, columns=columns)], axis=1)
        known = frame["step"] < len(series)
        for column in columns:
            frame[f"actual_{column}"] = np.where(
                known, series[column].to_numpy(np.float64)[frame["step"].clip(upper=len(series) - 1)], np.nan
            )
        return frame

    def score_forecast(self, series) -> dict[str, float]:
        """The forecasting metrics of every forecast whose step the series holds."""
        from mlflow_qc.models.metrics import forecasting_metrics

        frame = self.forecast(series).dropna()
        if frame.empty:
            raise QCError(
                "input",
                "no forecast step falls inside the series; expected a series longer than size_window + size_shift",
            )
        columns = self.model.meta["raw_columns"][0]
        return forecasting_metrics(
            frame[[f"actual_{c}" for c in columns]].to_numpy()[:, None], frame[columns].to_numpy()[:, None]
        )

    def score(self, frame: pd.DataFrame, target) -> dict[str, float]:
        """The training metrics on ``frame``; ``target``: a column of ``frame``, a file or the values."""
        features, truth = self.split_target(frame, target)
        return self.metrics(self.predict(features), truth)

    def split_target(self, frame: pd.DataFrame, target) -> tuple[pd.DataFrame, np.ndarray]:
        if isinstance(target, str) and isinstance(frame, pd.DataFrame) and target in frame.columns:
            return frame.drop(columns=[target]), frame[target].to_numpy()
        if isinstance(target, (str, os.PathLike)):
            if not os.path.isfile(target):
                raise QCError("target", f"'{target}' is neither a column of the input nor a file; expected one of them")
            values = self._target_file(read_table(str(target), "target"))
        else:
            values = np.asarray(target)
        if len(values) != len(frame):
            raise QCError("target", f"{len(values)} target value(s) for {len(frame)} row(s); expected one per row")
        return frame, values

    def _target_file(self, table: pd.DataFrame) -> np.ndarray:
        if self.model.target in table.columns:
            return table[self.model.target].to_numpy()
        if table.shape[1] == 1:
            return table.iloc[:, 0].to_numpy()
        raise QCError("target", f"columns {list(table.columns)}; expected one column or a column '{self.model.target}'")

    def metrics(self, predictions: pd.DataFrame, truth) -> dict[str, float]:
        """The training metrics of decoded ``predictions`` against the true labels / values."""
        truth = np.asarray(truth)
        if self.model.analysis_type == "regression":
            try:
                truth = truth.astype(np.float64)
            except (TypeError, ValueError):
                raise QCError(
                    "target",
                    f"values such as {truth[:3].tolist()} are not numbers; expected the target on its original scale",
                ) from None
            if np.isnan(truth).any():
                raise QCError("target", "missing values; expected a value for every row")
            columns = (
                ["prediction"]
                if "prediction" in predictions.columns
                else sorted(c for c in predictions.columns if c.startswith("prediction_"))
            )
            predicted = predictions[columns].to_numpy(np.float64)
            return regression_metrics(truth, predicted[:, 0] if predicted.shape[1] == 1 else predicted)
        proba = predictions[probability_columns(self.model.classes)].to_numpy(np.float64)
        return classification_metrics(self.class_index(truth), proba, threshold=self.model.threshold)

    def class_index(self, labels: np.ndarray) -> np.ndarray:
        """Positions of the true labels among the model's classes (as strings when types differ)."""
        classes = self.model.classes
        index = label_positions(labels, classes)
        unknown = list(dict.fromkeys(np.asarray(labels, dtype=object)[index < 0].tolist()))
        if unknown:
            raise QCError("target", f"label(s) {unknown[:5]} are not classes of the model; expected some of {classes}")
        return index


@dataclass
class InferenceResult:
    output_path: str
    rows: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    unused_target: str | None = None  # the input's target column, when it was not used to score

    def summary(self) -> str:
        line = f"wrote {self.rows} prediction(s) to {self.output_path} in {self.seconds:.2f}s"
        if self.unused_target:
            line += (
                f" (the input has the target column '{self.unused_target}': --target {self.unused_target} also scores)"
            )
        if self.run_id is None:
            return line
        scores = ", ".join(f"{name} {value:.4g}" for name, value in self.metrics.items())
        return f"{line}\ninference run {self.run_id}: {scores}"


def predict_file(model_uri: str, input_path: str, output_path: str, target: str | None = None) -> InferenceResult:
    """``mlflow-qc predict``: predict the rows of ``input_path`` into ``output_path``; score with a target."""
    started = time.time()
    writer_check(output_path)
    inference = Inference(model_uri)
    frame = read_table(input_path, "input") if inference.tabular else read_samples(input_path, inference.model.meta)
    truth = None
    if target:
        column = None if inference.tabular else manifest_column(input_path, target)
        frame, truth = (frame, column) if column is not None else inference.split_target(frame, target)
    predictions = inference.predict(frame)
    write_table(predictions, output_path)
    result = InferenceResult(os.path.abspath(output_path), len(predictions), 0.0)
    if truth is not None:
        result.metrics = inference.metrics(predictions, truth)
        result.run_id = log_inference_run(inference, input_path, output_path, target, result.metrics)
    elif inference.tabular and inference.model.target in frame.columns:
        result.unused_target = inference.model.target
    result.seconds = time.time() - started
    return result


def read_table(path: str, where: str) -> pd.DataFrame:
    from mlflow_qc.data.dataset import load_dataset
    from mlflow_qc.recipe import DatasetSpec

    if not os.path.isfile(path):
        raise QCError(where, f"file not found: {path}")
    return load_dataset(DatasetSpec(path=os.path.abspath(path)), where).frame


def read_samples(path: str, meta: dict) -> np.ndarray:
    """The N-D samples of a ``.npy``/``.npz`` file, an image folder or an image manifest (column ``file``),
    read as the model's single input was in training."""
    from mlflow_qc.data.dataset import load_dataset
    from mlflow_qc.recipe import DatasetSpec

    kinds = meta["kinds"]
    if len(kinds) != 1:
        raise QCError(
            "input", f"the model has {len(kinds)} inputs; expected a single-input model for a file of samples"
        )
    if not os.path.exists(path):
        raise QCError("input", f"file not found: {path}")
    color = (meta.get("colors") or [None])[0]
    spec = DatasetSpec(
        path=os.path.abspath(path), kind=kinds[0], color=color, image_column="file" if is_manifest(path) else None
    )
    return load_dataset(spec, "input").array


def is_manifest(path: str) -> bool:
    """A file of samples that is a table (an image manifest), not an array file."""
    return os.path.isfile(path) and not path.lower().endswith((".npy", ".npz"))


def manifest_column(path: str, column: str) -> np.ndarray | None:
    """``--target label`` of an image manifest: its column ``label``; None when the input has no such column."""
    if not is_manifest(path):
        return None
    table = read_table(path, "input")
    return table[column].to_numpy() if column in table.columns else None


def writer_check(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_WRITERS:
        raise QCError(
            "output", f"cannot tell the format of {path}; expected a name ending in {', '.join(OUTPUT_WRITERS)}"
        )
    return suffix


def write_table(frame: pd.DataFrame, path: str) -> None:
    separator = OUTPUT_WRITERS[writer_check(path)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if separator is None:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep=separator, index=False)


def log_inference_run(
    inference: Inference, input_path: str, output_path: str, target: str, scores: dict[str, float]
) -> str:
    """An inference run (tag qc.level=inference) linked to the model.

    Under ``mlflow run`` it is the run ``mlflow run`` created (``MLFLOW_RUN_ID``), as the
    experiment run is for training; otherwise a new run beside the model's run.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    source_run = source_run_id(client, inference.model_uri)
    tags = {LEVEL: INFERENCE, MODEL_URI: inference.model_uri, RUN_NAME: f"inference {Path(input_path).name}"}
    if source_run:
        tags[MODEL_RUN_ID] = source_run
    run_id = adopted = os.environ.get("MLFLOW_RUN_ID")
    if not adopted:
        experiment_id = client.get_run(source_run).info.experiment_id if source_run else _current_experiment_id()
        run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    params = {
        "model_uri": inference.model_uri,
        "input": os.path.abspath(input_path),
        "target": target,
        "output": os.path.abspath(output_path),
    }
    client.log_batch(
        run_id,
        metrics=[Metric(f"inference_{name}", float(value), now, 0) for name, value in scores.items()],
        params=[Param(key, str(value)[:6000]) for key, value in params.items()],
        tags=[RunTag(key, value) for key, value in tags.items()],
    )
    client.log_artifact(run_id, output_path, INFERENCE_ARTIFACT)
    if not adopted:
        client.set_terminated(run_id, FINISHED)
    return run_id


def source_run_id(client, model_uri: str) -> str | None:
    """The run that logged the model behind ``model_uri`` (runs:/ or models:/), None for a path."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    if RunsArtifactRepository.is_runs_uri(model_uri):
        return RunsArtifactRepository.parse_runs_uri(model_uri)[0]
    logged = logged_model_id(model_uri)
    if logged is not None:
        return client.get_logged_model(logged).source_run_id
    if ModelsArtifactRepository.is_models_uri(model_uri):
        name, version = get_model_name_and_version(client, model_uri)
        return client.get_model_version(name, version).run_id
    return None


def logged_model_id(model_uri: str) -> str | None:
    """The id in ``models:/<model_id>`` (an MLflow 3 logged model), else None."""
    rest = model_uri[len("models:/") :] if model_uri.startswith("models:/") else ""
    return rest if rest.startswith("m-") and "/" not in rest and "@" not in rest else None


def _current_experiment_id() -> str:
    """The experiment MLflow's environment names (MLFLOW_EXPERIMENT_ID / _NAME), else Default."""
    from mlflow.environment_variables import MLFLOW_EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME

    if MLFLOW_EXPERIMENT_ID.get():
        return MLFLOW_EXPERIMENT_ID.get()
    name = MLFLOW_EXPERIMENT_NAME.get()
    import mlflow

    found = mlflow.get_experiment_by_name(name) if name else None
    return found.experiment_id if found else "0"
