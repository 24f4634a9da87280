"""The quality guards' recipe keys (trainer.hide_test, baseline, threshold; register.gate): what they
accept, and one line naming the key for what they do not."""

import pytest
import yaml

from mlflow_qc import QCError, load_recipe
from tests.test_recipe import RECIPE  # binary sonar, size_test + size_validation + 5 folds


def write(tmp_path, change) -> str:
    raw = yaml.safe_load(RECIPE)
    change(raw)
    path = tmp_path / "recipes" / "guards.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def trainer(**keys):
    return lambda raw: raw["trainer"].update(keys)


def test_the_guards_are_off_unless_asked():
    recipe = yaml.safe_load(RECIPE)
    assert "hide_test" not in recipe["trainer"]
    from mlflow_qc import Trainer

    defaults = Trainer()
    assert (defaults.hide_test, defaults.baseline, defaults.threshold) == (False, False, None)


@pytest.mark.parametrize("threshold", ["f1", "youden", 0.3, 0.75])
def test_threshold_takes_a_rule_or_a_number(tmp_path, threshold):
    recipe = load_recipe(write(tmp_path, trainer(hide_test=True, baseline=True, threshold=threshold)))
    assert recipe.trainer.threshold == threshold and recipe.trainer.hide_test and recipe.trainer.baseline


@pytest.mark.parametrize("threshold", [True, 0, 1.5, "median"])
def test_threshold_refuses_anything_else_naming_the_key(tmp_path, threshold):
    path = write(tmp_path, trainer(threshold=threshold))
    with pytest.raises(QCError) as caught:
        load_recipe(path)
    assert str(caught.value).startswith(f"{path}: trainer.threshold: expected f1 or youden or a number between 0 and 1")


def test_threshold_is_for_binary_classification_only(tmp_path):
    def multi(raw):
        raw["model"]["analysis_type"] = "classification_multi"
        raw["trainer"]["threshold"] = 0.4

    path = write(tmp_path, multi)
    with pytest.raises(
        QCError,
        match="trainer.threshold: applies to classification_binary only; expected null for classification_multi",
    ):
        load_recipe(path)


def test_a_threshold_rule_needs_an_evaluation_split_and_a_number_does_not(tmp_path):
    def no_evaluation(threshold):
        def change(raw):
            raw["data"]["stratifier"] = {"size_test": 0.2}
            raw["trainer"]["threshold"] = threshold

        return change

    with pytest.raises(
        QCError,
        match=r"trainer.threshold: f1 is chosen on each model's evaluation split; expected "
        r"data.stratifier.fold_count or size_validation, or a fixed number",
    ):
        load_recipe(write(tmp_path, no_evaluation("f1")))
    assert load_recipe(write(tmp_path, no_evaluation(0.4))).trainer.threshold == 0.4


def test_hide_test_needs_a_test_split(tmp_path):
    def no_test(raw):
        raw["data"]["stratifier"] = {"size_validation": 0.2}
        raw["trainer"]["hide_test"] = True

    with pytest.raises(
        QCError, match="trainer.hide_test: there is no test split to seal; expected data.stratifier.size_test"
    ):
        load_recipe(write(tmp_path, no_test))


def test_a_sealed_test_metric_cannot_rank_the_jobs(tmp_path):
    def ranked_on_test(raw):
        raw["trainer"]["hide_test"] = True
        raw["register"] = {"model_name": "m", "metric": "test_accuracy"}

    with pytest.raises(QCError, match="register.metric: test_accuracy is sealed by trainer.hide_test"):
        load_recipe(write(tmp_path, ranked_on_test))


@pytest.mark.parametrize("gate, accepted", [(0.05, True), (0.01, True), (0, False), (1, False), (5, False)])
def test_gate_is_a_p_value(tmp_path, gate, accepted):
    path = write(tmp_path, lambda raw: raw.update(register={"model_name": "m", "gate": gate}))
    if accepted:
        assert load_recipe(path).register.gate == gate
    else:
        with pytest.raises(QCError, match=r"register.gate: Input should be (greater|less) than"):
            load_recipe(path)


def test_a_hyperparameter_named_threshold_collides_with_the_models_param(tmp_path):
    from mlflow_qc.run.experiment_run import check_model

    def collide(raw):
        raw["model"]["hyperparameters"] = {"C": [1.0], "threshold": [0.1]}
        raw["trainer"]["threshold"] = "f1"

    (tmp_path / "data").mkdir()
    with pytest.raises(
        QCError, match="model.hyperparameters.threshold: is the name of the model runs' decision threshold"
    ):
        check_model(load_recipe(write(tmp_path, collide)))
