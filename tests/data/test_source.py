"""The dvc dataset source and the DVC run context provider, through a real sqlite MLflow store."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import mlflow
import mlflow.data

from mlflow_qc.data.context import DVCRunContextProvider
from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.data.source import DVCDatasetSource, log_datasets, recorded_versions, restore_run_data
from mlflow_qc.data.versioning import version_dataset
from mlflow_qc.recipe import DatasetSpec

from .conftest import md5_of, sh, write

OLD = "a,b\n1,x\n2,y\n"


def test_entry_points_point_at_the_plugins():
    assert entry_points(group="mlflow.dataset_source")["dvc"].load() is DVCDatasetSource
    assert entry_points(group="mlflow.run_context_provider")["mlflow_qc"].load() is DVCRunContextProvider


def test_plugins_register_when_mlflow_qc_is_imported_before_mlflow():
    # MLflow loads the plugins while it imports itself; a plugin module that triggered that
    # import would be incomplete then, so mlflow_qc.data imports MLflow before its modules.
    code = (
        "import mlflow_qc.data.versioning\n"
        "from mlflow.data.dataset_source_registry import get_registered_sources\n"
        "from mlflow.tracking.context.registry import _run_context_provider_registry\n"
        "from mlflow_qc.data.context import DVCRunContextProvider\n"
        "from mlflow_qc.data.source import DVCDatasetSource\n"
        "assert DVCDatasetSource in get_registered_sources()\n"
        "assert any(isinstance(p, DVCRunContextProvider) for p in _run_context_provider_registry)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and "Failure attempting" not in result.stderr, result.stderr


def test_logged_datasets_round_trip_through_a_run(dvc_repo, tracking, tmp_path):
    client, experiment_id = tracking
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    spec = DatasetSpec(path=str(csv))
    dataset = load_dataset(spec, "data.inputs[0].dataset")
    version = version_dataset(
        spec, "auto", "data.inputs[0].dataset", rows=dataset.n_samples, columns=len(dataset.columns)
    )
    run_id = client.create_run(experiment_id).info.run_id
    log_datasets(client, run_id, [(dataset, version)])

    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.source_type) == ("a.csv", "dvc")
    assert logged.dataset.digest == mlflow.data.from_pandas(dataset.frame).digest
    assert {tag.key: tag.value for tag in logged.tags} == {"mlflow.data.context": "training"}
    assert recorded_versions(run_id, client) == [version]

    source = mlflow.data.get_source(logged)  # resolved through the mlflow.dataset_source entry point
    assert isinstance(source, DVCDatasetSource) and source.version == version
    assert (source.md5, source.dvc_path, source.rows) == (version.md5, "data/a.csv", 2)
    assert md5_of(source.load(str(tmp_path / "loaded.csv"))) == version.md5
    assert mlflow.data.from_pandas(dataset.frame, source=version).source.version == version

    csv.write_text("a,b\n9,z\n")
    restored = restore_run_data(run_id, str(tmp_path / "restored"), client)
    assert restored == [str(tmp_path / "restored" / "a.csv")]
    assert (tmp_path / "restored" / "a.csv").read_text() == OLD


def test_context_provider_tags_fluent_runs_inside_a_dvc_repo(dvc_repo, tracking, monkeypatch):
    _, experiment_id = tracking
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    version_dataset(DatasetSpec(path=str(csv)), "auto", "data")
    monkeypatch.chdir(dvc_repo / "data")

    def tags():
        with mlflow.start_run(experiment_id=experiment_id) as run:
            pass
        return mlflow.get_run(run.info.run_id).data.tags

    assert tags()["qc.dvc.dirty"] == "true"  # a.csv.dvc is not committed yet
    sh(dvc_repo, "git", "add", "-A")
    sh(dvc_repo, "git", "commit", "-qm", "data")
    clean = tags()
    assert clean["qc.dvc.root"] == str(dvc_repo)
    assert clean["qc.dvc.git_commit"] == sh(dvc_repo, "git", "rev-parse", "HEAD").strip()
    assert clean["qc.dvc.remote"] == str(dvc_repo.parent / "remote")
    assert clean["qc.dvc.dirty"] == "false"
    # the MLflow store's artifacts and mlflow-qc's cache are not walked for DVC files (an uncommitted one there is none)
    write(dvc_repo / "mlruns" / "1" / "run" / "artifacts" / "copied.csv.dvc", "outs: []\n")
    write(dvc_repo / "sub" / ".qc_cache" / "x.dvc", "outs: []\n")
    assert tags()["qc.dvc.dirty"] == "false"
    write(dvc_repo / "data" / "b.csv.dvc", "outs: []\n")
    assert tags()["qc.dvc.dirty"] == "true"  # an uncommitted .dvc file anywhere else is
    (dvc_repo / "data" / "b.csv.dvc").unlink()
    csv.write_text("a,b\n1,x\n2,w\n")  # same size, other bytes
    assert tags()["qc.dvc.dirty"] == "true"

    monkeypatch.chdir(dvc_repo.parent)
    assert not any(key.startswith("qc.dvc.") for key in tags())
