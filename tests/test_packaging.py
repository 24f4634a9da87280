"""The project's own files agree with each other (pyproject.toml, conda.yaml, README, .ci/run, MLproject), and
the built wheel installs light: its base requirements name no deep-learning or Dask package, and a fresh
virtualenv with only the base install trains, registers and serves a scikit-learn recipe."""

import importlib.metadata
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import tomllib
import yaml
from packaging.requirements import Requirement

from tests.helpers import REPO_ROOT, background_server, free_port

FRAMEWORKS = {"tensorflow", "tensorflow-cpu", "keras", "torch", "dask", "distributed"}


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_conda_env_pins_what_pyproject_declares():
    conda = yaml.safe_load((REPO_ROOT / "conda.yaml").read_text())
    pip = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    assert [p for p in pip if not p.startswith("-e")] == pyproject()["project"]["dependencies"]
    assert "-e .[all]" in pip  # the demo recipes' libraries


def test_the_extras_take_ranges_and_the_constraints_take_the_cpu_torch_here():
    extras = pyproject()["project"]["optional-dependencies"]
    assert set(extras) >= {"keras", "pytorch", "dask", "all", "test"}
    for extra in ("keras", "pytorch", "dask"):
        for requirement in map(Requirement, extras[extra]):
            assert not any(spec.operator in ("==", "===") for spec in requirement.specifier), requirement
    constraints = (REPO_ROOT / "constraints.txt").read_text()
    assert "torch==2.13.0" in constraints.splitlines()
    assert importlib.metadata.version("torch").startswith("2.13.0")  # what the models here pin (test_bundle)


def test_ci_runs_the_readme_commands_and_ruff_first():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    setup, tests = commands[0], commands[1]
    assert "mlflow run . --env-manager local" in setup and "pip install -e '.[all,test]' -c constraints.txt" in setup
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[all,test]' -c constraints.txt" in ci
    assert tests in ci and "pytest" in tests
    assert ci.index("ruff check .") < ci.index("ruff format --check .") < ci.index(tests)


def test_every_mlproject_entry_point_calls_a_cli_verb():
    from mlflow_qc.cli import cli

    project = yaml.safe_load((REPO_ROOT / "MLproject").read_text())
    assert set(project["entry_points"]) == {
        "main",
        "prepare",
        "predict",
        "importance",
        "register",
        "compare",
        "finalize",
    }
    for name, entry in project["entry_points"].items():
        verb = entry["command"].split()[1]
        assert verb in cli.commands, (name, verb)
        for parameter in entry["parameters"]:
            assert "{" + parameter + "}" in entry["command"], (name, parameter)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project built as a wheel (offline: setuptools and wheel as installed here)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("mlflow_qc-*.whl"))


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return [Requirement(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("Requires-Dist:")]


def test_the_wheel_base_requirements_name_no_deep_learning_or_dask_package(wheel):
    requirements = wheel_requirements(wheel)
    base = [r for r in requirements if r.marker is None or "extra" not in str(r.marker)]
    assert {r.name for r in base} == {Requirement(d).name for d in pyproject()["project"]["dependencies"]}
    assert not {r.name.lower() for r in base} & FRAMEWORKS
    by_extra = {}
    for r in requirements:
        for extra in re.findall(r'extra == "([^"]+)"', str(r.marker or "")):
            by_extra.setdefault(extra, set()).add(r.name)
    assert by_extra["keras"] == {"keras", "tensorflow", "tensorflow-cpu"}  # tensorflow-cpu on Linux x86-64 only
    assert by_extra["pytorch"] == {"torch"} and by_extra["dask"] == {"dask", "distributed"}


# --- a fresh virtualenv with only the base install ------------------------------------------------------------------


def base_closure(wheel: Path) -> list[importlib.metadata.Distribution]:
    """The installed distributions the wheel's base requirements need, transitively (markers of this machine,
    extras only where a requirement asks for them)."""
    found, queue = {}, [(r, frozenset()) for r in wheel_requirements(wheel) if "extra" not in str(r.marker or "")]
    while queue:
        requirement, _ = queue.pop()
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        dist = importlib.metadata.distribution(requirement.name)
        found[key] = dist
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in {"", *requirement.extras}):
                queue.append((child, frozenset()))
    return list(found.values())


def base_venv(wheel: Path, root: Path) -> Path:
    """A new virtualenv that sees only the distributions of the base install (links into this environment's
    site-packages, so nothing is downloaded), with the wheel itself installed into it; its bin folder."""
    farm = root / "base-site"
    farm.mkdir(parents=True)
    for dist in base_closure(wheel):
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (farm / top).exists() and not top.endswith(".pth"):
                (farm / top).symlink_to(source)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "base-install.pth").write_text(f"import site; site.addsitedir({str(farm)!r})\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return venv / "bin"


IRIS_SKLEARN = {
    "name": "iris-base",
    "seed": 3,
    "data": {
        "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
        "target": {"column": "species"},
        "stratifier": {"size_test": 0.2, "fold_count": 2},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_multi",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [1.0]},
    },
    "trainer": {"permute_count": 0},
    "register": {"model_name": "iris-base", "metric": "fold_validation_accuracy", "alias": "champion"},
}


@pytest.mark.e2e
def test_a_fresh_venv_with_only_the_base_install_trains_registers_and_serves_a_sklearn_recipe(
    wheel, workspace, tmp_path
):
    bin_folder = base_venv(wheel, tmp_path / "base")
    python = str(bin_folder / "python")
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(bin_folder.parent)}
    env.pop("PYTHONPATH", None)
    probe = (
        "import importlib.util, mlflow_qc; "
        "print(mlflow_qc.__file__); print([m for m in %r if importlib.util.find_spec(m)])"
        % sorted({"tensorflow", "keras", "torch", "dask", "distributed"})
    )
    where, importable = subprocess.run(
        [python, "-c", probe], env=env, check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.splitlines()
    assert importable == "[]" and where.startswith(str(bin_folder.parent)), (where, importable)

    recipe = workspace / "recipes" / "iris.yaml"
    recipe.parent.mkdir(exist_ok=True)
    recipe.write_text(yaml.safe_dump(IRIS_SKLEARN))
    cli = str(bin_folder / "mlflow-qc")
    trained = subprocess.run([cli, "train", str(recipe)], env=env, cwd=workspace, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_id = trained.stdout.split("experiment run ", 1)[1].split(":", 1)[0]
    registered = subprocess.run([cli, "register", run_id], env=env, cwd=workspace, capture_output=True, text=True)
    assert registered.returncode == 0, registered.stderr[-3000:]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        python,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        "models:/iris-base@champion",
        "--env-manager",
        "local",
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
    ]
    rows = {
        "dataframe_split": {
            "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
            "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]],
        }
    }
    with background_server(command, f"{url}/ping", tmp_path / "serve.log", workspace, env, ready_seconds=180):
        answer = requests.post(f"{url}/invocations", json=rows, timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    assert len(answer.json()["predictions"]) == 2
