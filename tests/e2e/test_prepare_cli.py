"""``mlflow-qc prepare`` end to end: real DVC repo, real sqlite MLflow store, real subprocesses."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import cli_in_process, run_cli

pytestmark = pytest.mark.e2e

SONAR = {
    "name": "sonar-prepare",
    "seed": 42,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/sonar.csv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
        "stratifier": {"size_test": 0.12, "size_validation": 0.22, "fold_count": 5},
    },
}


def write_recipe(root: Path, recipe: dict, name: str = "prepare.yaml") -> Path:
    path = root / "recipes" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    return path


def prepared_run(*args) -> str:
    result = run_cli("prepare", *args, check=True)
    return result.stdout.strip().split()[-1]


def prepared_in_process(*args) -> str:
    """``prepared_run`` in this process (no interpreter start): where a test needs another process only once."""
    status, out, err = cli_in_process("prepare", *args)
    assert status == 0, err[-3000:]
    return out.strip().split()[-1]


def artifact(run_id: str, path: str) -> Path:
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path))


def test_scaler_fits_only_the_training_rows_of_each_fold(workspace):
    run_id = prepared_run(write_recipe(workspace, SONAR), "--export", "true")
    for k in range(5):
        train = pd.read_parquet(artifact(run_id, f"qc/prepared/fold_{k}/train/features_0.parquet"))
        held_out = pd.read_parquet(artifact(run_id, f"qc/prepared/fold_{k}/fold_validation/features_0.parquet"))
        assert train.shape[1] == 60 and list(train.columns[:2]) == ["a", "b"]
        assert np.abs(train.mean()).max() < 1e-9
        assert np.abs(held_out.mean()).max() > 1e-3
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["qc.level"] == "prepare"
    assert run.data.params["seed"] == "42"
    assert [d.dataset.source_type for d in run.inputs.dataset_inputs] == ["dvc"]


def test_one_hot_learns_its_categories_from_each_folds_training_rows(workspace):
    frame = pd.read_csv(workspace / "data" / "sonar.csv")
    frame["site"] = np.where(np.arange(len(frame)) % 2 == 0, "north", "south")
    frame.loc[5, "site"] = "rare"  # one row: some fold holds it out, so its training rows lack it
    frame.to_csv(workspace / "data" / "sonar_site.csv", index=False)
    recipe = json.loads(json.dumps(SONAR))
    recipe["data"]["inputs"][0]["dataset"]["path"] = "../data/sonar_site.csv"
    recipe["data"]["inputs"][0]["encoders"].append({"sklearn": "OneHotEncoder", "columns": ["site"]})
    recipe["data"]["stratifier"] = {"fold_count": 5}
    run_id = prepared_run(write_recipe(workspace, recipe), "--export", "true")
    splits = json.loads(artifact(run_id, "qc/splits.json").read_text())
    fold = next(k for k, f in enumerate(splits["folds"]) if 5 in f["fold_validation"])
    train = pd.read_parquet(artifact(run_id, f"qc/prepared/fold_{fold}/train/features_0.parquet"))
    held_out = pd.read_parquet(artifact(run_id, f"qc/prepared/fold_{fold}/fold_validation/features_0.parquet"))
    assert {"site=north", "site=south"} <= set(
        train.columns
    ) and "site=rare" not in train.columns  # README: "Categories the training rows lack"
    position = splits["folds"][fold]["fold_validation"].index(5)
    assert held_out[["site=north", "site=south"]].iloc[position].tolist() == [0.0, 0.0]  # unseen: zeros
    other = next(k for k in range(len(splits["folds"])) if k != fold)
    assert (
        "site=rare" in pd.read_parquet(artifact(run_id, f"qc/prepared/fold_{other}/train/features_0.parquet")).columns
    )


def test_same_seed_gives_identical_splits_json_and_another_seed_does_not(workspace):
    recipe = write_recipe(workspace, SONAR)
    first = artifact(prepared_run(recipe), "qc/splits.json").read_bytes()
    # the same splits in another process (another hash seed); another seed's in that one too
    second = artifact(prepared_in_process(recipe), "qc/splits.json").read_bytes()
    other = artifact(prepared_in_process(recipe, "--overrides", "seed=7"), "qc/splits.json").read_bytes()
    assert first == second
    assert other != first
    raw = json.loads(first)
    assert raw["seed"] == 42 and len(raw["folds"]) == 5
    assert sorted(sum(raw["splits"].values(), [])) == list(range(208))


def test_edited_data_gets_a_new_version_and_the_old_bytes_come_back(workspace, tmp_path):
    csv = workspace / "data" / "sonar.csv"
    original = csv.read_bytes()
    recipe = write_recipe(workspace, SONAR)
    old_run = prepared_run(recipe)
    frame = pd.read_csv(csv)
    frame.loc[0, "a"] = 0.5
    frame.to_csv(csv, index=False)
    new_run = prepared_in_process(recipe)

    def md5(run_id):
        [dataset] = mlflow.MlflowClient().get_run(run_id).inputs.dataset_inputs
        return json.loads(dataset.dataset.source)["md5"]

    assert md5(old_run) != md5(new_run)
    assert (workspace / "data" / "sonar.csv.dvc").exists()
    run_cli("data", "get", old_run, tmp_path / "restored", check=True)
    assert (tmp_path / "restored" / "sonar.csv").read_bytes() == original
    assert csv.read_bytes() != original
