"""What a new user tripped on (issue 15), each fixed and held here.

MLflow's default evaluator on a qc model is tested beside the served models
(tests/serve/test_mlflow_evaluate.py); repeated CSV column names also in test_data_fuzz.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import yaml

from mlflow_qc.models.metrics import metric_names
from mlflow_qc.recipe import load_recipe
from mlflow_qc.tracking.names import SPLITS, STATS, split_of
from tests.e2e.test_recipe_fuzz import run_counts
from tests.helpers import REPO_ROOT, cli_in_process, runs_by_level

pytestmark = pytest.mark.e2e

IRIS = {
    "inputs": [
        {"dataset": {"path": "../data/iris.tsv"}, "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}]}
    ],
    "target": {"column": "species", "encoder": {"sklearn": "OrdinalEncoder"}},
    "stratifier": {"size_test": 0.2},
    "version": "off",
}


def write(root: Path, name: str, recipe: dict | str) -> Path:
    path = root / "recipes" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(recipe if isinstance(recipe, str) else yaml.safe_dump(recipe, sort_keys=False))
    return path


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --- 1. YAML 1.1 booleans where text goes --------------------------------------------------------

FULL = """\
name: {w}
data:
  inputs:
    - dataset: {{path: {w}, kind: {w}, retype: {w}}}
      include_columns: [{w}]
      encoders: [{{sklearn: {w}, dtypes: [{w}], columns: [{w}], include: {w}}}]
  target: {{column: {w}, encoder: {{sklearn: {w}}}}}
  version: {w}
model: {{library: {w}, analysis_type: {w}, estimator: {w}, hyperparameters: {{fit_intercept: [{w}]}}}}
search: {{method: {w}}}
trainer: {{backend: {w}, continue_on_error: {w}, refit: {w}}}
register: {{model_name: {w}, metric: {w}, alias: {w}}}
"""
TEXT_FIELDS = [
    "name",
    "data.inputs[0].dataset.path",
    "data.inputs[0].dataset.kind",
    "data.inputs[0].dataset.retype",
    "data.inputs[0].include_columns[0]",
    "data.inputs[0].encoders[0].sklearn",
    "data.inputs[0].encoders[0].dtypes[0]",
    "data.inputs[0].encoders[0].columns[0]",
    "data.target.column",
    "data.target.encoder.sklearn",
    "data.version",
    "model.library",
    "model.analysis_type",
    "model.estimator",
    "search.method",
    "trainer.backend",
    "register.model_name",
    "register.metric",
    "register.alias",
]


@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "Off", "YES", "true", "False"])
def test_a_bare_yaml_boolean_is_its_text_in_every_string_field_and_a_boolean_elsewhere(word):
    from mlflow_qc.recipe import Recipe
    from mlflow_qc.recipe_yaml import load_yaml, settle_words

    raw = settle_words(load_yaml(FULL.format(w=word), "recipe"), Recipe)
    flag = word.lower() in ("on", "yes", "true")
    for field in TEXT_FIELDS:
        node = raw
        for part in re.findall(r"[a-z_]+|\[\d+\]", field):
            node = node[int(part[1:-1])] if part.startswith("[") else node[part]
        assert node == word and type(node) is str, (field, node)
    assert raw["trainer"]["continue_on_error"] is flag and raw["trainer"]["refit"] is flag
    assert raw["data"]["inputs"][0]["encoders"][0]["include"] is flag
    assert raw["model"]["hyperparameters"]["fit_intercept"] == [flag]


def test_a_refused_bare_word_is_quoted_as_written(workspace):
    from mlflow_qc.errors import QCError

    recipe = write(
        workspace, "word", "data: {inputs: [{dataset: ../data/iris.tsv}], version: no}\nmodel: {library: on}\n"
    )
    with pytest.raises(QCError, match=r"data\.version: Input should be 'auto', 'require' or 'off' \(got 'no'\)"):
        load_recipe(recipe)
    with pytest.raises(QCError, match=r"model\.library: Input should be 'keras', 'pytorch' or 'sklearn' \(got 'on'\)"):
        load_recipe(recipe, "data.version=off")


def test_the_readme_s_version_off_loads_and_trains(workspace):
    recipe = write(
        workspace,
        "off",
        yaml.safe_dump(
            {
                "name": "off",
                "data": {**IRIS, "version": "__BARE__"},
                "model": {
                    "library": "sklearn",
                    "analysis_type": "classification_multi",
                    "estimator": "sklearn.linear_model.LogisticRegression",
                },
            }
        )
        .replace("'__BARE__'", "off")
        .replace("__BARE__", "off"),
    )
    assert "version: off\n" in recipe.read_text()
    assert load_recipe(recipe).data.version == "off"
    assert load_recipe(recipe, "data.version=off;trainer.refit=yes").trainer.refit is True
    code, out, err = cli_in_process("--quiet", "train", recipe)
    assert code == 0 and "1 model(s) finished" in out, err[-2000:]


# --- 2. no validation split: fn_train gets None and is told why -------------------------------------

TORCH_FN_TRAIN = """
from torch import nn


def fn_build(features_shape, label_shape, **hp):
    return nn.Sequential(nn.Linear(features_shape[-1], 8), nn.ReLU(), nn.Linear(8, label_shape[-1]), nn.Softmax(dim=1))


def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    assert eval_features is None and eval_label is None  # never the test split
    watched = float(loser(model(eval_features), eval_label))  # a script written for a validation split
    return model, {"val_loss": [watched]}
"""

KERAS_FN_TRAIN = """
import keras


def fn_build(features_shape, label_shape, **hp):
    return keras.Sequential([keras.Input(features_shape), keras.layers.Dense(label_shape[-1], activation="softmax")])


def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    model.compile(loss=loser, optimizer=optimizer, metrics=["accuracy"])
    model.fit(train_features, train_label, validation_data=(eval_features, eval_label), epochs=1, verbose=0)
    return model
"""


@pytest.mark.parametrize("library, code", [("pytorch", TORCH_FN_TRAIN), ("keras", KERAS_FN_TRAIN)])
def test_a_fn_train_without_a_validation_split_is_told_why(workspace, library, code):
    module = workspace / "models" / f"{library}_needs_eval.py"
    module.parent.mkdir(exist_ok=True)
    module.write_text(code)
    recipe = write(
        workspace,
        f"no-eval-{library}",
        {
            "name": f"no-eval-{library}",
            "data": IRIS,
            "model": {
                "library": library,
                "analysis_type": "classification_multi",
                "module": f"../models/{module.name}",
            },
        },
    )
    status, out, err = cli_in_process("--quiet", "train", recipe)
    assert status == 1 and "nothing succeeded" in err, err[-2000:]
    message = last_line(err)
    assert "fn_train" in message and "eval_features=None" in message and "no validation split" in message, message
    assert "size_validation or fold_count" in message
    [model_run] = runs_by_level(f"no-eval-{library}")["model"]
    error = mlflow.artifacts.load_text(f"runs:/{model_run.info.run_id}/qc/error.txt")
    assert "no validation split to watch" in error and "Traceback" in error  # the user's own error stays below it


def test_the_default_training_needs_no_validation_split(workspace):
    (workspace / "models").mkdir(exist_ok=True)
    module = workspace / "models" / "plain_torch.py"
    module.write_text(TORCH_FN_TRAIN.split("def fn_train")[0])
    recipe = write(
        workspace,
        "no-eval-default",
        {
            "name": "no-eval-default",
            "data": IRIS,
            "model": {
                "library": "pytorch",
                "analysis_type": "classification_multi",
                "module": "../models/plain_torch.py",
                "hyperparameters": {"epochs": [2]},
            },
        },
    )
    status, out, err = cli_in_process("--quiet", "train", recipe)
    assert status == 0 and "1 model(s) finished" in out, err[-2000:]
    [model_run] = runs_by_level("no-eval-default")["model"]
    assert "val_loss" not in model_run.data.metrics and "test_accuracy" in model_run.data.metrics


# --- 3. a misspelt key points to the README ---------------------------------------------------------


def test_a_misspelt_key_points_to_the_readme_recipe_section(workspace):
    recipe = write(workspace, "typo", {"name": "typo", "data": {**IRIS, "stratifer": {"size_test": 0.2}}})
    status, _, err = cli_in_process("prepare", recipe)
    assert status == 2
    assert last_line(err).endswith(
        "data.stratifer: unknown key 'stratifer' in data; did you mean 'stratifier'? (README, section 'The recipe')"
    )
    readme = (REPO_ROOT / "README.md").read_text()
    assert "## The recipe" in readme


def test_no_user_facing_text_mentions_design_md():
    offending = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "mlflow_qc").rglob("*.py")
        if "DESIGN" in path.read_text()
    ]
    assert offending == []


# --- 4. repeated column names in a CSV header ----------------------------------------------------


def test_repeated_csv_column_names_are_refused_not_renamed(workspace):
    sonar = (workspace / "data" / "sonar.csv").read_text().splitlines()
    header = sonar[0].split(",")
    header[1] = header[0]  # the second column now repeats the first one's name
    (workspace / "data" / "sonar_twice.csv").write_text("\n".join([",".join(header), *sonar[1:]]) + "\n")
    recipe = write(
        workspace,
        "twice",
        {
            "name": "twice",
            "data": {
                "inputs": [{"dataset": {"path": "../data/sonar_twice.csv"}}],
                "target": {"column": "object"},
                "version": "off",
            },
        },
    )
    status, _, err = cli_in_process("prepare", recipe)
    assert status == 2
    assert f"column name(s) [{header[0]}] appear more than once in the header of sonar_twice.csv" in last_line(err)
    assert f"{header[0]}.1" not in err  # pandas' renamed copy never reaches the user


# --- 5. no metric name parses as split + metric unless it is one ----------------------------------


def test_timings_stay_out_of_the_split_metric_namespace(workspace):
    recipe = write(
        workspace,
        "names",
        {
            "name": "names",
            "data": {**IRIS, "stratifier": {"size_test": 0.2, "size_validation": 0.2, "fold_count": 2}},
            "model": {
                "library": "sklearn",
                "analysis_type": "classification_multi",
                "estimator": "sklearn.neural_network.MLPClassifier",
                "hyperparameters": {"max_iter": [30], "early_stopping": [True]},
            },
            "trainer": {"permute_count": 1},
        },
    )
    status, out, err = cli_in_process("--quiet", "train", recipe)
    assert status == 0, err[-2000:]
    names = set(metric_names("classification_multi"))
    levels = runs_by_level("names")
    for model_run in levels["model"]:
        metrics = model_run.data.metrics
        assert "fit_seconds" in metrics and "train_seconds" not in metrics
        for key in metrics:
            split = split_of(key)
            assert split is None or key[len(split) + 1 :] in names, key
    for run in levels["job"] + levels["fold"] + levels["experiment"]:
        for key in run.data.metrics:
            split = split_of(key)
            assert split is None or key[len(split) + 1 :].rsplit("_", 1) in ([n, s] for n in names for s in STATS), key
    assert {split_of(f"{s}_accuracy") for s in SPLITS} == set(SPLITS)


# --- 6. a PyTorch fn_build ending in logits ---------------------------------------------------------

LOGITS = """
from torch import nn


def fn_build(features_shape, label_shape, **hp):
    return nn.Sequential(nn.Linear(features_shape[-1], hp["neuron_count"]), nn.ReLU(), nn.Linear(hp["neuron_count"], label_shape[-1]))


def fn_lose(**hp):
    return nn.CrossEntropyLoss()  # the PyTorch idiom: it takes logits
"""


@pytest.mark.parametrize("analysis_type, lose", [("classification_multi", True), ("classification_binary", False)])
def test_a_model_ending_in_logits_stops_at_the_first_model(workspace, analysis_type, lose):
    (workspace / "models").mkdir(exist_ok=True)
    code = (
        LOGITS if lose else LOGITS.split("def fn_lose")[0]
    )  # binary with the default BCELoss, which needs probabilities
    (workspace / "models" / "logits.py").write_text(code)
    binary = analysis_type == "classification_binary"
    data = (
        {**IRIS, "inputs": [{"dataset": {"path": "../data/sonar.csv"}}], "target": {"column": "object"}}
        if binary
        else IRIS
    )
    recipe = write(
        workspace,
        f"logits-{binary}",
        {
            "name": f"logits-{binary}",
            "data": data,
            "model": {
                "library": "pytorch",
                "analysis_type": analysis_type,
                "module": "../models/logits.py",
                "hyperparameters": {"neuron_count": [4, 8, 16], "epochs": [2]},
            },
        },
    )
    status, _, err = cli_in_process("--quiet", "train", recipe)
    assert status == 2, err[-2000:]
    message = last_line(err)
    assert "the model's output is not a probability per class" in message, message
    assert ("softmax" if not binary else "sigmoid") in message and "fn_predict" in message
    levels = runs_by_level(f"logits-{binary}")
    assert len(levels["model"]) == 1 and levels["model"][0].info.status == "FAILED"  # the other jobs never trained
    assert levels["experiment"][0].info.status == "FAILED"
    assert run_counts(workspace / "mlflow.db")[1] == 0
