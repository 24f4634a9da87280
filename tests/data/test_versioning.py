"""version_dataset / add_path / restore_version on real git + DVC repos with a local remote."""

from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

from mlflow_qc.data.versioning import DatasetVersion, add_path, frame_md5, restore_version, version_dataset
from mlflow_qc.errors import QCError
from mlflow_qc.recipe import DatasetSpec

from .conftest import dvc, md5_of, sh, write

WHERE = "data.inputs[0].dataset"
OLD = "a,b\n1,x\n2,y\n"
NEW = "a,b\n1,x\n2,y\n3,z\n"


def version(path, mode="auto", **kwargs) -> DatasetVersion:
    return version_dataset(DatasetSpec(path=str(path)), mode, WHERE, **kwargs)


def remote_object(repo, md5):
    return repo.parent / "remote" / "files" / "md5" / md5[:2] / md5[2:]


def head(repo) -> str:
    return sh(repo, "git", "rev-parse", "HEAD").strip()


def test_auto_adds_an_untracked_file_and_pushes_it(dvc_repo):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    v = version(csv, rows=2, columns=2)
    assert v.tracked and v.md5 == md5_of(csv)
    assert (v.path, v.dvc_root, v.dvc_path) == (str(csv), str(dvc_repo), "data/a.csv")
    assert f"md5: {v.md5}" in (dvc_repo / "data" / "a.csv.dvc").read_text()
    assert remote_object(dvc_repo, v.md5).read_bytes() == OLD.encode()
    assert v.remote_url == str(dvc_repo.parent / "remote")
    assert (v.git_revision, v.git_dirty) == (head(dvc_repo), True)  # the new .dvc file is not committed
    assert (v.rows, v.columns) == (2, 2)
    assert DatasetVersion.from_dict(v.to_dict()) == v

    sh(dvc_repo, "git", "add", "-A")
    sh(dvc_repo, "git", "commit", "-qm", "data")
    again = version(csv, rows=2, columns=2)
    assert (again.md5, again.git_revision, again.git_dirty) == (v.md5, head(dvc_repo), False)


def test_unchanged_file_that_never_reached_the_remote_is_pushed(dvc_repo):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    dvc(dvc_repo, "add", "-q", "data/a.csv")
    assert not remote_object(dvc_repo, md5_of(csv)).exists()
    assert version(csv).tracked
    assert remote_object(dvc_repo, md5_of(csv)).exists()


def test_edited_file_gets_a_new_version_and_the_old_bytes_come_back(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    old = version(csv)
    csv.write_text(NEW)
    new = version(csv)
    assert new.md5 != old.md5 and new.md5 == md5_of(csv)

    out = tmp_path / "out"
    out.mkdir()
    assert restore_version(old, str(out)) == str(out / "a.csv")
    assert (out / "a.csv").read_bytes() == OLD.encode()

    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    restored = restore_version(old, str(tmp_path / "from-remote.csv"))
    assert open(restored, "rb").read() == OLD.encode()
    assert not list(dvc_repo.glob(".qc-restore-*"))

    elsewhere = dataclasses.replace(old, dvc_root=None, dvc_path=None, path=str(tmp_path / "gone.csv"))
    assert open(restore_version(elsewhere, str(tmp_path / "bare.csv")), "rb").read() == OLD.encode()
    assert open(restore_version(new, str(out)), "rb").read() == NEW.encode()


def test_restore_fails_clearly_when_no_copy_is_left(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    old = version(csv, mode="off")
    csv.write_text(NEW)
    with pytest.raises(QCError, match="neither the DVC cache, the file, git nor the DVC remote") as err:
        restore_version(old, str(tmp_path))
    assert err.value.where == str(csv)


def test_require_refuses_untracked_and_changed_data(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    with pytest.raises(QCError, match="not tracked by DVC; run `mlflow-qc data add") as err:
        version(csv, mode="require")
    assert err.value.where == f"{WHERE}.path"
    assert not (dvc_repo / "data" / "a.csv.dvc").exists()

    added = add_path(str(csv))
    assert remote_object(dvc_repo, added.md5).exists()
    assert version(csv, mode="require") == added

    csv.write_text(NEW)
    with pytest.raises(QCError, match="changed since `dvc add`") as err:
        version(csv, mode="require")
    assert err.value.where == f"{WHERE}.path"

    outside = write(tmp_path / "outside.csv", OLD)
    with pytest.raises(QCError, match="not tracked by DVC"):
        version(outside, mode="require")


def test_off_records_the_md5_only(dvc_repo):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    v = version(csv, mode="off")
    assert v == DatasetVersion(path=str(csv), md5=md5_of(csv))
    assert not (dvc_repo / "data" / "a.csv.dvc").exists()


def test_auto_outside_a_dvc_repo_records_the_md5_only(tmp_path):
    csv = write(tmp_path / "plain" / "a.csv", OLD)
    assert version(csv) == DatasetVersion(path=str(csv), md5=md5_of(csv))


def test_git_tracked_file_is_recorded_as_git_versioned(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    sh(dvc_repo, "git", "add", "data/a.csv")
    sh(dvc_repo, "git", "commit", "-qm", "data in git")
    v = version(csv)
    assert (v.tracked, v.md5, v.git_revision, v.git_dirty) == (False, md5_of(csv), head(dvc_repo), False)
    assert not (dvc_repo / "data" / "a.csv.dvc").exists()
    with pytest.raises(QCError, match="versioned by git") as err:
        version(csv, mode="require")
    assert err.value.where == f"{WHERE}.path"
    with pytest.raises(QCError, match="git rm --cached"):
        add_path(str(csv))

    csv.write_text(NEW)
    assert version(csv).git_dirty
    assert open(restore_version(v, str(tmp_path / "old.csv")), "rb").read() == OLD.encode()  # from git


def test_file_inside_a_tracked_folder(dvc_repo, tmp_path):
    csv = write(dvc_repo / "data" / "a.csv", OLD)
    dvc(dvc_repo, "add", "-q", "data")
    old = version(csv, mode="require")
    assert old.tracked and old.md5 == md5_of(csv)
    csv.write_text(NEW)
    new = version(csv)
    assert new.tracked and new.md5 == md5_of(csv)
    assert not (dvc_repo / "data" / "a.csv.dvc").exists()
    assert remote_object(dvc_repo, new.md5).exists()
    assert open(restore_version(old, str(tmp_path / "old.csv")), "rb").read() == OLD.encode()


def test_dataframes_are_keyed_by_content():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    v = version_dataset(DatasetSpec(frame=frame), "auto", WHERE, rows=2, columns=2)
    assert (v.path, v.tracked, v.md5) == (None, False, frame_md5(frame.copy()))
    assert frame_md5(frame.assign(a=[1.0, 3.0])) != v.md5
    assert frame_md5(frame.rename(columns={"a": "c"})) != v.md5
    with pytest.raises(QCError, match="in-memory DataFrame") as err:
        version_dataset(DatasetSpec(frame=frame), "require", WHERE)
    assert err.value.where == WHERE


def test_add_path_outside_a_dvc_repo_is_a_clear_error(tmp_path):
    csv = write(tmp_path / "a.csv", OLD)
    with pytest.raises(QCError, match="not inside a DVC repository") as err:
        add_path(str(csv))
    assert err.value.where == str(csv)
