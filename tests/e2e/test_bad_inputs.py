"""Bad recipes and bad datasets: ``mlflow-qc prepare`` exits 2 with one line naming the field.

The cases run the command in this process (tests/test_cli_exit.py runs the installed command, and the
recipe fuzzer a handful through ``mlflow run``); an error under an existing run, a subprocess."""

import copy
import sqlite3

import pytest
import yaml

from tests.helpers import cli_in_process, run_cli

pytestmark = pytest.mark.e2e

BASE = {
    "name": "bad",
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/sonar.csv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
        "stratifier": {"size_test": 0.2, "fold_count": 3},
    },
    "model": {"library": "sklearn", "analysis_type": "classification_binary", "estimator": "sklearn.svm.SVC"},
}


def edit(*changes):
    def apply(recipe):
        for path, value in changes:
            node = recipe
            keys = path.split(".")
            for key in keys[:-1]:
                node = node[int(key)] if key.isdigit() else node[key]
            last = keys[-1]
            if value is DELETE:
                del node[last]
            elif last.isdigit():
                node[int(last)] = value
            else:
                node[last] = value
        return recipe

    return apply


DELETE = object()
INPUT = "data.inputs.0"

CASES = [
    ("unknown key", edit((f"{INPUT}.colour", "red")), r"data.inputs[0].colour: unknown key 'colour'"),
    ("blank name", edit(("name", "  ")), "name: only blanks; expected a name with a visible character"),
    (
        "missing file",
        edit((f"{INPUT}.dataset.path", "../data/nope.csv")),
        "data.inputs[0].dataset.path: file not found",
    ),
    (
        "unknown column",
        edit((f"{INPUT}.include_columns", ["a", "zz"])),
        "data.inputs[0].include_columns: column(s) ['zz']",
    ),
    (
        "include and exclude",
        edit((f"{INPUT}.include_columns", ["a"]), (f"{INPUT}.exclude_columns", ["b"])),
        "data.inputs[0]: expected include_columns or exclude_columns, not both",
    ),
    (
        "split sizes sum to 1",
        edit(("data.stratifier.size_validation", 0.8)),
        "data.stratifier: size_test + size_validation = 1; expected less than 1",
    ),
    (
        "more folds than rows of a class",
        edit(("data.stratifier.fold_count", 90)),
        "data.stratifier.fold_count: 90 folds need at least 90 training rows",
    ),
    (
        "interpolating a non-float column",
        edit(
            (f"{INPUT}.dataset.path", "../data/exoplanets_gappy.parquet"),
            (f"{INPUT}.interpolaters", [{"columns": ["TypeFlag"]}]),
            ("data.target", {"column": "SurfaceTempK"}),
            ("model.analysis_type", "regression"),
            ("model.estimator", "sklearn.linear_model.Ridge"),
        ),
        "data.inputs[0].interpolaters[0]",
    ),
    (
        "unknown encoder class",
        edit((f"{INPUT}.encoders.0.sklearn", "QuantumScaler")),
        "data.inputs[0].encoders[0].sklearn: unknown encoder 'QuantumScaler'",
    ),
    (
        "encoder params",
        edit((f"{INPUT}.encoders.0.params", {"with_median": True})),
        "data.inputs[0].encoders[0]: params {'with_median': True} do not fit StandardScaler",
    ),
    ("missing target column", edit(("data.target.column", "label")), "data.target.column"),
    (
        "string target for regression",
        edit(
            ("data.target.encoder", DELETE),
            ("model.analysis_type", "regression"),
            ("model.estimator", "sklearn.linear_model.Ridge"),
        ),
        "expected a numeric target for regression",
    ),
    (
        "binary with three classes",
        edit(
            (f"{INPUT}.dataset.path", "../data/iris.tsv"),
            (f"{INPUT}.encoders", []),
            ("data.target", {"column": "species"}),
        ),
        "data.target",
    ),
    (
        "rename with wrong count",
        edit((f"{INPUT}.dataset.rename_columns", ["x", "y"])),
        "data.inputs[0].dataset.rename_columns: 2 names for 61 columns",
    ),
    (
        "retype to a bad dtype",
        edit((f"{INPUT}.dataset.retype", {"object": "float64"})),
        "data.inputs[0].dataset.retype.object: cannot convert to float64",
    ),
    (
        "header on parquet",
        edit((f"{INPUT}.dataset.path", "../data/exoplanets.parquet"), (f"{INPUT}.dataset.header", None)),
        "data.inputs[0].dataset.header: Parquet files carry their column names",
    ),
    (
        "unknown file kind",
        edit((f"{INPUT}.dataset.path", "../data/notes.xyz")),
        "data.inputs[0].dataset.path: cannot tell the kind",
    ),
    (
        "unclaimed string column",
        edit(
            ("data.target.column", "a"),
            ("data.target.encoder", DELETE),
            (f"{INPUT}.encoders", []),
            ("model.analysis_type", "regression"),
            ("model.estimator", "sklearn.linear_model.Ridge"),
        ),
        "object",
    ),
    (
        "size_test out of range",
        edit(("data.stratifier.size_test", 1.5)),
        "data.stratifier.size_test: Input should be less than 1",
    ),
    (
        "one fold",
        edit(("data.stratifier.fold_count", 1)),
        "data.stratifier.fold_count: Input should be greater than or equal to 2",
    ),
    (
        "keras without module",
        edit(("model.library", "keras"), ("model.estimator", DELETE)),
        "model: library keras expects module",
    ),
    ("require untracked data", edit(("data.version", "require")), "data.inputs[0].dataset.path"),
    (
        "unknown estimator argument",
        edit(("model.hyperparameters", {"gamma_ray": [1.0]})),
        "model.hyperparameters.gamma_ray: not an argument of sklearn.svm.SVC",
    ),
    (
        "random search larger than the grid",
        edit(("model.hyperparameters", {"C": [0.1, 1.0]}), ("search", {"method": "random", "count": 5})),
        "search.count: 5 exceeds the 2 combinations",
    ),
    (
        "hyperparameter not a list",
        edit(("model.hyperparameters", {"C": 1.0})),
        "model.hyperparameters.C: Input should be a valid list",
    ),
]


TRAIN_ONLY = {"unknown estimator argument", "random search larger than the grid"}


@pytest.mark.parametrize("name, change, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_naming_the_field(workspace, name, change, expected):
    (workspace / "data" / "notes.xyz").write_text("not a table")
    recipe = workspace / "recipes" / "bad.yaml"
    recipe.parent.mkdir(exist_ok=True)
    recipe.write_text(yaml.safe_dump(change(copy.deepcopy(BASE))))
    code, _, err = cli_in_process("train" if name in TRAIN_ONLY else "prepare", recipe)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last, last
    assert "Traceback" not in err
    assert_no_run_left_running(workspace)


@pytest.mark.parametrize(
    "text, expected",
    [("- just\n- a list\n", "expected a mapping of recipe keys"), ("data: [unclosed\n", "not valid YAML")],
)
def test_unreadable_recipe_files(workspace, text, expected):
    recipe = workspace / "broken.yaml"
    recipe.write_text(text)
    code, _, err = cli_in_process("prepare", recipe)
    assert code == 2 and expected in err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "command, change, expected",
    [
        ("prepare", ("data.target.column", "label"), "data.target.column"),
        ("train", ("model.hyperparameters", {"gamma_ray": 1}), "model.hyperparameters.gamma_ray"),
    ],
)
def test_an_error_under_an_existing_run_ends_it_failed_with_the_traceback(workspace, command, change, expected):
    """Under ``mlflow run`` the run exists before the recipe is read: it must not stay RUNNING."""
    import mlflow

    recipe = workspace / "recipes" / "bad.yaml"
    recipe.parent.mkdir(exist_ok=True)
    recipe.write_text(yaml.safe_dump(edit(change)(copy.deepcopy(BASE))))
    client = mlflow.MlflowClient()
    run = client.create_run(client.create_experiment("under-mlflow-run"))
    result = run_cli(command, recipe, env={"MLFLOW_RUN_ID": run.info.run_id})
    assert result.returncode == 2 and expected in result.stderr.strip().splitlines()[-1]
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "FAILED"
    error = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/qc/error.txt")
    assert expected in error


def assert_no_run_left_running(root):
    db = root / "mlflow.db"
    if not db.exists():
        return
    with sqlite3.connect(db) as connection:
        running = connection.execute("select run_uuid from runs where status = 'RUNNING'").fetchall()
    assert running == []
