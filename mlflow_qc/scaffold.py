"""``mlflow-qc init DIR``: a new project from the template, ready for ``mlflow run``.

The template is this package's own MLproject, demo recipe and model module (the
repository's root files link to them), plus a git + DVC repository with a local remote
and the demo data versioned in it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import yaml

from mlflow_qc.errors import QCError

GITIGNORE = """\
/mlflow.db*
/mlruns/
/mlartifacts/
/dvc-storage/
/.venv/
__pycache__/
"""


def conda_env() -> dict:
    """The project's environment: mlflow-qc itself, which brings the rest."""
    try:
        package = f"mlflow-qc=={metadata.version('mlflow-qc')}"
    except metadata.PackageNotFoundError:
        package = "mlflow-qc"
    return {"name": "mlflow_qc_project", "channels": ["conda-forge"],
            "dependencies": ["python=3.11", "pip", {"pip": [package]}]}


def _run(root: Path, *command: str) -> None:
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise QCError(str(root), f"`{' '.join(command)}` failed: {result.stderr.strip().splitlines()[-1:]}")


def init_dvc_repo(root: Path, remote: str = "dvc-storage") -> None:
    """git (unless there is one) + DVC, offline, with ``remote`` (relative to ``.dvc/``'s parent) as default remote."""
    dvc = (sys.executable, "-m", "dvc")  # this environment's DVC, whatever PATH says
    if not (root / ".git").exists():
        _run(root, "git", "init", "-q")
    _run(root, *dvc, "init", "-q")
    _run(root, *dvc, "config", "core.analytics", "false")
    _run(root, *dvc, "config", "core.check_update", "false")
    _run(root, *dvc, "remote", "add", "-d", "local", remote)


def init_project(dest: str | Path) -> Path:
    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.data.versioning import add_path

    root = Path(dest).resolve()
    if root.exists() and any(p.name != ".git" for p in root.iterdir()):
        raise QCError(str(root), "is not empty; expected a new or empty folder")
    template = Path(str(resources.files("mlflow_qc") / "template"))
    shutil.copytree(template, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "conda.yaml").write_text(yaml.safe_dump(conda_env(), sort_keys=False))
    (root / ".gitignore").write_text(GITIGNORE)
    init_dvc_repo(root)
    for path in write_demo_data(root / "data"):
        add_path(str(path))
    return root
