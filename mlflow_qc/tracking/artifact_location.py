"""Where a run's artifacts live on this machine, when they do."""

from __future__ import annotations

from pathlib import Path


def local_artifact_folder(artifact_uri: str) -> Path | None:
    """The folder behind a local artifact location (a path or ``file:`` URI), None for any other store:
    files written there are the run's artifacts, as MLflow's local repository would copy them there."""
    from mlflow.utils.file_utils import local_file_uri_to_path
    from mlflow.utils.uri import is_local_uri

    return Path(local_file_uri_to_path(artifact_uri)) if is_local_uri(artifact_uri) else None
