"""The identities that let a rerun find its earlier work: job keys, model seeds, the tree's resume key."""

import shutil

import pytest
import yaml

from mlflow_qc.prepare import prepare
from mlflow_qc.recipe import load_recipe
from mlflow_qc.run.experiment_run import resume_key
from mlflow_qc.run.plan import Job, job_key, model_seed, plan_tasks
from tests.helpers import REPO_ROOT


def test_a_job_key_depends_on_the_values_not_their_order():
    assert job_key({"a": 1, "b": [1, 2]}) == job_key({"b": [1, 2], "a": 1})
    assert job_key({"a": 1}) != job_key({"a": 2})
    assert Job(0, {"C": 1.0}).key == Job(5, {"C": 1.0}).key  # the index is where it stands, not what it is
    assert Job(0, {"C": 1.0}).key != Job(0, {"C": 1.0}, refit=True).key


def test_each_model_has_its_own_seed_and_reruns_agree():
    seeds = {model_seed(42, "k", fold, repeat) for fold in (None, 0, 1) for repeat in (0, 1)}
    assert len(seeds) == 6
    assert model_seed(42, "k", 0, 1) == model_seed(42, "k", 0, 1)
    assert model_seed(42, "k", 0, 1) != model_seed(43, "k", 0, 1)
    assert all(0 <= seed < 2**31 - 1 for seed in seeds)


def test_tasks_are_job_major_with_stable_identities():
    jobs = [Job(0, {"C": 0.1}), Job(1, {"C": 1.0})]
    tasks = plan_tasks(jobs, ["fold_0", "fold_1"], 2, 7)
    assert [t.job.index for t in tasks] == [0] * 4 + [1] * 4
    assert [(t.fold_index, t.repeat_index) for t in tasks[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert len({t.identity for t in tasks}) == 8
    assert plan_tasks(jobs, ["fold_0", "fold_1"], 2, 7) == tasks


@pytest.fixture
def iris_recipe(workspace):
    recipe = {
        "name": "keys",
        "seed": 1,
        "data": {
            "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
            "target": {"column": "species"},
            "stratifier": {"size_test": 0.2},
            "version": "off",
        },
        "model": {
            "library": "pytorch",
            "analysis_type": "classification_multi",
            "module": "../models/iris_torch.py",
            "hyperparameters": {"neuron_count": [4]},
        },
    }
    (workspace / "recipes").mkdir()
    shutil.copytree(REPO_ROOT / "models", workspace / "models")
    path = workspace / "recipes" / "keys.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_the_resume_key_follows_data_seed_and_code_not_grid_or_repeats(iris_recipe):
    def key(overrides=""):
        recipe = load_recipe(iris_recipe, overrides or None)
        return resume_key(recipe, prepare(recipe))

    base = key()
    assert key("model.hyperparameters.neuron_count=[4, 8];trainer.repeat_count=3") == base
    assert key("seed=2") != base
    assert key("data.stratifier.size_test=0.3") != base
    module = iris_recipe.parent.parent / "models" / "iris_torch.py"
    module.write_text(module.read_text() + "\n# changed\n")
    assert key() != base
