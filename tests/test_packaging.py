"""The project's own files agree with each other: setup.py, conda.yaml, README, .ci/run, MLproject."""
import re

import yaml

from tests.helpers import REPO_ROOT


def setup_requirements() -> list[str]:
    text = (REPO_ROOT / "setup.py").read_text()
    block = re.search(r"INSTALL_REQUIRES = \[(.*?)\]", text, re.S).group(1)
    return re.findall(r'"([^"]+)"', block)


def test_conda_env_pins_what_setup_py_declares():
    conda = yaml.safe_load((REPO_ROOT / "conda.yaml").read_text())
    pip = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    assert [p for p in pip if not p.startswith("-e")] == setup_requirements()
    assert "torch==2.13.0" in setup_requirements()


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    setup, tests = commands[0], commands[1]
    assert "mlflow run . --env-manager local" in setup and "pip install -e" in setup
    assert tests in (REPO_ROOT / ".ci" / "run").read_text()
    assert "pytest" in tests


def test_every_mlproject_entry_point_calls_a_cli_verb():
    from mlflow_qc.cli import cli

    project = yaml.safe_load((REPO_ROOT / "MLproject").read_text())
    assert set(project["entry_points"]) == {"main", "prepare", "predict", "importance", "register", "compare", "finalize"}
    for name, entry in project["entry_points"].items():
        verb = entry["command"].split()[1]
        assert verb in cli.commands, (name, verb)
        for parameter in entry["parameters"]:
            assert "{" + parameter + "}" in entry["command"], (name, parameter)
