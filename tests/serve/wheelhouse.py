"""One folder of wheels for the fresh-virtualenv tests, built once per machine and requirement set.

``mlflow models prepare-env --env-manager virtualenv`` gives every environment root its own pip cache, so
each fresh venv would download tensorflow, torch and mlflow again (uv keeps one cache per machine, but
would still read the index). The tests instead install from this folder with
``PIP_NO_INDEX=1`` (which also shows the models' requirements install without a package index). It is
built by ``pip wheel`` in this environment, where pip's own cache (filled when the project was installed)
serves most of it, and reused until the requirements change.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

READY = "READY"
BUILD_SECONDS = 1800


def wheelhouse_root() -> Path:
    configured = os.environ.get("MLFLOW_QC_TEST_WHEELHOUSE")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "mlflow-qc-tests" / "wheelhouse"


def wheelhouse(requirements: list[str]) -> Path:
    """A folder holding wheels of ``requirements`` and all they need, for this Python and platform."""
    key = "\n".join([sys.version, platform.machine(), *sorted(requirements)])
    folder = wheelhouse_root() / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (folder / READY).exists():
        return folder
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "requirements.txt").write_text("\n".join(requirements) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(partial), "-r", str(partial / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeError(f"pip wheel of {requirements} failed:\n{result.stderr[-4000:]}")
    (partial / READY).write_text("")
    try:
        partial.rename(folder)
    except OSError:  # another session built it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def build_dependencies() -> list[str]:
    """What MLflow writes as a model's python_env.yaml ``build_dependencies``: pip, setuptools and wheel
    as this environment has them (the venv installs them first)."""
    pins = []
    for name in ("pip", "setuptools", "wheel"):
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def offline_pip(folder: Path) -> dict[str, str]:
    """The variables that make pip and uv install only from ``folder`` (and uv use this machine's Python)."""
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(folder),
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(folder),
        "UV_PYTHON_DOWNLOADS": "never",
    }
