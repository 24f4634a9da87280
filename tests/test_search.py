"""Hyperparameter search: grid, seeded random subsets, TPE through hyperopt."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.recipe import Architecture, Search
from mlflow_qc.search import check_search, combinations, tpe_search

CUTOFF = {"metric": "val_loss", "cutoff": 0.2, "above_or_below": "below"}


def model(**grid) -> Architecture:
    return Architecture(
        library="sklearn", analysis_type="regression", estimator="sklearn.linear_model.Ridge", hyperparameters=grid
    )


def test_grid_is_the_product_in_declaration_order():
    combos = combinations(model(b=[1, 2], a=["x", "y", "z"], c=[CUTOFF]), Search(), 0)
    assert combos[:4] == [
        {"b": 1, "a": "x", "c": CUTOFF},
        {"b": 1, "a": "y", "c": CUTOFF},
        {"b": 1, "a": "z", "c": CUTOFF},
        {"b": 2, "a": "x", "c": CUTOFF},
    ]
    assert len(combos) == 6 and list(combos[0]) == ["b", "a", "c"]
    combos[0]["c"]["cutoff"] = 9  # each combination owns its values
    assert combos[1]["c"]["cutoff"] == 0.2
    assert combinations(model(), None, 0) == [{}]


def test_grid_values_are_plain_python():
    combos = combinations(model(n=[np.int64(3)], lr=[np.float64(0.1)], shape=[np.array([2, 3])]), Search(), 0)
    assert combos == [{"n": 3, "lr": 0.1, "shape": [2, 3]}]
    assert type(combos[0]["n"]) is int and json.dumps(combos)


def test_random_count_is_a_seeded_subset_in_grid_order():
    architecture = model(a=list(range(6)), b=list(range(5)))
    grid = combinations(architecture, Search(), 0)
    picked = combinations(architecture, Search(method="random", count=7), seed=1)
    assert len(picked) == 7 and len({json.dumps(p) for p in picked}) == 7
    assert [grid.index(p) for p in picked] == sorted(grid.index(p) for p in picked)
    assert picked == combinations(architecture, Search(method="random", count=7), seed=1)
    assert picked != combinations(architecture, Search(method="random", count=7), seed=2)
    assert len(combinations(architecture, Search(method="random", count=30), seed=1)) == 30


@pytest.mark.parametrize("percent, expected", [(0.1, 3), (0.5, 15), (1.0, 30), (0.01, 1), (0.3, 9)])
def test_random_percent_is_a_share_rounded_up(percent, expected):
    picked = combinations(model(a=list(range(6)), b=list(range(5))), Search(method="random", percent=percent), seed=0)
    assert len(picked) == expected


def test_random_count_beyond_the_grid_names_search_count():
    search = Search(method="random", count=5)
    with pytest.raises(QCError, match="exceeds the 4 combinations") as error:
        combinations(model(a=[1, 2], b=[3, 4]), search, 0)
    assert error.value.where == "search.count"
    with pytest.raises(QCError):
        check_search(model(a=[1, 2], b=[3, 4]), search)
    check_search(model(a=[1, 2, 3], b=[3, 4]), search)


def test_tpe_is_not_a_list_of_combinations():
    with pytest.raises(QCError) as error:
        combinations(model(a=[1]), Search(method="tpe", count=2, space={"x": {"uniform": [0, 1]}}), 0)
    assert error.value.where == "search.method"


SPACE = {
    "learning_rate": {"loguniform": [0.0001, 0.1]},
    "dropout": {"uniform": [0.1, 0.5]},
    "neurons": {"quniform": [4, 64, 4]},
    "scale": {"quniform": [0.5, 2.5, 0.5]},
    "activation": {"choice": ["relu", "tanh", {"name": "leaky", "alpha": 0.1}]},
}


def run_tpe(seed=0, count=12, objective=None, **grid):
    architecture = model(epochs=[10], **grid)
    calls = []

    def record(params):
        calls.append(params)
        return objective(params) if objective else params["dropout"]

    return tpe_search(architecture, Search(method="tpe", count=count, space=SPACE), seed, record), calls


def test_tpe_samples_the_space_with_plain_values():
    results, calls = run_tpe(batch_size=[16, 32])
    assert len(results) == 12 and [params for params, _ in results] == calls
    for params, loss in results:
        assert list(params) == ["epochs", "batch_size", *SPACE]
        assert params["epochs"] == 10 and params["batch_size"] in (16, 32)
        assert 0.0001 <= params["learning_rate"] <= 0.1 and 0.1 <= params["dropout"] <= 0.5
        assert type(params["neurons"]) is int and params["neurons"] % 4 == 0 and 4 <= params["neurons"] <= 64
        assert type(params["scale"]) is float and params["scale"] * 2 == int(params["scale"] * 2)
        assert params["activation"] in SPACE["activation"]["choice"]
        assert loss == params["dropout"]
    json.dumps(results)
    # loguniform bounds are real units: spread over orders of magnitude, not around e^0.0001.
    rates = [params["learning_rate"] for params, _ in results]
    assert min(rates) < 0.01 < max(rates)


def test_tpe_same_seed_same_suggestions():
    first, _ = run_tpe(seed=5)
    assert first == run_tpe(seed=5)[0]
    assert first != run_tpe(seed=6)[0]


def test_tpe_minimises_and_survives_failed_evaluations():
    failing = lambda params: (
        None if params["dropout"] > 0.45 else float("nan") if params["dropout"] > 0.4 else params["dropout"]
    )  # noqa: E731
    results, _ = run_tpe(count=30, objective=failing)
    assert len(results) == 30
    assert any(np.isnan(loss) for _, loss in results)
    finite = [loss for _, loss in results if np.isfinite(loss)]
    assert min(finite) < 0.15  # TPE found the low end of [0.1, 0.5]


def test_tpe_objective_exception_propagates():
    def broken(params):
        raise ZeroDivisionError("objective failed")

    with pytest.raises(ZeroDivisionError, match="objective failed"):
        run_tpe(objective=broken)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"normal": [0, 1]}, "unknown distribution 'normal'"),
        ({}, "exactly one of"),
        ({"uniform": [0.1, 0.5], "choice": [1]}, "exactly one of"),
        ({"uniform": [0.5, 0.1]}, "not below high"),
        ({"uniform": [0.1]}, r"takes \[low, high\]"),
        ({"uniform": ["a", "b"]}, "as numbers"),
        ({"uniform": [True, 2]}, "as numbers"),
        ({"loguniform": [0, 1]}, "must be positive"),
        ({"quniform": [1, 8]}, r"\[low, high, q\]"),
        ({"quniform": [1, 8, 0]}, "q must be positive"),
        ({"choice": []}, "no options"),
    ],
)
def test_bad_space_names_the_parameter(spec, message):
    search = Search(method="tpe", count=3, space={"lr": spec})
    with pytest.raises(QCError, match=message) as error:
        tpe_search(model(), search, 0, lambda params: 0.0)
    assert error.value.where == "search.space.lr"
    with pytest.raises(QCError):
        check_search(model(), search)


def test_space_and_hyperparameters_do_not_overlap():
    search = Search(method="tpe", count=3, space={"alpha": {"uniform": [0.1, 1]}})
    with pytest.raises(QCError, match="also in model.hyperparameters") as error:
        check_search(model(alpha=[0.5]), search)
    assert error.value.where == "search.space.alpha"
