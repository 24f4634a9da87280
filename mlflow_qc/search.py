"""Hyperparameter combinations: grid, seeded random subset of the grid, or TPE (hyperopt).

Every hyperparameter in a recipe is a list of values. ``grid`` is their product in
declaration order (scikit-learn's ``ParameterGrid``); ``random`` a seeded subset of it (``count``, or ``percent`` as a share
in (0, 1], rounded up as in AIQC), returned in grid order; ``tpe`` proposes
combinations (one, or a batch for parallel workers, at a time) while the objective is evaluated: the recipe's ``space``
gives the searched dimensions, single-value hyperparameters are constants and
multi-value ones become ``hp.choice``. Values come back as plain Python types.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
from sklearn.model_selection import ParameterGrid

from mlflow_qc.errors import QCError

# tpe_search_batches drives hyperopt's Domain and Trials directly (fmin cannot hand out a batch of
# proposals): the versions it was tested on; tests/test_first_ten_minutes.py fails on any other.
HYPEROPT_TESTED = ((0, 2, 7), (0, 4))
SPACE_KINDS = {"uniform": 2, "loguniform": 2, "quniform": 3, "choice": None}
MAX_GRID = 100_000


def plain(value):
    """numpy scalars/arrays to Python values, recursively (JSON-serialisable, ints stay ints)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _parameter_grid(hyperparameters: dict[str, list]) -> tuple[ParameterGrid, list[str]]:
    """scikit-learn's ``ParameterGrid`` over the recipe's hyperparameters, in declaration order: it orders
    names by sorting them (the last varies fastest), so each name is keyed by its zero-padded position."""
    names = list(hyperparameters)
    return ParameterGrid({_position(index): hyperparameters[name] for index, name in enumerate(names)}), names


def _position(index: int) -> str:
    return f"{index:06d}"


def _named(point: dict, names: list[str]) -> dict:
    return {name: plain(copy.deepcopy(point[_position(index)])) for index, name in enumerate(names)}


def grid(hyperparameters: dict[str, list]) -> list[dict]:
    parameter_grid, names = _parameter_grid(hyperparameters)
    return [_named(point, names) for point in parameter_grid]


def grid_size(hyperparameters: dict[str, list]) -> int:
    return len(_parameter_grid(hyperparameters)[0])


def grid_item(hyperparameters: dict[str, list], index: int) -> dict:
    """``grid(hyperparameters)[index]`` without building the grid (the last name varies fastest)."""
    parameter_grid, names = _parameter_grid(hyperparameters)
    return _named(parameter_grid[index], names)


def random_count(search, grid_size: int) -> int:
    if search.count is not None:
        count = search.count
        if count > grid_size:
            raise QCError(
                "search.count",
                f"{count} exceeds the {grid_size} combinations of the grid; expected at most {grid_size}",
            )
        return count
    return max(1, math.ceil(search.percent * grid_size - 1e-9))


def combinations(architecture, search, seed: int) -> list[dict]:
    """The combinations to train, for ``grid`` and ``random`` search."""
    method = search.method if search is not None else "grid"
    if method == "grid":
        return grid(architecture.hyperparameters)
    if method == "random":
        size = grid_size(architecture.hyperparameters)
        chosen = np.random.default_rng(seed).choice(size, size=random_count(search, size), replace=False)
        return [grid_item(architecture.hyperparameters, int(i)) for i in sorted(chosen)]
    raise QCError(
        "search.method",
        f"'{method}' proposes combinations while searching; expected grid or random here (use tpe_search)",
    )


def check_search(architecture, search) -> None:
    """Every QCError the search would raise, before anything runs."""
    if search is None or search.method == "grid":
        size = grid_size(architecture.hyperparameters)
        if size > MAX_GRID:
            raise QCError(
                "model.hyperparameters",
                f"a grid of {size} combinations; expected at most {MAX_GRID} "
                "(search: {method: random, count: N} samples a larger grid, tpe searches it)",
            )
        return
    if search.method == "random":
        random_count(search, grid_size(architecture.hyperparameters))
    else:
        _tpe_dimensions(architecture, search)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dimension(name: str, spec):
    """(hyperopt expression maker, decoder) for one ``space`` entry; QCError when malformed."""
    where = f"search.space.{name}"
    kinds = ", ".join(SPACE_KINDS)
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QCError(where, f"expected exactly one of {kinds} with its list, e.g. {{uniform: [0.1, 0.5]}}")
    ((kind, arguments),) = spec.items()
    if kind not in SPACE_KINDS:
        raise QCError(where, f"unknown distribution '{kind}'; expected one of {kinds}")
    arguments = list(arguments) if isinstance(arguments, (list, tuple)) else [arguments]
    if kind == "choice":
        if not arguments:
            raise QCError(where, "choice has no options; expected a non-empty list")
        options = [plain(option) for option in arguments]
        return (lambda hp: hp.choice(name, list(range(len(options))))), (
            lambda index: copy.deepcopy(options[int(index)])
        )
    expected = SPACE_KINDS[kind]
    if len(arguments) != expected or not all(_number(a) for a in arguments):
        shape = "[low, high, q]" if kind == "quniform" else "[low, high]"
        raise QCError(where, f"{kind} takes {shape} as numbers; got {arguments}")
    low, high = arguments[0], arguments[1]
    if low >= high:
        raise QCError(where, f"{kind} low {low} is not below high {high}")
    if kind == "uniform":
        return (lambda hp: hp.uniform(name, low, high)), float
    if kind == "loguniform":
        if low <= 0:
            raise QCError(where, f"loguniform bounds are in real units and must be positive; got low {low}")
        return (lambda hp: hp.loguniform(name, math.log(low), math.log(high))), float
    q = arguments[2]
    if q <= 0:
        raise QCError(where, f"quniform q must be positive; got {q}")
    as_int = all(isinstance(a, int) for a in arguments)
    return (lambda hp: hp.quniform(name, low, high, q)), ((lambda v: int(round(v))) if as_int else float)


def _tpe_dimensions(architecture, search) -> tuple[dict, dict, list[str]]:
    """(constants, {name: (maker, decoder)}, parameter order) for TPE."""
    constants, dimensions = {}, {}
    for name, spec in (search.space or {}).items():
        if name in architecture.hyperparameters:
            raise QCError(f"search.space.{name}", "is also in model.hyperparameters; expected it in one of the two")
        dimensions[name] = _dimension(name, spec)
    for name, values in architecture.hyperparameters.items():
        if len(values) == 1:
            constants[name] = plain(values[0])
        else:
            dimensions[name] = _dimension(name, {"choice": values})
    order = list(architecture.hyperparameters) + [
        name for name in (search.space or {}) if name not in architecture.hyperparameters
    ]
    return constants, dimensions, order


def tpe_search(architecture, search, seed: int, objective: Callable[[dict], float]) -> list[tuple[dict, float]]:
    """Run ``search.count`` evaluations of ``objective`` (a value to minimise) proposed by TPE.

    Returns ``(hyperparameters, loss)`` in evaluation order. A ``None`` or non-finite loss
    marks a failed evaluation, which TPE then ignores. Exceptions from the objective
    propagate. Proposals may repeat a combination already evaluated.
    """
    return tpe_search_batches(architecture, search, seed, lambda proposals: [objective(p) for p in proposals], 1)


def tpe_search_batches(
    architecture, search, seed: int, objective: Callable[[list[dict]], list[float]], batch_size: int
) -> list[tuple[dict, float]]:
    """``tpe_search`` proposing ``batch_size`` combinations at a time, evaluated together by ``objective``
    (one loss per proposal, in order): as hyperopt's ``fmin`` with ``max_queue_len=batch_size``, where
    proposals still being evaluated count as the worst results so far (the batch spreads out).
    The same seed and batch size give the same proposals; batch size 1 is ``fmin``'s sequence.
    """
    from hyperopt import (
        JOB_STATE_DONE,
        JOB_STATE_NEW,
        STATUS_FAIL,
        STATUS_OK,
        Domain,
        Trials,
        base,
        hp,
        space_eval,
        tpe,
    )

    constants, dimensions, order = _tpe_dimensions(architecture, search)
    space = {name: maker(hp) for name, (maker, _) in dimensions.items()}
    domain, trials = Domain(lambda sample: None, space), Trials()
    rstate = np.random.default_rng(seed)
    evaluated: list[tuple[dict, float]] = []
    while len(evaluated) < search.count:
        wanted = min(max(1, batch_size), search.count - len(evaluated))
        while len(new := [t for t in trials.trials if t["state"] == JOB_STATE_NEW]) < wanted:
            ids = trials.new_trial_ids(wanted - len(new))
            trials.refresh()
            trials.insert_trial_docs(tpe.suggest(ids, domain, trials, rstate.integers(2**31 - 1)))
            trials.refresh()
        proposals = []
        for trial in new:
            sample = space_eval(space, base.spec_from_misc(trial["misc"]))
            values = {**constants, **{name: dimensions[name][1](sample[name]) for name in dimensions}}
            proposals.append({name: values[name] for name in order})
        losses = objective(copy.deepcopy(proposals))
        for trial, params, loss in zip(new, proposals, losses, strict=True):
            loss = float("nan") if loss is None else float(loss)
            evaluated.append((params, loss))
            trial["state"] = JOB_STATE_DONE
            trial["result"] = {"loss": loss, "status": STATUS_OK} if math.isfinite(loss) else {"status": STATUS_FAIL}
        trials.refresh()
    return evaluated
