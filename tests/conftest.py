"""Shared fixtures: a real git + DVC workspace with a local remote, a real sqlite MLflow store."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "mlflow_qc.cli"]

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("GIT_AUTHOR_NAME", "qc-tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "qc-tests@example.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "qc-tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "qc-tests@example.invalid")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["MLFLOW_QC_CACHE"] = str(tmp_path_factory.mktemp("qc-cache"))
    os.environ["MLFLOW_QC_QUIET"] = "1"


def init_dvc_repo(root: Path) -> Path:
    """A git repo with DVC and a local remote beside it, as the template ships."""
    root.mkdir(parents=True, exist_ok=True)
    run = lambda *cmd: subprocess.run(cmd, cwd=root, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "config", "core.analytics", "false")
    run("dvc", "config", "core.check_update", "false")
    run("dvc", "remote", "add", "-d", "local", "dvc-storage")  # stored relative to .dvc/: <root>/dvc-storage
    run("git", "add", "-A")
    run("git", "commit", "-qm", "init")
    return root


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh project: git + DVC repo, demo data, sqlite tracking store; cwd inside it."""
    from mlflow_qc.data.demo import write_demo_data

    root = init_dvc_repo(tmp_path / "project")
    write_demo_data(root / "data")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    return root


def run_cli(*args, cwd=None, env=None, check=False) -> subprocess.CompletedProcess:
    """``mlflow-qc ARGS`` in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([*CLI, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"mlflow-qc {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def copy_recipe(name: str, dest: Path) -> Path:
    """A recipe from recipes/ copied into a workspace (paths in it are relative to the copy)."""
    target = dest / "recipes" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "recipes" / name, target)
    return target
