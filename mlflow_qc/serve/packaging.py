"""Packaging as a training observer: every finished model gets its pyfunc (``model/``, also the artifacts of
the run's MLflow logged model) and the tag ``qc.model_uri`` pointing at it (``models:/<model_id>``)."""

from __future__ import annotations

from mlflow_qc.run.observers import ModelFinished, TrainingObserver
from mlflow_qc.serve.save import save_qc_model
from mlflow_qc.tracking.names import MODEL_ARTIFACT, MODEL_URI


class PyfuncPackaging(TrainingObserver):
    def model_finished(self, event: ModelFinished) -> None:
        save_qc_model(
            event.folder / MODEL_ARTIFACT,
            event.fitted,
            event.entry,
            event.task.data_context,
            event.model_id,
            event.run_id,
        )
        event.tags[MODEL_URI] = (
            f"models:/{event.model_id}" if event.model_id else f"runs:/{event.run_id}/{MODEL_ARTIFACT}"
        )
