"""``mlflow-qc init DIR``: a new project from the template, ready for ``mlflow run``.

The template is this package's own MLproject, demo recipe and model module (the
repository's root files link to them), plus a git + DVC repository with a local remote
and the demo data versioned in it. DVC runs in this process (its API), once for all the
demo files: a ``dvc`` subprocess per command and file took a minute.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
from importlib import metadata, resources
from pathlib import Path

import yaml

from mlflow_qc.errors import QCError
from mlflow_qc.tracking.names import UNVERSIONED_FOLDERS

GITIGNORE = """\
/mlflow.db*
/mlruns/
/mlartifacts/
/dvc-storage/
/.venv/
__pycache__/
"""


# what DVC need not walk when it reads the repository (dvc add, status, an output of dvc.yaml): the MLflow
# store's artifacts grow by thousands of files, and nothing in them is DVC's
DVCIGNORE = "# the MLflow store's artifacts, mlflow-qc's cache, the local remote and the environment\n" + "".join(
    f"/{folder}/\n" for folder in UNVERSIONED_FOLDERS
)


def conda_env() -> dict:
    """The project's environment: mlflow-qc with the extra of the demo recipe's library (Keras)."""
    try:
        package = f"mlflow-qc[keras]=={metadata.version('mlflow-qc')}"
    except metadata.PackageNotFoundError:
        package = "mlflow-qc[keras]"
    return {
        "name": "mlflow_qc_project",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pip", {"pip": [package]}],
    }


def _run(root: Path, *command: str) -> None:
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise QCError(str(root), f"`{' '.join(command)}` failed: {result.stderr.strip().splitlines()[-1:]}")


@contextlib.contextmanager
def quiet_dvc():
    """DVC's advice to the user of its own CLI (``git add`` these files, ...), logged and printed, left out."""
    dvc_logger = logging.getLogger("dvc")
    level = dvc_logger.level
    dvc_logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        dvc_logger.setLevel(level)


def init_dvc_repo(root: Path, remote: str = "dvc-storage") -> None:
    """git (unless there is one) + DVC, offline, with ``remote`` (relative to ``.dvc/``'s parent) as default remote."""
    from dvc.config_schema import RelPath
    from dvc.repo import Repo

    if not (root / ".git").exists():
        _run(root, "git", "init", "-q")
    with quiet_dvc(), Repo.init(str(root)) as repo, repo.config.edit() as config:
        config["core"].update(analytics="false", check_update="false", remote="local")
        # a RelPath is written relative to .dvc/ (as `dvc remote add` does), so the project can move
        config["remote"]["local"] = {"url": RelPath(os.path.abspath(root / remote))}
    with open(root / ".dvcignore", "a") as ignore:
        ignore.write(DVCIGNORE)


def version_demo_data(root: Path, paths: list[Path]) -> None:
    """``dvc add`` the demo files and folders (one command for all) and push them to the default remote."""
    from dvc.repo import Repo

    with quiet_dvc(), Repo(str(root)) as repo:
        repo.add([str(path) for path in paths])
        repo.push()


def init_project(dest: str | Path) -> Path:
    from mlflow_qc.data.demo import write_demo_data

    root = Path(dest).resolve()
    if root.exists() and any(p.name != ".git" for p in root.iterdir()):
        raise QCError(str(root), "is not empty; expected a new or empty folder")
    template = Path(str(resources.files("mlflow_qc") / "template"))
    shutil.copytree(template, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "conda.yaml").write_text(yaml.safe_dump(conda_env(), sort_keys=False))
    (root / ".gitignore").write_text(GITIGNORE)
    init_dvc_repo(root)
    version_demo_data(root, write_demo_data(root / "data"))
    return root
