"""The ``dvc`` MLflow dataset source (entry point ``mlflow.dataset_source``) and the
run records built on it: each dataset a run used is an MLflow dataset input whose
source holds its ``DatasetVersion``, so the UI's Datasets column shows it and the
exact bytes can be brought back from the run alone.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import TYPE_CHECKING, Any

from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_qc.data.versioning import DatasetVersion, restore_version
from mlflow_qc.errors import QCError

# MLflow imports this module (entry point) while importing itself: its client and
# dataset constructors are imported where used, once MLflow is complete.
if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from mlflow_qc.data.dataset import Dataset

SOURCE_TYPE = "dvc"


class DVCDatasetSource(DatasetSource):
    """A dataset file pinned by its md5 in a DVC repository (or by md5 alone when untracked)."""

    def __init__(self, version: DatasetVersion):
        self.version = version

    def __getattr__(self, name: str) -> Any:
        # path, md5, dvc_root, ... read straight from the version
        if name in DatasetVersion.__dataclass_fields__:
            return getattr(self.version, name)
        raise AttributeError(name)

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    def load(self, dst_path: str | None = None) -> str:
        """Restore the exact bytes into ``dst_path`` (a file or folder; default a new temp folder)."""
        return restore_version(self.version, dst_path or tempfile.mkdtemp(prefix="qc-dataset-"))

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, DatasetVersion)

    @classmethod
    def _resolve(cls, raw_source: Any) -> DVCDatasetSource:
        return cls(raw_source)

    def to_dict(self) -> dict[str, Any]:
        return self.version.to_dict()

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DVCDatasetSource:
        return cls(DatasetVersion.from_dict(source_dict))


SCHEMA_SAMPLE_ROWS = 500


def _input_name(version: DatasetVersion) -> str:
    return os.path.basename(version.path) if version.path else "dataframe"


def log_datasets(
    client: MlflowClient, run_id: str, items: list[tuple[Dataset, DatasetVersion]], context: str = "training"
) -> None:
    """Log each dataset as an input of ``run_id``: name = file name, MLflow's pandas digest,
    schema and profile, source = its ``DatasetVersion``, tagged with ``context``."""
    import mlflow.data
    import numpy as np

    inputs = []
    for dataset, version in items:
        source, name = DVCDatasetSource(version), _input_name(version)
        if dataset.array is not None and (dataset.frame is None or version.path != dataset.spec.path):
            logged = mlflow.data.from_numpy(np.asarray(dataset.array), source=source, name=name)
        else:
            logged = mlflow.data.from_pandas(dataset.frame, source=source, name=name)
            logged.__dict__["schema"] = _schema(dataset.frame)  # fills MLflow's cached_property
        entity = _entity(logged)
        inputs.append(DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    client.log_inputs(run_id, datasets=inputs)


def _entity(dataset):
    """The ``mlflow.entities.Dataset`` of an MLflow dataset, from its public ``to_dict``."""
    from mlflow.entities import Dataset as DatasetEntity

    fields = dataset.to_dict()
    return DatasetEntity(
        name=fields["name"],
        digest=fields["digest"],
        source_type=fields["source_type"],
        source=fields["source"],
        schema=fields.get("schema"),
        profile=fields.get("profile"),
    )


def _schema(frame):
    """MLflow's column schema, with types read from a sample (MLflow scans every row, seconds
    on large tables) and ``required`` from the whole column."""
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    with warnings.catch_warnings():
        # MLflow's hint about integer columns in model signatures is not relevant to a dataset
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        sample = infer_signature(frame.head(SCHEMA_SAMPLE_ROWS)).inputs
    missing = frame.isna().any()
    return Schema([ColSpec(spec.type, spec.name, required=not bool(missing[spec.name])) for spec in sample.inputs])


def recorded_versions(run_id: str, client: MlflowClient | None = None) -> list[DatasetVersion]:
    """The DatasetVersions a run recorded with ``log_datasets``."""
    from mlflow.tracking import MlflowClient

    run = (client or MlflowClient()).get_run(run_id)
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return [
        DVCDatasetSource.from_json(i.dataset.source).version for i in inputs if i.dataset.source_type == SOURCE_TYPE
    ]


def restore_run_data(run_id: str, dest: str, client: MlflowClient | None = None) -> list[str]:
    """``mlflow-qc data get RUN_ID DEST``: every file dataset of a run, by file name, into folder ``dest``."""
    versions = [v for v in recorded_versions(run_id, client) if v.path is not None]
    if not versions:
        raise QCError(f"run {run_id}", "recorded no dataset files; expected a run logged with DVC dataset inputs")
    by_name: dict[str, DatasetVersion] = {}
    for version in versions:
        other = by_name.setdefault(_input_name(version), version)
        if other.md5 != version.md5:
            name = _input_name(version)
            raise QCError(
                dest, f"two datasets of run {run_id} are named {name}; restore them one by one with restore_version"
            )
    os.makedirs(dest, exist_ok=True)
    return [restore_version(version, dest) for version in by_name.values()]
