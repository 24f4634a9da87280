"""Permutation importance: the algorithm, during training, and after the fact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_qc.evaluate.importance import column_groups, importance_metrics, metric_name, permutation_importance
from tests.helpers import run_cli


def test_columns_the_model_ignores_have_exactly_zero_importance():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    label = 2 * features[:, 0]
    groups = column_groups([["used", "ignored", "also_ignored"]], [3])
    table = permutation_importance(
        lambda f: 2 * f[0][:, 0],
        lambda out: float(np.mean((out - label) ** 2)),
        [features],
        groups,
        4,
        seed=1,
        batch_bytes=5000,
    )
    original = table[table["level"] == "original"].set_index("column")
    assert original.loc["used", "median"] > 1.0
    assert original.loc["ignored", "median"] == 0.0 and original.loc["also_ignored", "median"] == 0.0
    assert list(original.columns[-4:]) == [f"permutation_{k}" for k in range(4)]
    again = permutation_importance(
        lambda f: 2 * f[0][:, 0], lambda out: float(np.mean((out - label) ** 2)), [features], groups, 4, seed=1
    )  # one batch instead of many: same numbers
    pd.testing.assert_frame_equal(table, again)


def test_one_hot_columns_are_permuted_together_under_their_original_name():
    groups = column_groups([["age", "color=red", "color=blue", "size"]], [4], [["age", "color", "size"]])
    original = {g.name: g.positions for g in groups if g.level == "original"}
    assert original == {"age": (0,), "color": (1, 2), "size": (3,)}
    encoded = [g.name for g in groups if g.level == "encoded"]
    assert encoded == ["age", "color=red", "color=blue", "size"]
    # the joint permutation keeps every row one-hot
    features = np.array([[0, 1, 0, 5], [1, 0, 1, 6], [2, 1, 0, 7], [3, 0, 1, 8]], dtype=float)
    seen = []

    def predict(f):
        seen.append(f[0].copy())
        return f[0][:, 0]

    originals = [g for g in groups if g.level == "original"]
    permutation_importance(predict, lambda out: 0.0, [features], originals, 3, seed=0)
    stacked = np.concatenate(seen)
    assert len(stacked) == 4 + 3 * 3 * 4  # the baseline, then 3 groups x 3 permutations
    assert np.all(stacked[:, 1] + stacked[:, 2] == 1)


def test_metric_names_are_sanitised_and_unique():
    assert metric_name("petal width (cm)", 0, 1) == "importance_petal width _cm_"
    assert metric_name("x", 1, 2) == "importance_input1/x"
    table = pd.DataFrame({"level": ["original"] * 2, "input": [0, 0], "column": ["a:b", "a?b"], "median": [1.0, 2.0]})
    assert importance_metrics(table) == {"importance_a_b": 1.0, "importance_a_b_1": 2.0}


@pytest.mark.e2e
def test_the_deciding_column_ranks_first_and_noise_is_near_zero(signal_forests):
    strong = signal_forests.runs("model", "params.min_samples_leaf = '5'")
    assert len(strong) == 8
    for run in strong:
        table = pd.read_csv(signal_forests.artifact(run.info.run_id, "qc/importance.csv"))
        original = table[table["level"] == "original"].set_index("column")["median"]
        assert list(original.index) == list(original.sort_values(ascending=False).index)
        assert original.index[0] == "signal"
        noise = original.drop("signal")
        assert original["signal"] > 0.3 and original["signal"] > 10 * noise.abs().max()
        assert noise.abs().max() < 0.05  # log loss ~0.3 on these folds; permuting noise barely moves it
        # the one-hot column: once under its name, and per category
        assert (table.loc[table["level"] == "original", "column"] == "color").sum() == 1
        assert set(table.loc[table["level"] == "encoded", "column"]) >= {"color=red", "color=green", "color=blue"}
        assert set(table["split"]) == {"fold_validation"}
        # the table is the record: no metric per column to crowd the MLflow UI's charts
        assert not [key for key in run.data.metrics if key.startswith("importance_")]


@pytest.mark.e2e
def test_job_report_shows_importance_per_original_and_encoded_column(signal_forests):
    job = signal_forests.runs("job", "params.min_samples_leaf = '5'")[0]
    report = signal_forests.report(job.info.run_id)
    (section,) = [s for s in report["sections"] if s["title"] == "Feature importance"]
    titles = [f["layout"]["title"]["text"] for f in section["figures"]]
    assert titles == ["Permutation importance per original column", "Permutation importance per encoded column"]
    original = section["figures"][0]["layout"]["xaxis"]["categoryarray"]
    assert original[0] == "signal" and sorted(original) == ["color", "noise_a", "noise_b", "signal"]
    assert len(section["figures"][0]["data"][0]["y"]) == 4 * 4 * 5  # columns x models (4 folds) x permutations


@pytest.mark.e2e
def test_importance_after_the_fact_for_a_run_trained_without_it(iris_mlp, enter):
    enter(iris_mlp)
    job = iris_mlp.runs("job")[0]
    assert not [k for m in iris_mlp.runs("model") for k in m.data.metrics if k.startswith("importance_")]
    result = run_cli("importance", job.info.run_id, "--permute-count", "2", check=True)
    listed = result.stdout.split()
    models = iris_mlp.runs("model")
    assert sorted(listed) == sorted(m.info.run_id for m in models)
    for run in models:
        table = pd.read_csv(iris_mlp.artifact(run.info.run_id, "qc/importance.csv"))
        assert set(table["split"]) == {"validation"} and len([c for c in table if c.startswith("permutation_")]) == 2
        assert not [key for key in run.data.metrics if key.startswith("importance_")]
    report = iris_mlp.report(job.info.run_id)
    assert "Feature importance" in [s["title"] for s in report["sections"]]


def test_batched_copies_give_the_importances_of_one_predict_call_per_copy():
    """The stacked batches training uses and the per-copy path (one predict call per permuted copy)
    agree on a real model with its own log loss, permutation for permutation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(3)
    features = rng.normal(size=(150, 5))
    label = (features[:, 0] + 0.5 * features[:, 1] + rng.normal(scale=0.5, size=150) > 0).astype(int)
    model = LogisticRegression().fit(features, label)
    calls = []

    def predict(inputs):
        calls.append(len(inputs[0]))
        return model.predict_proba(inputs[0])

    groups = column_groups([[f"x{k}" for k in range(5)]], [5])
    tables = {}
    for path, batch_bytes in (("per-copy", 1), ("batched", 2**24)):
        calls.clear()
        tables[path] = permutation_importance(
            predict, lambda out: log_loss(label, out), [features], groups, 3, seed=11, batch_bytes=batch_bytes
        )
        tables[f"{path} calls"] = list(calls)
    assert tables["per-copy calls"] == [150] * (1 + 5 * 3)  # the baseline, then one call per column and permutation
    assert tables["batched calls"] == [150, 150 * 5 * 3]  # the baseline, then every copy at once
    pd.testing.assert_frame_equal(tables["per-copy"], tables["batched"], check_exact=False, rtol=1e-12, atol=1e-15)
    original = tables["batched"][tables["batched"]["level"] == "original"]
    assert original["column"].iloc[0] == "x0" and original["median"].iloc[0] > 0.1
