"""Reading a run's artifacts: in place from a local artifact store, downloaded otherwise."""
from __future__ import annotations

from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository


def run_artifact(artifact_uri: str, path: str, scratch: str | Path) -> Path:
    """The local path of ``path`` under a run's ``artifact_uri`` (copied under ``scratch`` when remote)."""
    repository = get_artifact_repository(artifact_uri)
    if isinstance(repository, LocalArtifactRepository):
        return Path(repository.download_artifacts(path))
    Path(scratch).mkdir(parents=True, exist_ok=True)
    return Path(repository.download_artifacts(path, str(scratch)))
