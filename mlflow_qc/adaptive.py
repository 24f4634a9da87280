"""Adaptive search (README: "Adaptive search"): the rung arithmetic of successive halving and
Hyperband, and the loop that runs it through a callback.

Successive halving (Jamieson & Talwalkar 2016, as Li et al. 2018 Algorithm 1 runs it) trains ``n``
candidates on resource ``r``, keeps the best ``floor(n_i / eta)`` and gives them ``eta`` times
more, until the last rung trains on ``max_resource``. Hyperband runs ``s_max + 1`` such brackets,
from many candidates on little resource (s = s_max) to few on all of it (s = 0):
``s_max = floor(log_eta(R))``, ``n = ceil((s_max + 1) / (s + 1) * eta^s)``, ``r = R * eta^-s``,
rung ``i``: ``n_i = floor(n * eta^-i)``, ``r_i = r * eta^i``, with ``R = max_resource / min_resource``.

Resources are epochs (integers) or shares of each fold's training rows (``samples``, in (0, 1]).
Nothing here trains or tracks: ``adaptive_search`` asks ``evaluate`` for the losses of a rung's
candidates (lower is better; NaN or inf for a failure) and decides who goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlflow_qc.errors import QCError
from mlflow_qc.hashing import digest

ADAPTIVE_METHODS = ("hyperband", "halving")
RESOURCES = ("epochs", "samples")
_EPSILON = 1e-9  # log_eta of exact powers (log(81) / log(3) = 4.000000000000001)


@dataclass(frozen=True)
class Rung:
    index: int
    count: int  # n_i: candidates trained at this rung
    resource: float  # r_i, in units of min_resource (Table 1 of Li et al.)


@dataclass(frozen=True)
class Bracket:
    s: int
    rungs: tuple[Rung, ...]


def floor_log(value: float, eta: int) -> int:
    return int(math.floor(math.log(value) / math.log(eta) + _EPSILON)) if value >= 1 else 0


def hyperband_brackets(max_units: float, eta: int) -> list[Bracket]:
    """Li et al. 2018, Algorithm 1: the brackets s = s_max..0 for R = ``max_units`` (resource in units
    of the smallest one) and reduction factor ``eta``."""
    s_max = floor_log(max_units, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - _EPSILON)
        r = max_units * eta**-s
        rungs = tuple(Rung(i, int(math.floor(n * eta**-i + _EPSILON)), float(r * eta**i)) for i in range(s + 1))
        brackets.append(Bracket(s, rungs))
    return brackets


def halving_bracket(candidates: int, max_units: float, eta: int) -> Bracket:
    """One bracket of successive halving over ``candidates``: as many rungs as ``max_units`` allows
    (``floor(log_eta(R)) + 1``), the last on the full resource; at least one candidate per rung."""
    s = floor_log(max_units, eta)
    counts = [max(1, int(math.floor(candidates * eta**-i + _EPSILON))) for i in range(s + 1)]
    # once one candidate is left, the rungs between it and the full resource would only retrain it
    kept = [i for i in range(s + 1) if i == 0 or i == s or counts[i - 1] > 1]
    return Bracket(
        s, tuple(Rung(position, counts[i], float(max_units * eta ** (i - s))) for position, i in enumerate(kept))
    )


@dataclass(frozen=True)
class ResourceScale:
    """Turns rung units into the resource a model gets: epochs (rounded, at least 1) or a row share."""

    kind: str  # epochs | samples
    min_resource: float
    max_resource: float

    @property
    def max_units(self) -> float:
        return self.max_resource / self.min_resource

    def of(self, units: float) -> int | float:
        value = min(self.max_resource, units * self.min_resource)
        if self.kind == "epochs":
            return max(1, int(round(value)))
        return round(value, 6)


def resource_scale(search, candidates: int) -> ResourceScale:
    """The recipe's resources, with their defaults: ``max_resource`` all rows (samples; epochs must name
    it), ``min_resource`` the max divided by eta once per halving the candidates allow
    (``eta^floor(log_eta(candidates))``), but never under one epoch."""
    eta = search.reduction_factor
    high = 1.0 if search.max_resource is None else float(search.max_resource)
    if search.min_resource is not None:
        low = float(search.min_resource)
    else:
        halvings = floor_log(candidates, eta)
        if search.resource == "epochs":
            halvings = min(halvings, floor_log(high, eta))
        low = high / eta**halvings
    return ResourceScale(search.resource, low, high)


def check_adaptive(search, library: str) -> None:
    """Every QCError of an adaptive search's settings, before anything runs."""
    if search.reduction_factor < 2:
        raise QCError("search.reduction_factor", f"{search.reduction_factor}; expected an integer of at least 2")
    if search.resource == "epochs":
        if library == "sklearn":
            raise QCError(
                "search.resource", "epochs: a scikit-learn estimator has no epochs; expected resource: samples"
            )
        if search.max_resource is None:
            raise QCError(
                "search.max_resource", "resource epochs expects max_resource: the epochs of a fully trained model"
            )
        for key in ("min_resource", "max_resource"):
            value = getattr(search, key)
            if value is not None and (float(value) != int(value) or value < 1):
                raise QCError(f"search.{key}", f"{value}; expected a whole number of epochs, at least 1")
    else:
        for key in ("min_resource", "max_resource"):
            value = getattr(search, key)
            if value is not None and not 0 < value <= 1:
                raise QCError(
                    f"search.{key}", f"{value}; resource samples expects a share of each fold's training rows in (0, 1]"
                )
    if (
        search.min_resource is not None
        and search.max_resource is not None
        and search.max_resource < search.min_resource
    ):
        raise QCError(
            "search.max_resource",
            f"{search.max_resource} is below min_resource {search.min_resource}; expected at least it",
        )


def brackets_for(search, candidates: int) -> tuple[list[Bracket], ResourceScale]:
    scale = resource_scale(search, candidates)
    if search.method == "hyperband":
        return hyperband_brackets(scale.max_units, search.reduction_factor), scale
    return [halving_bracket(candidates, scale.max_units, search.reduction_factor)], scale


def planned_trainings(search, candidates: int) -> int:
    """How many (candidate, rung) trainings the search plans at most: the progress bar's jobs."""
    brackets, _ = brackets_for(search, candidates)
    total = 0
    for bracket in brackets:
        alive = min(candidates, bracket.rungs[0].count)
        for rung in bracket.rungs:
            alive = min(alive, rung.count)
            total += alive
    return total


def tie_break(seed: int, candidate: int) -> str:
    """Equal losses are ordered by this seeded digest of the candidate: deterministic, not by position."""
    return digest(f"{seed}:tie:{candidate}", 16)


def best_first(losses: dict[int, float], seed: int) -> list[int]:
    """Candidates by loss, lowest first; failures (NaN, inf) last; ties by ``tie_break``."""

    def order(candidate: int):
        loss = losses[candidate]
        failed = loss is None or not math.isfinite(loss)
        return (failed, 0.0 if failed else loss, tie_break(seed, candidate))

    return sorted(losses, key=order)


@dataclass(frozen=True)
class Trial:
    """One candidate trained at one rung of one bracket."""

    candidate: int  # index into the candidate list
    bracket: int  # s
    rung: int
    resource: int | float
    final: bool  # the rung trains on max_resource
    loss: float = math.nan
    pruned: bool = False  # the candidate stopped here before max_resource


Evaluate = Callable[[list[Trial]], list[float]]


def adaptive_search(
    candidates: list[dict], brackets: list[Bracket], scale: ResourceScale, seed: int, evaluate: Evaluate
) -> list[Trial]:
    """Run the brackets: each draws its candidates (seeded; all of them when it wants as many), trains a
    rung through ``evaluate``, keeps the best ``n_{i+1}``. Returns every trial in order, the pruned marked."""
    trials: list[Trial] = []
    for bracket in brackets:
        rng = np.random.default_rng([seed, bracket.s])
        wanted = min(len(candidates), bracket.rungs[0].count)
        alive = sorted(int(i) for i in rng.choice(len(candidates), size=wanted, replace=False))
        for position, rung in enumerate(bracket.rungs):
            final = position == len(bracket.rungs) - 1
            batch = [Trial(c, bracket.s, rung.index, scale.of(rung.resource), final) for c in alive]
            losses = [float("nan") if loss is None else float(loss) for loss in evaluate(batch)]
            scored = dict(zip(alive, losses, strict=True))
            keep = (
                set() if final else set(best_first(scored, seed)[: min(len(alive), bracket.rungs[position + 1].count)])
            )
            trials += [
                Trial(
                    t.candidate,
                    t.bracket,
                    t.rung,
                    t.resource,
                    final,
                    scored[t.candidate],
                    pruned=not final and t.candidate not in keep,
                )
                for t in batch
            ]
            alive = [c for c in alive if c in keep]
    return trials


# --- the candidates and the model ---------------------------------------------------------


def candidate_pool(architecture, search, seed: int) -> list[dict]:
    """The candidates: the grid of ``model.hyperparameters``, or a seeded random ``count`` of it."""
    from types import SimpleNamespace

    from mlflow_qc.search import check_search, combinations

    chosen = SimpleNamespace(method=search.candidates, count=search.count, percent=None)
    check_search(architecture, chosen if search.candidates == "random" else None)
    return combinations(architecture, chosen, seed)


def check_adaptive_model(architecture, search) -> None:
    """``check_adaptive`` and what the model must allow: epochs left to the search and taken by fn_train."""
    check_adaptive(search, architecture.library)
    if search.resource != "epochs":
        return
    if "epochs" in architecture.hyperparameters:
        raise QCError(
            "model.hyperparameters.epochs",
            "is set rung by rung by search.resource: epochs; expected it out of "
            "the hyperparameters (search.max_resource gives a full training's epochs)",
        )
    from mlflow_qc.models.user_module import import_user_module, user_functions

    train = user_functions(import_user_module(architecture.module)).get("fn_train")
    if train is not None and not _takes(train, "epochs"):
        raise QCError(
            f"{architecture.module}: fn_train",
            "takes neither epochs nor **hp; search.resource: epochs sets the "
            "epochs hyperparameter, expected fn_train to train that many epochs",
        )


def _takes(function, name: str) -> bool:
    import inspect

    parameters = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


# --- the samples resource -------------------------------------------------------------------


def rows_seed(entry_key: str, context: str, repeat_index: int) -> int:
    """The seed of a rung's training rows: one per (cache entry, context, repeat), so every candidate
    of a rung trains on the same rows (the entry's key carries the recipe's seed)."""
    return int(digest(f"{entry_key}:{context}:{repeat_index}:rows", 8), 16) % (2**31 - 1)


def sample_context(context: str, share: float | None, repeat_index: int) -> str:
    """The cache context whose training rows are a rung's subset of ``context``'s (preprocessing fit on
    them); ``context`` itself for all the rows or no samples resource."""
    if share is None or share >= 1:
        return context
    return f"{context}~samples_{share:g}~repeat_{repeat_index}"


def sample_shares(architecture, search, seed: int, repeat_count: int) -> list[tuple[float, int]]:
    """Every (share below all the rows, repeat) a samples search may train on: the subsets to prepare."""
    if search is None or search.method not in ADAPTIVE_METHODS or search.resource != "samples":
        return []
    brackets, scale = brackets_for(search, len(candidate_pool(architecture, search, seed)))
    shares = sorted({scale.of(rung.resource) for bracket in brackets for rung in bracket.rungs} - {1.0})
    return [(share, repeat) for share in shares for repeat in range(repeat_count)]


def sample_positions(label, total: int, share: float, seed: int, stratify: bool) -> np.ndarray:
    """Sorted positions of a seeded subset of ``share`` of a training split's ``total`` samples, stratified
    by class (``label``, the prepared label) for a classifier; all of them at share 1."""
    from sklearn.model_selection import train_test_split

    classes = None
    if stratify and label is not None:
        label = np.asarray(label)
        classes = (
            label.argmax(axis=1) if label.ndim == 2 and label.shape[1] > 1 else label.reshape(len(label), -1)[:, 0]
        )
    count = max(int(round(share * total)), 1 if classes is None else len(np.unique(classes)))
    if count >= total:
        return np.arange(total)
    try:
        rows, _ = train_test_split(np.arange(total), train_size=count, stratify=classes, random_state=seed)
    except ValueError:  # a class with a single sample cannot be stratified: a plain seeded subset instead
        rows, _ = train_test_split(np.arange(total), train_size=count, random_state=seed)
    return np.sort(rows)
