"""Reading a run's artifacts: in place from a local artifact store, downloaded otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

from mlflow_qc.tracking.names import MODEL_DATA, MODEL_LIBRARY_DIR, MODEL_META_FILE


def run_artifact(artifact_uri: str, path: str, scratch: str | Path) -> Path:
    """The local path of ``path`` under a run's ``artifact_uri`` (copied under ``scratch`` when remote)."""
    repository = get_artifact_repository(artifact_uri)
    if isinstance(repository, LocalArtifactRepository):
        return Path(repository.download_artifacts(path))
    Path(scratch).mkdir(parents=True, exist_ok=True)
    return Path(repository.download_artifacts(path, str(scratch)))


@dataclass
class SavedModel:
    """A model run's trained model as its pyfunc saved it: the adapter, the model, ``qc_model.json``."""

    adapter: Any
    model: Any
    meta: dict  # context, analysis_type, classes, threshold, ...

    @property
    def context(self) -> str:
        return self.meta["context"]

    @property
    def threshold(self) -> float | None:
        return self.meta.get("threshold")


def saved_model(run, scratch: str | Path) -> SavedModel:
    from mlflow_qc.models import load_trained

    folder = run_artifact(run.info.artifact_uri, MODEL_DATA, scratch)
    adapter, model = load_trained(folder / MODEL_LIBRARY_DIR)
    return SavedModel(adapter, model, json.loads((folder / MODEL_META_FILE).read_text()))
