"""register.gate: the alias moves only to a model that beats its holder (corrected resampled t-test on
shared splits, a paired test on the candidate's validation rows otherwise); others become @challenger."""

from __future__ import annotations

import json
import math
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlflow_qc.serve.registry import register_best
from tests.guard_data import DATA, cli_env, guard_recipe, inside, new_guard_project, tracking_uri, train
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e

NAME = "guards"
METRIC = "fold_validation_accuracy"
GATED = {"model_name": NAME, "gate": 0.05}
WEAK = guard_recipe("weak", ["weak"], register=GATED)  # a mediocre feature
WORSE = guard_recipe("worse", ["shuffled"], "sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": [1]})
STRONG = guard_recipe("strong", ["signal"], register=GATED)
WORSE_ELSEWHERE = guard_recipe(
    "worse-elsewhere", ["shuffled"], "sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": [1]}, seed=6
)  # other splits


def table(root, run_id: str, path: str = "qc/metrics.csv") -> pd.DataFrame:
    return pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=tracking_uri(root))
    )


def corrected_p(root, run_a: str, run_b: str) -> float:
    """Job 0 of run a against job 0 of run b over their shared folds x repeats, by hand (Nadeau and Bengio)."""
    a, b = (table(root, run) for run in (run_a, run_b))
    pairs = a.merge(b, on=["fold_index", "repeat_index"])
    if all(side.groupby("fold_index")[METRIC].nunique().max() == 1 for side in (a, b)):
        pairs = pairs[pairs["repeat_index"] == 0]  # deterministic models on both sides: one pair per fold
    d = (pairs[f"{METRIC}_x"] - pairs[f"{METRIC}_y"]).to_numpy()
    splits = json.loads(
        open(
            mlflow.artifacts.download_artifacts(
                run_id=run_a, artifact_path="qc/splits.json", tracking_uri=tracking_uri(root)
            )
        ).read()
    )
    ratio = np.mean([len(f["fold_validation"]) for f in splits["folds"]]) / np.mean(
        [len(f["train"]) for f in splits["folds"]]
    )
    t = d.mean() / math.sqrt((1 / len(d) + ratio) * d.var(ddof=1))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def version(root, number: str):
    return mlflow.MlflowClient(tracking_uri(root)).get_model_version(NAME, number)


def champion(root) -> str:
    return str(mlflow.MlflowClient(tracking_uri(root)).get_model_version_by_alias(NAME, "champion").version)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = new_guard_project(tmp_path_factory.mktemp("gate") / "project")
    runs = {recipe["name"]: train(root, recipe).run_id for recipe in (WEAK, WORSE)}
    return root, runs


def test_the_first_gated_version_takes_the_alias(project):
    root, runs = project
    first = version(root, "1")
    assert first.aliases == ["champion"] and first.tags["qc.experiment_run_id"] == runs["weak"]
    assert first.description.endswith("no version held @champion, nothing to beat -> @champion goes to this version")


def test_a_worse_model_leaves_the_champion_and_becomes_challenger_saying_why(project):
    root, runs = project
    registered = run_cli("register", runs["worse"], "--model-name", NAME, "--gate", "0.05", cwd=root, env=cli_env(root))
    assert registered.returncode == 0, registered.stderr[-2000:]
    second = version(root, "2")
    assert second.aliases == ["challenger"] and champion(root) == "1"
    weak, worse = (table(root, runs[name]) for name in ("weak", "worse"))
    expected_p = corrected_p(root, runs["worse"], runs["weak"])
    assert (
        float(second.tags["qc.gate_p_value"]) == pytest.approx(expected_p, rel=1e-9)
        and second.tags["qc.gate_holder_version"] == "1"
    )
    printed = registered.stdout
    assert "registered guards version 2 as @challenger" in printed
    for value in (worse[METRIC].mean(), weak[METRIC].mean()):
        assert f"mean {value:.4g}" in printed  # both scores
    assert f"p = {expected_p:.3g}" in printed and "@champion stays at version 1; this version is @challenger" in printed
    assert second.description.splitlines()[-1] in printed  # the description holds the comparison


def test_a_better_model_moves_the_champion(project):
    root, runs = project
    runs["strong"] = train(root, STRONG).run_id  # registered by the recipe's register block
    third = version(root, "3")
    assert champion(root) == "3" and third.aliases == ["champion"]
    assert version(root, "2").aliases == ["challenger"] and version(root, "1").aliases == []
    expected_p = corrected_p(root, runs["strong"], runs["weak"])
    assert expected_p < 0.05 and float(third.tags["qc.gate_p_value"]) == pytest.approx(expected_p, rel=1e-9)
    assert third.description.endswith("-> @champion moves to this version")
    assert (
        mlflow.MlflowClient(tracking_uri(root)).get_run(runs["strong"]).data.tags["qc.registered_model"]
        == f"models:/{NAME}/3"
    )


def test_different_splits_compare_both_models_on_the_candidates_validation_rows(project):
    root, runs = project
    elsewhere = train(root, WORSE_ELSEWHERE).run_id
    with inside(root):
        fourth = register_best(elsewhere, None, NAME, None, 0.05)
    assert fourth.aliases == ["challenger"] and champion(root) == "3"
    text = fourth.description.splitlines()[-1]
    found = re.search(
        r"evaluated on the candidate's fold_validation split \((\d+) rows\): .* (\S+) vs @champion version 3 (\S+); "
        r"paired permutation test: p = (\S+) -> @champion stays at version 3",
        text,
    )
    assert found, text
    # the same numbers by hand: both served models on the rows of the candidate model's held-out fold
    model_run = mlflow.MlflowClient(tracking_uri(root)).get_run(fourth.run_id)
    splits = json.loads(
        open(
            mlflow.artifacts.download_artifacts(
                run_id=elsewhere, artifact_path="qc/splits.json", tracking_uri=tracking_uri(root)
            )
        ).read()
    )
    rows = splits["folds"][int(model_run.data.tags["qc.fold_index"])]["fold_validation"]
    data = pd.read_csv(root / "data" / DATA).iloc[rows].reset_index(drop=True)
    with inside(root):
        scores = [
            float((mlflow.pyfunc.load_model(uri).predict(data[columns])["prediction"] == data["label"]).mean())
            for uri, columns in ((f"models:/{NAME}/4", ["shuffled"]), (f"models:/{NAME}/3", ["signal"]))
        ]
    assert int(found.group(1)) == len(rows)
    assert (found.group(2), found.group(3)) == (f"{scores[0]:.4g}", f"{scores[1]:.4g}")
    assert float(found.group(4)) < 0.05 and scores[1] > scores[0]


def test_challenger_cannot_be_the_gated_alias_and_a_gate_is_a_p_value(project):
    from mlflow_qc.errors import QCError

    root, runs = project
    count = lambda: len(mlflow.MlflowClient(tracking_uri(root)).search_model_versions(f"name = '{NAME}'"))  # noqa: E731
    before = count()
    with (
        inside(root),
        pytest.raises(QCError, match="alias: 'challenger' is the gate's alias for versions that did not win"),
    ):
        register_best(runs["weak"], None, NAME, "challenger", 0.05)
    with inside(root), pytest.raises(QCError, match=r"gate: 1.5; expected a p-value between 0 and 1"):
        register_best(runs["weak"], None, NAME, None, 1.5)
    assert count() == before  # nothing registered
    bad = run_cli("register", runs["weak"], "--gate", "often", cwd=root, env=cli_env(root))
    assert (
        bad.returncode == 2
        and bad.stderr.strip().splitlines()[-1]
        == "error: gate: 'often'; expected a p-value between 0 and 1, such as 0.05"
    )
