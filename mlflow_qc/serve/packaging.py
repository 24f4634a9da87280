"""Packaging as a training observer: every finished model gets its pyfunc (``model/``) and the
tag ``qc.model_uri`` pointing at it."""
from __future__ import annotations

from mlflow_qc.run.observers import ModelFinished, TrainingObserver
from mlflow_qc.serve.save import save_qc_model
from mlflow_qc.tracking.names import MODEL_ARTIFACT, MODEL_URI


class PyfuncPackaging(TrainingObserver):
    def model_finished(self, event: ModelFinished) -> None:
        save_qc_model(event.folder / MODEL_ARTIFACT, event.fitted, event.entry, event.task.context)
        event.tags[MODEL_URI] = f"runs:/{event.run_id}/{MODEL_ARTIFACT}"
