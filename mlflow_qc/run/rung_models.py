"""Adaptive search on ``resource: epochs`` (README: "Adaptive search"): the models a rung trained, kept in
the process that trained them, so the candidate's next rung continues them instead of starting afresh.

A model is continued only by the same candidate (hyperparameters but epochs), on the same context
(fold) and repeat, with the same seed, in the same experiment run, to more epochs; and only once (the
continuation changes it). Only jobs marked ``Job.continues`` take part: those the trainer trains in its
own process (``n_jobs: 1``, backend local), where the order of the work, and so what is continued, is
the same on every run; with workers, which one holds a model depends on scheduling, and a rung there
trains afresh (as after a restart). The newest ``CAPACITY`` models are kept.
"""

from __future__ import annotations

from collections import OrderedDict

from mlflow_qc.models.base import TrainedModel
from mlflow_qc.run.plan import ModelTask

CAPACITY = 256
_kept: OrderedDict[tuple, tuple[int, TrainedModel]] = OrderedDict()


def rung_key(scope: str, task: ModelTask) -> tuple | None:
    """Who may continue whom; None for a model that is no epochs rung."""
    if not (task.job.epochs_rung and task.job.continues):
        return None
    return (scope, task.job.seed_key, task.context, task.repeat_index, task.seed)


def take(key: tuple | None, epochs: int) -> tuple[int, TrainedModel] | None:
    """The kept model of ``key`` and its epochs, if it trained fewer than ``epochs``; it leaves the store."""
    if key is None or key not in _kept or _kept[key][0] >= epochs:
        return None
    return _kept.pop(key)


def keep(key: tuple | None, epochs: int, trained: TrainedModel) -> None:
    if key is None or trained.state is None:
        return
    _kept[key] = (epochs, trained)
    _kept.move_to_end(key)
    while len(_kept) > CAPACITY:
        _kept.popitem(last=False)
