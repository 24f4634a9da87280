"""``mlflow-qc init``: a new project that prepares its demo recipe out of the box."""

import subprocess

import pytest

from tests.helpers import REPO_ROOT, run_cli


def test_init_creates_a_project_that_prepares_its_demo(tmp_path, monkeypatch):
    project = tmp_path / "lab"
    result = run_cli("init", project)
    assert result.returncode == 0, result.stderr
    for name in (
        "MLproject",
        "conda.yaml",
        "recipes/demo.yaml",
        "models/sonar_keras.py",
        "data/sonar.csv.dvc",
        ".dvc/config",
    ):
        assert (project / name).is_file(), name
    assert (project / "MLproject").read_text() == (REPO_ROOT / "MLproject").read_text()
    assert "url = ../dvc-storage" in (project / ".dvc" / "config").read_text()
    assert any((project / "dvc-storage").rglob("*")), "the demo data was pushed to the local remote"
    ignored = subprocess.run(["git", "check-ignore", "data/sonar.csv"], cwd=project, capture_output=True, text=True)
    assert ignored.returncode == 0
    from dvc.repo import Repo

    (project / "mlruns" / "1" / "run" / "artifacts").mkdir(parents=True)  # the MLflow store DVC need not walk
    with Repo(str(project)) as repo:
        assert repo.dvcignore.is_ignored(repo.fs, str(project / "mlruns" / "1" / "run" / "artifacts"))
        assert not repo.dvcignore.is_ignored(repo.fs, str(project / "data" / "sonar.csv"))
    prepared = run_cli(
        "prepare", "recipes/demo.yaml", cwd=project, env={"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    )
    assert prepared.returncode == 0, prepared.stderr


def test_init_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("init", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("is not empty; expected a new or empty folder")


pytestmark = pytest.mark.e2e
