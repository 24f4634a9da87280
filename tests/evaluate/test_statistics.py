"""Honest statistics (README: "Evaluation in the MLflow UI"): identical repeats collapsed, Holm / Benjamini-Hochberg
adjustments named in every table, the Bayesian correlated t-test, intervals inside the metric's range, sample std; and
an in-process calibration of the compare report's and the gate's calls on simulated cross-validation scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlflow_qc.evaluate.comparison import Options, baseline_verdicts, compare_models, metric_bounds
from mlflow_qc.evaluate.significance import adjust, bayesian_correlated_ttest, corrected_resampled_ttest
from mlflow_qc.run.aggregate import aggregate
from mlflow_qc.serve.gate import gate_test

METRIC = "fold_validation_accuracy"
LOSS = "fold_validation_loss"


def frame(scores: dict[str, np.ndarray], folds: int, repeats: int, metric: str = METRIC) -> pd.DataFrame:
    """One row per model: job, fold, repeat and ``metric`` from ``scores[job]`` of shape (folds, repeats)."""
    rows = [
        {"job": job, "hyperparameters": job, "fold_index": f, "repeat_index": r, metric: values[f, r]}
        for job, values in scores.items()
        for f in range(folds)
        for r in range(repeats)
    ]
    return pd.DataFrame(rows)


def test_identical_repeats_of_one_split_are_one_observation_and_no_test():
    """Four repeats of a deterministic model on one fixed split: one observation; no t = -inf, p = 0."""
    a = np.full((1, 4), 0.97)
    b = np.full((1, 4), 0.95)
    models = frame({"logistic": a, "tree": b}, 1, 4).assign(fold_index=np.nan, **{LOSS: 0.1})
    comparison = compare_models(models, {"validation": (100.0, 30.0)}, [METRIC], METRIC)
    (pair,) = comparison.pairs.to_dict("records")
    assert pair["pairs"] == 1 and math.isnan(pair["p_value"]) and not pair["different"]
    assert not math.isinf(pair["t"]) if not math.isnan(pair["t"]) else True
    assert comparison.intervals["count"].tolist() == [1, 1]
    markdown = comparison.render("markdown")
    assert markdown.count("Identical repeats: logistic, tree") == 1 and "-inf" not in markdown


def test_identical_repeats_over_folds_count_once_per_fold():
    rng = np.random.default_rng(0)
    fixed = np.repeat(rng.uniform(0.8, 0.9, size=(5, 1)), 3, axis=1)  # 5 folds, 3 identical repeats
    other = np.repeat(rng.uniform(0.7, 0.8, size=(5, 1)), 3, axis=1)
    noisy = rng.uniform(0.7, 0.9, size=(5, 3))
    models = frame({"a": fixed, "b": other, "c": noisy}, 5, 3)
    comparison = compare_models(models, {"fold_validation": (80.0, 20.0)}, [METRIC], METRIC)
    pairs = comparison.pairs.set_index(["job_a", "job_b"])
    assert pairs.loc[("a", "b"), "pairs"] == 5  # both deterministic: one pair per fold
    assert pairs.loc[("a", "c"), "pairs"] == 15  # c varies by repeat: every pair counts
    expected = corrected_resampled_ttest(fixed[:, 0], other[:, 0], 80.0, 20.0)
    assert pairs.loc[("a", "b"), "p_value"] == pytest.approx(expected.p_value)
    counts = comparison.intervals.set_index("job")["count"]
    assert counts.to_dict() == {"a": 5, "b": 5, "c": 15}
    assert "Identical repeats: a, b gave" in comparison.render("markdown")


def test_a_difference_that_never_varies_gives_no_test_rather_than_certainty():
    shifted = corrected_resampled_ttest([0.9, 0.8, 0.85], [0.7, 0.6, 0.65], 100, 20)
    assert math.isnan(shifted.t) and math.isnan(shifted.p_value)
    assert corrected_resampled_ttest([0.8, 0.9], [0.8, 0.9], 100, 20).p_value == 1.0


def test_holm_and_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, np.nan, 0.03, 0.005]
    holm = adjust(p, "holm")
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 0.02, 0.03, 0.06, 0.06 (monotone)
    assert holm[[4, 0, 3, 1]].tolist() == pytest.approx([0.02, 0.03, 0.06, 0.06]) and math.isnan(holm[2])
    bh = adjust(p, "bh")
    # 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 -> 0.02, 0.02, 0.04, 0.04 after the running minimum from the top
    assert bh[[4, 0, 3, 1]].tolist() == pytest.approx([0.02, 0.02, 0.04, 0.04])
    assert adjust([0.01], "holm", family=45)[0] == pytest.approx(0.45)  # one shown pair of 45 possible
    with pytest.raises(ValueError, match="correction 'none'"):
        adjust(p, "none")


def test_every_table_names_its_adjustment():
    rng = np.random.default_rng(1)
    scores = {f"job {i}": rng.normal(0.8, 0.02, size=(4, 2)) for i in range(3)} | {
        "baseline": rng.normal(0.6, 0.02, size=(4, 2))
    }
    models = frame(scores, 4, 2)
    sizes = {"fold_validation": (90.0, 30.0)}
    holm = compare_models(models, sizes, [METRIC], METRIC).render("markdown")
    assert "| p (Holm) |" in holm and "adjusted together (Holm)" in holm and holm.count("p (Holm)") >= 3
    bh = compare_models(models, sizes, [METRIC], METRIC, options=Options(correction="bh")).render("markdown")
    assert "| p (Benjamini-Hochberg) |" in bh and "(Holm)" not in bh
    verdicts = baseline_verdicts(models, sizes, METRIC)
    assert verdicts["p_adjusted"].tolist() == pytest.approx(adjust(verdicts["p_value"], "holm").tolist())
    assert verdicts["beats_baseline"].all()


def test_the_bayesian_correlated_t_test_follows_benavoli_et_al():
    a = np.array([0.81, 0.84, 0.79, 0.86, 0.83, 0.80])
    b = np.array([0.78, 0.80, 0.79, 0.82, 0.80, 0.79])
    d = a - b
    rho = 50 / (150 + 50)
    scale = math.sqrt((1 / 6 + rho / (1 - rho)) * d.var(ddof=1))
    posterior = stats.t(5, d.mean(), scale)
    test = bayesian_correlated_ttest(a, b, 150, 50, rope=0.01)
    assert test.a_better == pytest.approx(posterior.sf(0.01)) and test.b_better == pytest.approx(posterior.cdf(-0.01))
    assert test.a_better + test.equivalent + test.b_better == pytest.approx(1.0)
    as_loss = bayesian_correlated_ttest(a, b, 150, 50, rope=0.01, higher_is_better=False)  # a higher loss is worse
    assert as_loss.b_better == pytest.approx(test.a_better)
    models = frame({"x": a.reshape(6, 1), "y": b.reshape(6, 1)}, 6, 1)
    comparison = compare_models(
        models, {"fold_validation": (150.0, 50.0)}, [METRIC], METRIC, options=Options(test="bayesian", rope=0.01)
    )
    (row,) = comparison.pairs.to_dict("records")
    assert row["P(a better)"] == pytest.approx(test.a_better) and row["verdict"] in ("x better", "undecided")
    text = comparison.render("markdown")
    assert "Bayesian correlated t-tests (Benavoli et al., JMLR 2017)" in text and "| P(equivalent) |" in text
    with pytest.raises(ValueError, match="test 'anova'"):
        Options(test="anova")


def test_intervals_stay_inside_the_metrics_range():
    near_one = np.array([[1.0, 0.97], [1.0, 1.0], [0.93, 1.0]])
    near_zero = np.array([[0.0, 0.004], [0.012, 0.0], [0.0, 0.001]])
    models = frame({"a": near_one}, 3, 2).assign(**{LOSS: near_zero.ravel()})
    comparison = compare_models(models, {"fold_validation": (60.0, 30.0)}, [METRIC, LOSS], METRIC)
    accuracy, loss = (comparison.intervals.set_index("metric").loc[m] for m in (METRIC, LOSS))
    assert accuracy["high"] == 1.0 and 0 < accuracy["low"] < accuracy["mean"]
    assert loss["low"] == 0.0 and loss["high"] > loss["mean"]
    assert metric_bounds("validation_mcc") == (-1.0, 1.0) and metric_bounds("test_my_score") == (-np.inf, np.inf)


def test_std_aggregates_are_sample_std():
    values = [0.8, 0.9, 0.85, 0.95]
    result = aggregate([{METRIC: v} for v in values])
    assert result[f"{METRIC}_std"] == pytest.approx(np.std(values, ddof=1))
    assert f"{METRIC}_std" not in aggregate([{METRIC: 0.8}]) and aggregate([{METRIC: 0.8}])[f"{METRIC}_mean"] == 0.8


# --- calibration ---------------------------------------------------------------------------------------------
# On the statistics functions themselves (numpy + scipy, no frames), so that hundreds of experiments take seconds;
# a few experiments check that compare_models and the gate call exactly what these calls call.

FOLDS, REPEATS = 5, 2
N_TRAIN, N_TEST = 400.0, 100.0  # 5 folds: n_test / n_train = 1/4
SIZES = {"fold_validation": (N_TRAIN, N_TEST)}
SIGMA = 0.02  # the spread of one model's score
EXPERIMENTS = 1000
ALPHA = 0.05


def simulated_scores(rng, means: list[float]) -> np.ndarray:
    """Scores of jobs over folds x repeats (jobs, folds * repeats): each job's model scores correlate as models
    trained on overlapping rows do (correlation rho = n_test / (n_train + n_test), the case the correction is
    made for), plus a split effect every job shares."""
    rho = N_TEST / (N_TRAIN + N_TEST)
    n = FOLDS * REPEATS
    own = np.sqrt(1 - rho) * rng.normal(size=(len(means), n)) + np.sqrt(rho) * rng.normal(size=(len(means), 1))
    return np.asarray(means)[:, None] + SIGMA * own + rng.normal(0, SIGMA, size=n)


def report_calls(scores: np.ndarray) -> dict[tuple[int, int], bool]:
    """What the compare report calls different: up to ALL_PAIRS_UP_TO jobs every pair, beyond that each job
    against the best, Holm-adjusted over every pair of jobs."""
    from mlflow_qc.evaluate.comparison import ALL_PAIRS_UP_TO

    jobs = len(scores)
    if jobs <= ALL_PAIRS_UP_TO:
        pairs = [(a, b) for a in range(jobs) for b in range(a + 1, jobs)]
    else:
        best = int(np.argmax(scores.mean(axis=1)))
        pairs = [(best, b) for b in range(jobs) if b != best]
    p = [corrected_resampled_ttest(scores[a], scores[b], N_TRAIN, N_TEST).p_value for a, b in pairs]
    adjusted = adjust(p, "holm", jobs * (jobs - 1) // 2)
    return {pair: bool(value < ALPHA) for pair, value in zip(pairs, adjusted)}


def gate_moves(scores: np.ndarray) -> bool:
    """The gate's call: the candidate (row 0) better than the holder (row 1) at p < 0.05."""
    from mlflow_qc.evaluate.comparison import beats

    return beats(corrected_resampled_ttest(scores[0], scores[1], N_TRAIN, N_TEST), METRIC, ALPHA)


def as_frame(scores: np.ndarray) -> pd.DataFrame:
    return frame({f"job {i}": s.reshape(FOLDS, REPEATS) for i, s in enumerate(scores)}, FOLDS, REPEATS)


def test_the_calibrated_calls_are_those_of_the_report_and_the_gate():
    rng = np.random.default_rng(7)
    for means in ([0.8] * 10, [0.9] + [0.8] * 9, [0.8, 0.8, 0.83]):
        for _ in range(3):
            scores = simulated_scores(rng, means)
            pairs = compare_models(as_frame(scores), SIZES, [METRIC], METRIC).pairs
            called = {
                (int(a.split()[1]), int(b.split()[1])): bool(d)
                for a, b, d in zip(pairs["job_a"], pairs["job_b"], pairs["different"])
            }
            assert called == report_calls(scores)
            candidate, holder = (
                frame({"x": s.reshape(FOLDS, REPEATS)}, FOLDS, REPEATS).drop(columns="job") for s in scores[:2]
            )
            assert gate_test(candidate, holder, METRIC, SIZES, ALPHA)[2] == gate_moves(scores)


def test_calibration_no_difference_is_called_in_at_most_5_percent():
    """Jobs from one distribution: the gate (candidate vs holder) moves the alias, and the compare report over
    10 jobs (45 pairs, Holm) calls any pair different, in at most 5 % of the simulated experiments; the report
    of two jobs (one two-sided test) in 5 % up to chance."""
    rng = np.random.default_rng(2017)
    gate = np.mean([gate_moves(simulated_scores(rng, [0.8, 0.8])) for _ in range(EXPERIMENTS)])
    two = np.mean([any(report_calls(simulated_scores(rng, [0.8, 0.8])).values()) for _ in range(EXPERIMENTS)])
    ten = np.mean([any(report_calls(simulated_scores(rng, [0.8] * 10)).values()) for _ in range(EXPERIMENTS)])
    print(
        f"false calls over {EXPERIMENTS} experiments: gate {gate:.3f}, report of 2 jobs {two:.3f}, report of 10 jobs {ten:.3f}"
    )
    assert gate <= 0.05 and ten <= 0.05
    # two jobs: one two-sided test at 0.05 calls 5 % by design; the rate must not be above it beyond chance
    assert stats.binomtest(round(two * EXPERIMENTS), EXPERIMENTS, 0.05, alternative="greater").pvalue > 0.01


def test_calibration_a_real_difference_is_detected_in_most():
    """The gate moves the alias to a candidate better by 0.05 (2.5 sigma of one score); the report tells a job
    better by 0.05 from another (2 jobs), and a job better by 0.10 from the nine others (10 jobs, Holm over 45),
    in most simulated experiments."""
    rng = np.random.default_rng(2003)
    gate = np.mean([gate_moves(simulated_scores(rng, [0.85, 0.8])) for _ in range(EXPERIMENTS)])
    two = np.mean([report_calls(simulated_scores(rng, [0.85, 0.8]))[(0, 1)] for _ in range(EXPERIMENTS)])
    found = []
    for _ in range(EXPERIMENTS):
        calls = report_calls(simulated_scores(rng, [0.9] + [0.8] * 9))
        found.append(
            np.mean([called for pair, called in calls.items() if 0 in pair])
            if any(0 in pair for pair in calls)
            else 0.0
        )
    ten = float(np.mean(found))
    print(
        f"detected over {EXPERIMENTS} experiments: gate (+0.05) {gate:.3f}, report of 2 jobs (+0.05) {two:.3f}, "
        f"report of 10 jobs (+0.10, share of the nine pairs) {ten:.3f}"
    )
    assert gate > 0.8 and two > 0.5 and ten > 0.5
