"""Versioning through DVC's own API: .dvcignore, config at every level, git-versioned folders restored
from their commit, and what a version cannot promise back (real git + DVC repositories, no MLflow)."""

from __future__ import annotations

import os
import shutil

from mlflow_qc.data.context import path_md5
from mlflow_qc.data.versioning import restore_version, version_dataset
from mlflow_qc.recipe import DatasetSpec

from .conftest import dvc, sh, write

WHERE = "data.inputs[0].dataset"


def version(path, mode="auto"):
    return version_dataset(DatasetSpec(path=str(path)), mode, WHERE)


def image_folder(root):
    folder = root / "data" / "pics"
    write(folder / "a.png", "not really a png, bytes are bytes")
    write(folder / "sub" / "b.png", "another")
    return folder


def test_a_folder_holding_a_dvcignored_file_is_versioned_without_it(dvc_repo, tmp_path):
    folder = image_folder(dvc_repo)
    write(folder / ".DS_Store", "finder litter")
    write(dvc_repo / ".dvcignore", ".DS_Store\n")
    v = version(folder)  # was: "changed while DVC added it" (hashed with the .DS_Store, added without it)
    assert v.tracked and v.is_folder and v.unrestorable is None
    assert f"md5: {v.md5}" in (dvc_repo / "data" / "pics.dvc").read_text()
    clean = tmp_path / "clean"
    shutil.copytree(folder, clean, ignore=shutil.ignore_patterns(".DS_Store"))
    assert v.md5 == path_md5(str(clean))  # DVC's .dir md5 of what it tracks

    assert version(folder).md5 == v.md5  # unchanged: no second add
    restored = restore_version(v, str(tmp_path / "out") + "/")
    assert sorted(p.name for p in (tmp_path / "out" / "pics").rglob("*")) == ["a.png", "b.png", "sub"]
    assert path_md5(restored) == v.md5


def test_the_default_remote_of_the_global_dvc_config_is_used(dvc_repo, tmp_path, monkeypatch):
    (dvc_repo / ".dvc" / "config").write_text("")  # the repository names no remote
    shared = tmp_path / "shared-remote"
    global_dir = tmp_path / "global-dvc"
    write(global_dir / "config", f"[core]\n    remote = shared\n['remote \"shared\"']\n    url = {shared}\n")
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(global_dir))
    csv = write(dvc_repo / "data" / "a.csv", "a,b\n1,2\n")
    v = version(csv)
    assert v.remote_url == str(shared)
    assert (shared / "files" / "md5" / v.md5[:2] / v.md5[2:]).read_bytes() == b"a,b\n1,2\n"  # pushed there


def test_a_git_versioned_folder_comes_back_from_its_commit(dvc_repo, tmp_path):
    folder = image_folder(dvc_repo)
    sh(dvc_repo, "git", "add", "data/pics")
    sh(dvc_repo, "git", "commit", "-qm", "images in git")
    v = version(folder)
    assert not v.tracked and v.git_revision and not v.git_dirty and v.unrestorable is None
    original = path_md5(str(folder))
    shutil.rmtree(folder)  # gone from the workspace: only git has it
    restored = restore_version(v, str(tmp_path / "out") + "/")
    assert path_md5(restored) == original == v.md5
    assert (tmp_path / "out" / "pics" / "sub" / "b.png").read_text() == "another"


def test_what_a_version_cannot_promise_back_is_said(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "g.csv", "a\n1\n")
    sh(dvc_repo, "git", "add", "data/g.csv")
    sh(dvc_repo, "git", "commit", "-qm", "g")
    assert version(csv).unrestorable is None
    write(csv, "a\n2\n")  # an edit git has not committed
    assert "changes git has not committed" in version(csv).unrestorable
    assert "data.version: off" in version(csv, "off").unrestorable
    assert "only its md5" in version(write(tmp_path / "outside.csv", "a\n1\n")).unrestorable  # no DVC repository


def test_images_beside_a_dvcignored_file_train_and_an_uncommitted_manifest_is_said_and_tagged(
    dvc_repo, tmp_path, monkeypatch, capsys
):
    import yaml
    from mlflow.tracking import MlflowClient

    from mlflow_qc.data.source import restore_run_data
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.tracking.names import DATA_RESTORABLE, DATA_UNRESTORABLE
    from tests.image_data import image_recipe, write_images

    data = dvc_repo / "data"
    write_images(data, 20)
    write(data / "pics" / ".DS_Store", "finder litter")
    write(dvc_repo / ".dvcignore", ".DS_Store\n")
    sh(dvc_repo, "git", "add", "data/images.csv", ".dvcignore")
    sh(dvc_repo, "git", "commit", "-qm", "manifest in git")
    with open(data / "images.csv", "a") as handle:
        handle.write("\n")  # the same rows, but an edit git has not committed
    (data / "r.yaml").write_text(yaml.safe_dump(image_recipe("dvcignore", version="auto")))
    monkeypatch.chdir(dvc_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(leaked, raising=False)

    result = Experiment.from_yaml(str(data / "r.yaml")).run()
    assert result.finished == 1
    said = [line for line in capsys.readouterr().err.splitlines() if "data get" in line]
    assert said == [
        "warning: `mlflow-qc data get` cannot restore this run's data: "
        "images.csv: it has changes git has not committed (commit them, or track it with `mlflow-qc data add`)"
    ]
    tags = MlflowClient().get_run(result.run_id).data.tags
    assert tags[DATA_RESTORABLE] == "false" and tags[DATA_UNRESTORABLE].startswith("images.csv: it has changes")

    restored = restore_run_data(result.run_id, str(tmp_path / "got"))  # `mlflow-qc data get RUN_ID DEST`
    assert sorted(p.rsplit("/", 1)[-1] for p in restored) == ["images.csv", "pics"]
    assert sorted(p.name for p in (tmp_path / "got" / "pics").iterdir()) == [f"{k:02d}.png" for k in range(20)]


def test_a_file_is_found_from_the_dvc_file_above_it_and_a_pipeline_output_from_the_index(dvc_repo):
    from mlflow_qc.data.dvc_api import DvcRepo

    csv = write(dvc_repo / "data" / "a.csv", "a,b\n1,2\n")
    folder = image_folder(dvc_repo)
    added, added_folder = version(csv), version(folder)
    assert added.tracked and added_folder.tracked
    # a pipeline file DVC cannot parse: DVC's index of the whole repository can no longer be read
    write(dvc_repo / "elsewhere" / "dvc.yaml", "stages: [not, a, mapping")
    with DvcRepo(str(dvc_repo), WHERE) as repo:
        assert repo.tracking(str(csv)) == (f"{csv}.dvc", str(csv), added.md5)  # its .dvc file, read alone
        # a file inside a tracked folder: the folder's .dvc file, above it
        assert repo.tracking(str(folder / "sub" / "b.png"))[:2] == (f"{folder}.dvc", str(folder))
    (dvc_repo / "elsewhere" / "dvc.yaml").unlink()
    dvc(dvc_repo, "stage", "add", "-n", "make", "-o", "data/made.csv", "echo x,y > data/made.csv")
    dvc(dvc_repo, "repro", "-q")
    with DvcRepo(str(dvc_repo), WHERE) as repo:  # no .dvc file above it: an output of dvc.yaml, from the index
        dvc_file, path, md5 = repo.tracking(str(dvc_repo / "data" / "made.csv"))
    assert (dvc_file, path) == (str(dvc_repo / "dvc.yaml"), str(dvc_repo / "data" / "made.csv"))
    assert md5 == path_md5(path)


def test_data_a_clone_wrote_as_its_committed_dvc_file_records_is_cached_and_pushed(dvc_repo):
    from mlflow_qc.data.context import object_paths

    csv = write(dvc_repo / "data" / "a.csv", "a,b\n1,2\n")
    md5 = version(csv).md5
    sh(dvc_repo, "git", "add", "-A")
    sh(dvc_repo, "git", "commit", "-qm", "data")
    remote = dvc_repo.parent / "remote"
    # a fresh clone: the .dvc file committed, the same bytes written again, nothing in the cache or the remote
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    shutil.rmtree(remote)
    again = version(csv)
    assert again.tracked and again.md5 == md5
    assert any(os.path.isfile(p) for p in object_paths(str(dvc_repo / ".dvc" / "cache"), md5))  # committed
    assert any(os.path.isfile(p) for p in object_paths(str(remote), md5))  # and pushed: data get can restore it
