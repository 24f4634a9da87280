"""Helpers shared by the tests: real DVC repos, real CLI subprocesses."""

from __future__ import annotations

import atexit
import functools
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "mlflow_qc.cli"]


@functools.cache
def _templates() -> Path:
    """Built once per test process: ``repo`` (git + DVC + a local remote, committed) and ``data`` (the demo data).
    Tests copy them (milliseconds) instead of running git and DVC again (seconds)."""
    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.scaffold import init_dvc_repo as init_repo

    folder = Path(tempfile.mkdtemp(prefix="qc-test-templates-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    repo = folder / "repo"
    repo.mkdir()
    init_repo(repo)  # the remote is stored relative to .dvc/: <root>/dvc-storage
    run = lambda *cmd: subprocess.run(cmd, cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("git", "add", "-A")
    run("git", "commit", "-qm", "init")
    write_demo_data(folder / "data")
    return folder


def init_dvc_repo(root: Path) -> Path:
    """A git repo with DVC and a local remote beside it, as the template ships (its first commit made)."""
    shutil.copytree(_templates() / "repo", root, symlinks=True, dirs_exist_ok=True)
    return root


def demo_project(root: Path) -> Path:
    """``init_dvc_repo`` with the demo datasets written into ``data/`` (not added to DVC)."""
    init_dvc_repo(root)
    shutil.copytree(_templates() / "data", root / "data", symlinks=True, dirs_exist_ok=True)
    return root


@functools.cache
def _empty_store() -> Path:
    """Built once per test process: an empty sqlite tracking store with this MLflow's schema (tracking and
    registry tables), as MLflow makes it on first connecting to a new file (its migrations, ~2 s of CPU)."""
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="qc-test-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return folder / "mlflow.db"


def ready_store(path: Path) -> Path:
    """A copy of an empty sqlite tracking store at ``path`` (sqlite's backup: a consistent copy whatever
    MLflow's connections to the template are doing). A test whose first command would otherwise make the
    store skips MLflow's migrations; mlflow-qc's first command still takes the store as it finds it
    (mlflow_qc/tracking/store.py: the lock, write-ahead logging)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(_empty_store())) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return path


def run_cli(*args, cwd=None, env=None, check=False) -> subprocess.CompletedProcess:
    """``mlflow-qc ARGS`` in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([*CLI, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"mlflow-qc {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def cli_in_process(*args) -> tuple[int, str, str]:
    """``mlflow-qc ARGS`` in this process (fast, for many cases): (exit status, stdout, stderr)."""
    from mlflow_qc.cli import main

    previous = signal.getsignal(signal.SIGTERM)  # main installs its own handler
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main([str(arg) for arg in args])
                code = 0
            except SystemExit as exc:
                code = exc.code
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code, out.getvalue(), err.getvalue()


def copy_recipe(name: str, dest: Path) -> Path:
    """A recipe from recipes/ copied into a workspace with the model modules it refers to."""
    target = dest / "recipes" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "recipes" / name, target)
    shutil.copytree(REPO_ROOT / "models", dest / "models", dirs_exist_ok=True)
    return target


def mlflow_run_args(experiment: str, recipe=None, entry_point: str = "main") -> list[str]:
    """The command line of ``mlflow run`` of this project with ``--env-manager local`` (and ``-P recipe=``)."""
    args = ["mlflow", "run", str(REPO_ROOT), "-e", entry_point, "--env-manager", "local"]
    args += ["--experiment-name", experiment]
    return args if recipe is None else [*args, "-P", f"recipe={recipe}"]


def mlflow_run(
    experiment: str,
    recipe: Path | None,
    overrides: str = "",
    entry_point: str = "main",
    env=None,
    timeout=None,
    **params,
):
    """``mlflow run`` of this project with ``--env-manager local``, in a real subprocess (``recipe`` None: an
    entry point that takes none, e.g. finalize)."""
    args = mlflow_run_args(experiment, recipe, entry_point)
    for key, value in {**({"overrides": overrides} if overrides else {}), **params}.items():
        args += ["-P", f"{key}={value}"]
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def runs_by_level(experiment: str) -> dict[str, list]:
    """The active runs of an experiment grouped by their ``qc.level`` tag."""
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=5000)
    levels: dict[str, list] = {}
    for run in runs:
        levels.setdefault(run.data.tags.get("qc.level"), []).append(run)
    return levels


@contextmanager
def held_training(folder: Path, models: int):
    """The environment that makes a training hold once ``models`` models are recorded (before the next
    starts; mlflow_qc/run/executor.py, MLFLOW_QC_TEST_HOLD), and ``wait(process)``: returns once it holds.
    Removing the flag file (``release()``) lets it go on."""
    flag = folder / f"hold-{models}.flag"

    class Hold:
        env = {"MLFLOW_QC_TEST_HOLD": f"{models}:{flag}"}

        @staticmethod
        def wait(*processes: subprocess.Popen, seconds: float = 300) -> None:
            """Until a training holds; fails when every one of ``processes`` has exited first."""
            deadline = time.monotonic() + seconds
            while not flag.exists():
                if all(process.poll() is not None for process in processes):
                    codes = [process.returncode for process in processes]
                    raise AssertionError(f"the training exited ({codes}) before it held at {models} model(s)")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the training did not hold at {models} model(s) within {seconds}s")
                time.sleep(0.05)

        @staticmethod
        def release() -> None:
            flag.unlink(missing_ok=True)

    try:
        yield Hold
    finally:
        Hold.release()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def background_server(command: list, ready_url: str, log: Path, cwd: Path, env=None, ready_seconds: float = 180):
    """A real server process (its own process group) until ``ready_url`` answers 200; stopped afterwards."""
    with open(log, "wb") as output:
        server = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            if server.poll() is not None:
                raise AssertionError(f"{command[:5]} exited {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or too busy to answer in time
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{command[:5]} not ready after {ready_seconds}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield server
    finally:
        _stop_group(server)


def _stop_group(server: subprocess.Popen) -> None:
    """The server and the workers it started."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=20)


@contextmanager
def mlflow_server(backend_uri: str, cwd: Path, log: Path, artifacts: Path | None = None):
    """``mlflow server`` on loopback over ``backend_uri`` (serving artifacts from ``artifacts``); yields its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if artifacts is not None:
        command += ["--artifacts-destination", str(artifacts)]
    base = f"http://127.0.0.1:{port}"
    with background_server(command, f"{base}/health", log, cwd, ready_seconds=120):
        yield base


def sigkill_when_held(args: list[str], hold) -> None:
    """Start ``args`` (a training) in a session of its own with ``hold``'s environment (``held_training``),
    wait until it holds, then SIGKILL its whole process group: a crash at that model."""
    process = subprocess.Popen(
        args,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **hold.env},
    )
    hold.wait(process)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
