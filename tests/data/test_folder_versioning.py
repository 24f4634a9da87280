"""An image folder under DVC is one DVC directory: its version is the ``.dir`` md5, an edited image gives
a new version, and ``mlflow-qc data get`` brings the old folder back byte for byte (from the DVC cache,
and from the remote once the cache is gone)."""

import shutil

import numpy as np
import pandas as pd
from PIL import Image

from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.data.source import log_datasets, recorded_versions
from mlflow_qc.data.versioning import version_dataset_files
from mlflow_qc.recipe import DatasetSpec
from tests.helpers import run_cli

from .conftest import md5_of


def folder_md5s(folder):
    return {p.relative_to(folder).as_posix(): md5_of(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def write_images(folder, count=3):
    folder.mkdir(parents=True)
    for k in range(count):
        Image.fromarray(np.full((6, 5), 40 * k, dtype=np.uint8)).save(folder / f"img_{k}.png")


def test_an_edited_image_is_a_new_version_and_the_old_folder_comes_back(dvc_repo, tracking, tmp_path):
    client, experiment_id = tracking
    images = dvc_repo / "data" / "scans"
    write_images(images)
    original = folder_md5s(images)
    dataset = load_dataset(DatasetSpec(path=str(images)), "data.inputs[0].dataset")
    [first] = version_dataset_files(dataset, "auto")
    assert first.md5.endswith(".dir") and first.tracked and first.shape == [3, 1, 6, 5]
    assert (dvc_repo / "data" / "scans.dvc").is_file()
    run_a = client.create_run(experiment_id).info.run_id
    log_datasets(client, run_a, [(dataset, first)])

    Image.fromarray(np.full((6, 5), 255, dtype=np.uint8)).save(images / "img_1.png")
    edited = load_dataset(DatasetSpec(path=str(images)), "data.inputs[0].dataset")
    [second] = version_dataset_files(edited, "auto")
    assert second.md5 != first.md5 and second.md5.endswith(".dir")
    run_b = client.create_run(experiment_id).info.run_id
    log_datasets(client, run_b, [(edited, second)])
    assert [v.md5 for v in recorded_versions(run_a, client)] == [first.md5]
    assert [v.md5 for v in recorded_versions(run_b, client)] == [second.md5]

    result = run_cli("data", "get", run_a, tmp_path / "from-cache", cwd=dvc_repo, check=True)
    assert folder_md5s(tmp_path / "from-cache" / "scans") == original
    assert str(tmp_path / "from-cache" / "scans") in result.stdout

    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    run_cli("data", "get", run_a, tmp_path / "from-remote", cwd=dvc_repo, check=True)
    assert folder_md5s(tmp_path / "from-remote" / "scans") == original
    assert folder_md5s(images) != original  # the workspace keeps the edit


def test_a_manifest_is_versioned_with_the_folder_of_its_images(dvc_repo):
    write_images(dvc_repo / "data" / "scans", count=2)
    manifest = dvc_repo / "data" / "scans.csv"
    pd.DataFrame({"file": ["scans/img_0.png", "scans/img_1.png"], "label": [0, 1]}).to_csv(manifest, index=False)
    dataset = load_dataset(DatasetSpec(path=str(manifest), kind="image", image_column="file"), "data.inputs[0].dataset")
    table, folder = version_dataset_files(dataset, "auto")
    assert table.path == str(manifest) and not table.md5.endswith(".dir") and table.tracked
    assert folder.path == str(dvc_repo / "data" / "scans") and folder.md5.endswith(".dir") and folder.tracked
