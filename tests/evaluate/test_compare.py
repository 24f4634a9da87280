"""Head-to-head: the corrected resampled t-test, and the compare entry point on real jobs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlflow_qc.evaluate.compare import compare_jobs, compare_models
from mlflow_qc.evaluate.significance import corrected_interval, corrected_resampled_ttest
from mlflow_qc.models.metrics import metric_names
from tests.helpers import run_cli


def test_corrected_t_follows_nadeau_and_bengio():
    a = np.array([0.81, 0.84, 0.79, 0.86, 0.83, 0.80])
    b = np.array([0.78, 0.80, 0.79, 0.82, 0.80, 0.79])
    d = a - b
    expected_t = d.mean() / math.sqrt((1 / 6 + 50 / 150) * d.var(ddof=1))
    result = corrected_resampled_ttest(a, b, n_train=150, n_test=50)
    assert result.t == pytest.approx(expected_t) and result.df == 5
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(expected_t), 5))
    naive = stats.ttest_rel(a, b).pvalue
    assert result.p_value > naive  # the correction is more cautious than the paired t-test


def test_degenerate_cases():
    same = corrected_resampled_ttest([0.8, 0.9], [0.8, 0.9], 100, 20)
    assert same.difference == 0 and same.p_value == 1.0
    shifted = corrected_resampled_ttest([0.9, 0.8], [0.7, 0.6], 100, 20)
    assert math.isnan(shifted.p_value) and math.isnan(shifted.t)  # a difference that never varies: no test
    assert math.isnan(corrected_resampled_ttest([0.9], [0.7], 100, 20).p_value)
    interval = corrected_interval([0.8, 0.82, 0.78, 0.81], 100, 25)
    assert interval.low < interval.mean < interval.high and interval.count == 4


def test_only_shared_folds_and_repeats_are_paired():
    models = pd.DataFrame(
        {
            "job": ["a"] * 3 + ["b"] * 2,
            "hyperparameters": ["x=1"] * 3 + ["x=2"] * 2,
            "fold_index": [0, 1, 2, 0, 2],
            "repeat_index": [0, 0, 0, 0, 0],
            "fold_validation_accuracy": [0.9, 0.8, 0.85, 0.7, 0.75],
        }
    )
    comparison = compare_models(models, {"fold_validation": (80.0, 40.0)}, ranking_metric="fold_validation_accuracy")
    (pair,) = comparison.pairs.to_dict("records")
    assert pair["pairs"] == 2 and pair["difference"] == pytest.approx(((0.9 - 0.7) + (0.85 - 0.75)) / 2)
    assert comparison.summary["models"].tolist() == [3, 2]
    markdown = comparison.render("markdown")
    assert "| fold_validation_accuracy | a | b | 2 |" in markdown
    latex = comparison.render("latex")
    assert r"\begin{tabular}" in latex and r"fold\_validation\_accuracy" in latex


@pytest.mark.parametrize("b_folds", [[2, 0, 1, 3], [2, 0, 0, 1]], ids=["each fold once", "a fold twice"])
def test_pairs_are_those_of_an_inner_merge_in_its_order(b_folds):
    from mlflow_qc.evaluate.comparison import MATCHED_ON, matched_rows

    a = pd.DataFrame({"fold_index": [1, 0, 2, 1, -1], "repeat_index": [0, 0, 0, 1, 0], "m": [0.1, 0.2, 0.3, 0.4, 0.5]})
    b = pd.DataFrame({"fold_index": b_folds, "repeat_index": [0, 0, 0, 0], "m": [0.6, 0.7, 0.8, 0.9]})
    left, right = matched_rows(a, b)
    merged = a.merge(b, on=MATCHED_ON, suffixes=("_a", "_b"))
    assert a["m"].to_numpy()[left].tolist() == merged["m_a"].tolist()
    assert b["m"].to_numpy()[right].tolist() == merged["m_b"].tolist()


def _pair(pairs: pd.DataFrame, metric: str, a: str, b: str) -> dict:
    rows = pairs[
        (pairs["metric"] == metric)
        & (((pairs["job_a"] == a) & (pairs["job_b"] == b)) | ((pairs["job_a"] == b) & (pairs["job_b"] == a)))
    ]
    (row,) = rows.to_dict("records")
    return row


@pytest.mark.e2e
def test_noise_is_not_called_a_difference_and_a_crippled_model_is(signal_forests, enter):
    enter(signal_forests)
    comparison = compare_jobs(signal_forests.run_id)

    def job(**values) -> str:
        wanted = {f"{k}={v}" for k, v in values.items()}
        (label,) = [
            r["job"] for _, r in comparison.summary.iterrows() if wanted <= set(r["hyperparameters"].split(", "))
        ]
        return label

    strong_1, strong_2 = job(min_samples_leaf=5, random_state=1), job(min_samples_leaf=5, random_state=2)
    crippled = job(min_samples_leaf=10000, random_state=1)
    for metric in ("fold_validation_accuracy", "fold_validation_roc_auc", "fold_validation_loss"):
        noise = _pair(comparison.pairs, metric, strong_1, strong_2)
        assert noise["pairs"] == 4 and noise["p_value"] > 0.05 and not noise["different"]
        real = _pair(comparison.pairs, metric, strong_1, crippled)
        assert real["p_value"] < 0.05 and real["different"]
    accuracy = comparison.intervals.set_index(["job", "metric"]).loc[(strong_1, "fold_validation_accuracy")]
    assert accuracy["low"] < accuracy["mean"] < accuracy["high"] and accuracy["count"] == 4


@pytest.mark.e2e
def test_compare_entry_point_logs_the_report_on_the_experiment_run(signal_forests, enter):
    enter(signal_forests)
    result = run_cli("compare", signal_forests.run_id, "--format", "latex", check=True)
    assert r"\begin{tabular}" in result.stdout
    logged = signal_forests.artifact(signal_forests.run_id, "qc/compare.tex").read_text()
    assert logged.strip() == result.stdout.strip()
    assert "p (Holm)" in result.stdout and "adjusted together (Holm)" in result.stdout
    bayesian = run_cli("compare", signal_forests.run_id, "--test", "bayesian", "--rope", "0.02", check=True)
    assert (
        "| P(a better) | P(equivalent) | P(b better) | verdict |" in bayesian.stdout
        and "|a - b| <= 0.02" in bayesian.stdout
    )
    jobs = signal_forests.runs("job", "params.min_samples_leaf = '5'")
    chosen = run_cli("compare", "--run-ids", ",".join(j.info.run_id for j in jobs), "--format", "html", check=True)
    # summary header + 2 jobs, pairs header + one row per binary metric
    assert chosen.stdout.count("<tr>") == 1 + 2 + 1 + len(metric_names("classification_binary"))
    assert (
        signal_forests.artifact(signal_forests.run_id, "qc/compare.html").read_text().strip() == chosen.stdout.strip()
    )
