"""Adaptive search's arithmetic and planner (mlflow_qc/adaptive.py): Hyperband's published bracket table,
successive halving's rungs, who survives a rung, the resource defaults and the recipe's refusals."""

import math
from pathlib import Path

import numpy as np
import pytest

from mlflow_qc.adaptive import (
    ResourceScale,
    adaptive_search,
    best_first,
    brackets_for,
    candidate_pool,
    check_adaptive_model,
    halving_bracket,
    hyperband_brackets,
    planned_trainings,
    resource_scale,
    sample_context,
    sample_positions,
)
from mlflow_qc.errors import QCError
from mlflow_qc.recipe import Architecture, Search

# Li et al., JMLR 2018, Table 1: R = 81, eta = 3; per bracket s, the rungs' (n_i, r_i).
TABLE_1 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_hyperband_brackets_reproduce_table_1_of_li_et_al():
    brackets = hyperband_brackets(81, 3)
    assert [b.s for b in brackets] == [4, 3, 2, 1, 0]
    assert {b.s: [(r.count, r.resource) for r in b.rungs] for b in brackets} == TABLE_1
    assert all(isinstance(r.count, int) for b in brackets for r in b.rungs)


def test_hyperband_through_the_recipe_in_epochs():
    search = Search(method="hyperband", resource="epochs", min_resource=1, max_resource=81)
    brackets, scale = brackets_for(search, 200)
    assert {b.s: [(r.count, scale.of(r.resource)) for r in b.rungs] for b in brackets} == TABLE_1


def test_halving_rungs_end_on_the_full_resource():
    assert [(r.count, r.resource) for r in halving_bracket(9, 9, 3).rungs] == [(9, 1), (3, 3), (1, 9)]
    assert [(r.count, r.resource) for r in halving_bracket(10, 9, 2).rungs] == [
        (10, 9 / 8),
        (5, 9 / 4),
        (2, 9 / 2),
        (1, 9),
    ]
    # a lone survivor goes straight to the full resource, not through every rung between
    assert [(r.count, r.resource) for r in halving_bracket(9, 81, 3).rungs] == [(9, 1), (3, 3), (1, 9), (1, 81)]
    assert [r.index for r in halving_bracket(3, 81, 3).rungs] == [0, 1, 2]
    assert [(r.count, r.resource) for r in halving_bracket(5, 1, 3).rungs] == [(5, 1)]


def test_resource_defaults():
    samples = resource_scale(Search(method="halving", resource="samples"), 9)
    assert (samples.min_resource, samples.max_resource) == (pytest.approx(1 / 9), 1.0)
    assert samples.of(1) == pytest.approx(0.111111) and samples.of(9) == 1.0
    # epochs: never below one epoch, however many candidates
    epochs = resource_scale(Search(method="halving", resource="epochs", max_resource=5), 100)
    assert (epochs.min_resource, epochs.max_resource) == (5 / 3, 5)
    assert [epochs.of(r.resource) for r in halving_bracket(100, epochs.max_units, 3).rungs] == [2, 5]
    assert ResourceScale("epochs", 1, 10).of(10 / 9) == 1


def test_planned_trainings_counts_every_candidate_rung():
    assert planned_trainings(Search(method="halving", resource="samples"), 9) == 9 + 3 + 1
    # Table 1 with 200 candidates: every bracket's counts, summed
    assert planned_trainings(Search(method="hyperband", resource="epochs", min_resource=1, max_resource=81), 200) == (
        sum(n for rows in TABLE_1.values() for n, _ in rows)
    )


def test_best_first_orders_by_loss_failures_last_ties_by_the_seed():
    losses = {0: 0.5, 1: 0.2, 2: float("nan"), 3: 0.2, 4: math.inf, 5: 0.2}
    order = best_first(losses, seed=1)
    assert order[3:] == [0, 2, 4] or order[3:] == [0, 4, 2]
    assert set(order[:3]) == {1, 3, 5}
    assert best_first(losses, seed=1) == order  # deterministic
    tied = {i: 0.0 for i in range(8)}
    assert any(
        best_first(tied, seed) != best_first(tied, 1) for seed in range(2, 6)
    )  # the seed breaks ties, not position


def test_halving_keeps_the_best_third_each_rung():
    candidates = [{"c": value} for value in range(9)]
    search = Search(method="halving", resource="samples")
    brackets, scale = brackets_for(search, len(candidates))
    asked = []

    def evaluate(trials):
        asked.append([(t.candidate, t.resource) for t in trials])
        return [abs(t.candidate - 6) for t in trials]  # candidate 6 best, then 5 and 7

    trials = adaptive_search(candidates, brackets, scale, 0, evaluate)
    assert [len(batch) for batch in asked] == [9, 3, 1]
    assert sorted(c for c, _ in asked[1]) == [5, 6, 7] and asked[2] == [(6, 1.0)]
    assert {t.candidate for t in trials if t.pruned} == {0, 1, 2, 3, 4, 5, 7, 8}
    assert [t.candidate for t in trials if t.final] == [6]
    pruned_at = {t.candidate: t.rung for t in trials if t.pruned}
    assert pruned_at[0] == 0 and pruned_at[5] == 1 and pruned_at[7] == 1


def test_a_failed_candidate_is_never_kept_over_one_that_trained():
    candidates = [{"c": value} for value in range(3)]
    brackets, scale = brackets_for(Search(method="halving", resource="samples"), 3)
    trials = adaptive_search(
        candidates, brackets, scale, 0, lambda batch: [None if t.candidate == 0 else float(t.candidate) for t in batch]
    )
    assert [t.candidate for t in trials if t.final] == [1]


def test_hyperband_draws_each_brackets_candidates_with_the_seed():
    candidates = [{"c": value} for value in range(20)]
    search = Search(method="hyperband", resource="epochs", min_resource=1, max_resource=9)
    brackets, scale = brackets_for(search, len(candidates))

    def first_rungs(seed):
        seen = []
        adaptive_search(
            candidates,
            brackets,
            scale,
            seed,
            lambda batch: (seen.append(tuple(t.candidate for t in batch)), [float(t.candidate) for t in batch])[1],
        )
        return seen

    assert first_rungs(3) == first_rungs(3)
    assert first_rungs(3) != first_rungs(4)
    assert [len(b) for b in first_rungs(3)] == [9, 3, 1, 5, 1, 3]  # s=2: 9, 3, 1; s=1: 5, 1 (of n=5, 1); s=0: 3


@pytest.mark.parametrize(
    "settings, where",
    [
        ({"reduction_factor": 1}, "search.reduction_factor"),
        ({"min_resource": 0.5, "max_resource": 0.25}, "search.max_resource"),
        ({"max_resource": 1.5}, "search.max_resource"),
        ({"resource": "epochs", "max_resource": 9}, "search.resource"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(settings, where):
    model = Architecture(
        library="sklearn",
        analysis_type="classification_multi",
        estimator="sklearn.linear_model.LogisticRegression",
        hyperparameters={"C": [0.1, 1.0]},
    )
    search = Search(method="halving", **{"resource": "samples", **settings})
    with pytest.raises(QCError) as error:
        check_adaptive_model(model, search)
    assert error.value.where == where
    assert "\n" not in str(error.value)


def deep_model(tmp_path: Path, train_signature: str | None, **hyperparameters) -> Architecture:
    module = tmp_path / "net.py"
    code = "def fn_build(features_shape, label_shape, **hp):\n    return None\n"
    if train_signature is not None:
        code += f"def fn_train({train_signature}):\n    return model\n"
    module.write_text(code)
    return Architecture(
        library="keras",
        analysis_type="classification_multi",
        module=str(module),
        hyperparameters=hyperparameters or {"units": [4, 8]},
    )


def test_epochs_resource_needs_max_resource_whole_epochs_and_epochs_left_to_the_search(tmp_path):
    model = deep_model(tmp_path, None)
    with pytest.raises(QCError) as error:
        check_adaptive_model(model, Search(method="hyperband", resource="epochs"))
    assert error.value.where == "search.max_resource"
    with pytest.raises(QCError) as error:
        check_adaptive_model(model, Search(method="hyperband", resource="epochs", max_resource=9, min_resource=1.5))
    assert error.value.where == "search.min_resource"
    with pytest.raises(QCError) as error:
        check_adaptive_model(
            deep_model(tmp_path, None, epochs=[3, 9]), Search(method="hyperband", resource="epochs", max_resource=9)
        )
    assert error.value.where == "model.hyperparameters.epochs"
    check_adaptive_model(model, Search(method="hyperband", resource="epochs", max_resource=9))


def test_epochs_resource_refuses_a_fn_train_that_takes_no_epochs(tmp_path):
    search = Search(method="halving", resource="epochs", max_resource=9)
    fixed = deep_model(tmp_path, "model, loser, optimizer, train_features, train_label, eval_features, eval_label")
    with pytest.raises(QCError) as error:
        check_adaptive_model(fixed, search)
    assert error.value.where.endswith("fn_train")
    check_adaptive_model(deep_model(tmp_path, "model, loser, optimizer, *data, epochs=3"), search)
    check_adaptive_model(deep_model(tmp_path, "model, loser, optimizer, *data, **hp"), search)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"method": "grid", "reduction_factor": 2}, "belongs to an adaptive search"),
        ({"method": "halving"}, "expects resource"),
        ({"method": "halving", "resource": "samples", "candidates": "random"}, "candidates: random expects count"),
        ({"method": "hyperband", "resource": "samples", "count": 4}, "candidates: random expects count"),
        ({"method": "hyperband", "resource": "samples", "percent": 0.5}, "not percent"),
        ({"method": "halving", "resource": "rows"}, "resource"),
        ({"method": "halving", "resource": "samples", "rungs": 3}, "rungs"),
    ],
)
def test_the_recipe_refuses_adaptive_keys_out_of_place(raw, message):
    with pytest.raises(ValueError, match=message):
        Search(**raw)


def test_random_candidates_are_a_seeded_sample_of_the_grid():
    model = Architecture(
        library="sklearn",
        analysis_type="classification_multi",
        estimator="sklearn.linear_model.LogisticRegression",
        hyperparameters={"C": [0.01, 0.1, 1, 10], "tol": [1e-4, 1e-3]},
    )
    search = Search(method="halving", resource="samples", candidates="random", count=5)
    pool = candidate_pool(model, search, 7)
    assert len(pool) == 5 and pool == candidate_pool(model, search, 7)
    assert len(candidate_pool(model, Search(method="halving", resource="samples"), 7)) == 8
    with pytest.raises(QCError) as error:
        candidate_pool(model, Search(method="halving", resource="samples", candidates="random", count=9), 7)
    assert error.value.where == "search.count"


def test_sample_positions_are_a_seeded_stratified_share():
    label = np.repeat(np.eye(3), [60, 30, 10], axis=0)  # one-hot, 60/30/10
    subset = sample_positions(label, 100, 0.5, 11, stratify=True)
    assert len(subset) == 50 and label[subset].sum(axis=0).tolist() == [30, 15, 5]
    assert np.array_equal(subset, np.sort(subset))
    assert np.array_equal(sample_positions(label, 100, 0.5, 11, True), subset)
    assert not np.array_equal(sample_positions(label, 100, 0.5, 12, True), subset)
    assert np.array_equal(sample_positions(label, 100, 1.0, 11, True), np.arange(100))
    assert len(sample_positions(label, 100, 0.001, 11, True)) == 3  # at least one sample per class
    assert sample_context("fold_1", 1 / 3, 0) == "fold_1~samples_0.333333~repeat_0"
    assert sample_context("fold_1", 1.0, 0) == sample_context("fold_1", None, 0) == "fold_1"


def test_jobs_below_max_resource_are_never_ranked_or_compared():
    from mlflow_qc.evaluate.comparison import model_frame
    from mlflow_qc.run.plan import Job, ModelRecord, plan_tasks
    from mlflow_qc.run.summary import jobs_table, models_table
    from mlflow_qc.tracking.tables import candidate_jobs, rank_jobs

    partial = Job(0, {"C": 1.0}, sample_share=0.333333, rung=0, partial=True)
    full = Job(1, {"C": 1.0}, sample_share=1.0, rung=1)
    other = Job(2, {"C": 0.1}, sample_share=1.0, rung=1)
    assert len({partial.key, full.key, other.key}) == 3 and partial.resource == 0.333333
    assert Job(0, {"C": 1.0}).key == Job(0, {"C": 1.0}, rung=None).key  # grid jobs keep their keys
    scores = {0: 0.99, 1: 0.80, 2: 0.90}  # the partial job scores best
    records = [
        ModelRecord(
            task,
            f"run-{task.job.index}-{task.fold_index}",
            "FINISHED",
            {"fold_validation_accuracy": scores[task.job.index]},
        )
        for task in plan_tasks([partial, full, other], ["fold_0", "fold_1"], 1, 3)
    ]
    models = models_table(records)
    assert models[["resource", "rung", "partial"]].drop_duplicates().values.tolist() == [
        [0.333333, 0, True],
        [1.0, 1, False],
    ]
    jobs = jobs_table(models)
    assert rank_jobs(candidate_jobs(jobs), "fold_validation_accuracy")["job_index"].tolist() == [2, 1]
    assert set(model_frame(models)["job"]) == {"job 1", "job 2"}


def test_the_resource_figure_draws_each_candidate_through_its_rungs():
    from mlflow_qc.evaluate.figures_adaptive import candidate_scores, resource_figure
    from mlflow_qc.run.plan import Job, ModelRecord, plan_tasks
    from mlflow_qc.run.summary import models_table

    jobs = [
        Job(0, {"C": 1.0, "epochs": 3}, rung=0, partial=True),
        Job(1, {"C": 0.1, "epochs": 3}, rung=0, partial=True),
        Job(2, {"C": 0.1, "epochs": 9}, rung=1),
    ]
    scores = {0: [0.6, 0.8], 1: [0.7, 0.9], 2: [0.85, 0.95]}
    records = [
        ModelRecord(
            task,
            f"run-{task.job.index}-{task.fold_index}",
            "FINISHED",
            {"fold_validation_accuracy": scores[task.job.index][task.fold_index]},
        )
        for task in plan_tasks(jobs, ["fold_0", "fold_1"], 1, 3)
    ]
    table = candidate_scores(models_table(records), "fold_validation_accuracy")
    assert table.values.tolist() == [
        ["C=0.1", 3.0, pytest.approx(0.8), True],
        ["C=0.1", 9.0, pytest.approx(0.9), False],
        ["C=1.0", 3.0, pytest.approx(0.7), True],
    ]
    figure = resource_figure(models_table(records), "fold_validation_accuracy")
    assert [list(trace.x) for trace in figure.data] == [[3.0, 9.0], [3.0]]
    assert figure.data[1].line.color == "#b0b0b0" and figure.data[0].line.color != "#b0b0b0"
    assert resource_figure(models_table(records[:0]), "fold_validation_accuracy") is None


def test_an_epochs_rung_continues_only_its_own_candidates_model_once():
    from mlflow_qc.models.base import TrainedModel
    from mlflow_qc.run import rung_models
    from mlflow_qc.run.plan import Job, plan_tasks

    first = Job(0, {"C": 1.0, "epochs": 3}, rung=0, partial=True, continues=True)
    second = Job(1, {"C": 1.0, "epochs": 9}, rung=1, continues=True)
    other = Job(2, {"C": 0.1, "epochs": 3}, rung=0, partial=True, continues=True)
    grid = Job(3, {"C": 1.0, "epochs": 9})
    assert first.key == Job(0, {"C": 1.0, "epochs": 3}, rung=0).key  # whether it continues is no identity
    assert first.key != second.key and first.seed_key == second.seed_key != other.seed_key
    assert grid.seed_key == grid.key  # grid jobs keep their seeds
    tasks = plan_tasks([first, second, other, grid], ["fold_0", "fold_1"], 1, 3)
    seeds = {(t.job.index, t.context): t.seed for t in tasks}
    assert seeds[0, "fold_0"] == seeds[1, "fold_0"] != seeds[0, "fold_1"]

    [a0, _, b0, _, c0, _, d0, _] = tasks
    assert rung_models.rung_key("run", d0) is None  # a grid model is never kept
    elsewhere = plan_tasks([Job(0, {"C": 1.0, "epochs": 3}, rung=0, partial=True)], ["fold_0"], 1, 3)[0]
    assert rung_models.rung_key("run", elsewhere) is None  # trained by workers: never continued
    kept = TrainedModel(model="m", state="m")
    rung_models.keep(rung_models.rung_key("run", a0), 3, kept)
    assert rung_models.take(rung_models.rung_key("run", c0), 9) is None  # another candidate
    assert rung_models.take(rung_models.rung_key("other run", b0), 9) is None  # another experiment run
    assert rung_models.take(rung_models.rung_key("run", b0), 3) is None  # not fewer epochs
    assert rung_models.take(rung_models.rung_key("run", b0), 9) == (3, kept)
    assert rung_models.take(rung_models.rung_key("run", b0), 9) is None  # continued once: it changed
    rung_models.keep(rung_models.rung_key("run", a0), 3, TrainedModel(model="m"))  # no state: not kept
    assert rung_models.take(rung_models.rung_key("run", b0), 9) is None


def test_the_samples_resource_fits_preprocessing_on_the_rows_the_model_sees(workspace):
    """Each rung's subset of a fold's training rows is a cache context of its own: the encoders are fit on
    the subset (standardised there), validation and test rows stay the fold's, and a model of the rung
    trains and predicts through it."""
    import yaml

    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.run.fit_model import fit_and_evaluate
    from mlflow_qc.run.plan import Job, plan_tasks
    from tests.run.conftest import IRIS

    inputs = [{**IRIS["data"]["inputs"][0], "encoders": [{"sklearn": "StandardScaler"}]}]
    recipe = {  # the shared iris recipe with a scaler, 9 candidates and successive halving on samples
        **IRIS,
        "name": "subsets",
        "seed": 5,
        "data": {**IRIS["data"], "inputs": inputs},
        "model": {**IRIS["model"], "hyperparameters": {"C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]}},
        "search": {"method": "halving", "resource": "samples"},
    }
    path = workspace / "recipes" / "subsets.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    loaded = load_recipe(path)
    entry = prepare(loaded).entry
    fold, subset = entry.rows("fold_0"), entry.rows("fold_0~samples_0.111111~repeat_0")
    assert len(subset["train"]) == round(len(fold["train"]) / 9) and set(subset["train"]) < set(fold["train"])
    assert all(np.array_equal(subset[split], fold[split]) for split in ("fold_validation", "test"))
    assert (entry.root / "fold_1~samples_0.333333~repeat_0").is_dir()
    seen = np.asarray(entry.load("fold_0~samples_0.111111~repeat_0", "train").features[0])
    np.testing.assert_allclose(seen.mean(axis=0), 0, atol=1e-9)  # the scaler was fit on these rows
    positions = np.searchsorted(fold["train"], subset["train"])
    assert np.abs(np.asarray(entry.load("fold_0", "train").features[0])[positions].mean(axis=0)).max() > 0.05

    [task, *_] = plan_tasks([Job(0, {"C": 1.0}, sample_share=0.111111, rung=0, partial=True)], ["fold_0"], 1, 5)
    fitted = fit_and_evaluate(task, loaded.model, entry)
    train_rows = fitted.predictions.query("split == 'train'")["row"]
    assert sorted(train_rows) == sorted(subset["train"])
