"""The recipe: YAML <-> Python objects, relative paths, overrides, bad keys."""

import pytest
import yaml

from mlflow_qc import Architecture, Experiment, Input, Pipeline, QCError, Stratifier, Target, Trainer, load_recipe
from mlflow_qc.overrides import apply_overrides
from mlflow_qc.recipe import recipe_from_dict

RECIPE = """
name: sonar
seed: 7
data:
  inputs:
    - dataset: {path: ../data/sonar.csv}
      exclude_columns: [object]
      encoders:
        - {sklearn: PowerTransformer, params: {method: yeo-johnson}, dtypes: [float64]}
  target: {column: object, encoder: {sklearn: LabelBinarizer}}
  stratifier: {size_test: 0.12, size_validation: 0.22, fold_count: 5}
model:
  library: sklearn
  analysis_type: classification_binary
  estimator: sklearn.linear_model.LogisticRegression
  hyperparameters: {C: [0.1, 1.0]}
trainer: {repeat_count: 2}
"""


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "recipes" / "sonar.yaml"
    path.parent.mkdir()
    path.write_text(RECIPE)
    return path


def test_paths_are_relative_to_the_recipe_file(recipe_file, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    recipe = load_recipe(recipe_file)
    assert recipe.data.inputs[0].dataset.path == str(tmp_path / "data" / "sonar.csv")
    assert recipe.name == "sonar" and recipe.seed == 7


def test_yaml_round_trip_through_python_objects(recipe_file, tmp_path):
    recipe = load_recipe(recipe_file)
    copy = tmp_path / "elsewhere" / "copy.yaml"
    copy.parent.mkdir()
    recipe.to_yaml(copy)
    assert yaml.safe_load(copy.read_text())["data"]["inputs"][0]["dataset"]["path"] == "../data/sonar.csv"
    again = load_recipe(copy)
    assert again.to_dict() == recipe.to_dict()


def test_python_objects_equal_the_file(recipe_file, tmp_path):
    experiment = Experiment(
        pipeline=Pipeline(
            inputs=[
                Input(
                    dataset=str(tmp_path / "data" / "sonar.csv"),
                    exclude_columns=["object"],
                    encoders=[
                        {"sklearn": "PowerTransformer", "params": {"method": "yeo-johnson"}, "dtypes": ["float64"]}
                    ],
                )
            ],
            target=Target(column="object", encoder={"sklearn": "LabelBinarizer"}),
            stratifier=Stratifier(size_test=0.12, size_validation=0.22, fold_count=5),
        ),
        architecture=Architecture(
            library="sklearn",
            analysis_type="classification_binary",
            estimator="sklearn.linear_model.LogisticRegression",
            hyperparameters={"C": [0.1, 1.0]},
        ),
        trainer=Trainer(repeat_count=2),
        name="sonar",
        seed=7,
    )
    assert experiment.recipe.to_dict() == load_recipe(recipe_file).to_dict()


def test_a_dask_scheduler_address_is_kept(recipe_file):
    recipe = load_recipe(recipe_file, "trainer.backend=dask;trainer.address=tcp://10.0.0.5:8786")
    assert (recipe.trainer.backend, recipe.trainer.address) == ("dask", "tcp://10.0.0.5:8786")
    assert load_recipe(recipe_file).trainer.address is None


def test_overrides_set_nested_keys_and_list_items(recipe_file):
    recipe = load_recipe(recipe_file, "trainer.repeat_count=1; seed=9; data.inputs.0.encoders.0.params.method=box-cox")
    assert recipe.trainer.repeat_count == 1 and recipe.seed == 9
    assert recipe.data.inputs[0].encoders[0].params == {"method": "box-cox"}
    assert apply_overrides({"a": {"b": 1}}, "a.c=[1, 2]") == {"a": {"b": 1, "c": [1, 2]}}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ("trainer.repeat_count", "overrides: 'trainer.repeat_count' is not key=value"),
        ("data.inputs.5.encoders=[]", "overrides: 'data.inputs.5': expected a list index below 1"),
        ("trainer.repeats=2", "trainer.repeats: unknown key 'repeats' in trainer"),
        ("trainer.address=tcp://10.0.0.5:8786", "trainer: address names a Dask scheduler; expected backend: dask"),
        ("trainer.backend=dask;trainer.address=' '", "trainer.address: expected a Dask scheduler address"),
    ],
)
def test_bad_overrides_name_the_key(recipe_file, overrides, message):
    with pytest.raises(QCError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_recipe(recipe_file, overrides)


def test_errors_name_the_field_and_the_file(recipe_file):
    raw = yaml.safe_load(RECIPE)
    raw["data"]["inputs"][0]["encoders"][0]["sklearn"] = "NoSuchScaler"
    with pytest.raises(QCError) as error:
        recipe_from_dict(raw, source=str(recipe_file))
    assert str(error.value).startswith(
        f"{recipe_file}: data.inputs[0].encoders[0].sklearn: unknown encoder 'NoSuchScaler'"
    )
