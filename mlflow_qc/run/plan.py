"""What to train: jobs (hyperparameter combinations) x folds x repeats, with stable identities.

A job is identified by the hash of its hyperparameters and a model by (job, fold, repeat),
so reruns find what already finished whatever order the work ran in.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def job_key(hyperparameters: dict) -> str:
    return hashlib.sha256(canonical_json(hyperparameters).encode()).hexdigest()[:16]


def model_seed(seed: int, key: str, fold_index: int | None, repeat_index: int) -> int:
    """Each model's own seed: repeats differ, reruns agree."""
    digest = hashlib.sha256(f"{seed}:{key}:{fold_index}:{repeat_index}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)


@dataclass(frozen=True)
class Job:
    index: int
    hyperparameters: dict = field(hash=False)
    refit: bool = False

    @property
    def key(self) -> str:
        return job_key({"hyperparameters": self.hyperparameters, "refit": self.refit})


@dataclass(frozen=True)
class ModelTask:
    job: Job
    context: str
    fold_index: int | None
    repeat_index: int
    seed: int
    parent_run_id: str | None = None

    @property
    def identity(self) -> tuple:
        return (self.job.key, self.fold_index, self.repeat_index)

    @property
    def name(self) -> str:
        fold = "" if self.fold_index is None else f" fold {self.fold_index}"
        return f"job {self.job.index}{fold} repeat {self.repeat_index}"


def fold_index_of(context: str) -> int | None:
    return int(context.split("_", 1)[1]) if context.startswith("fold_") else None


def plan_tasks(jobs: list[Job], contexts: list[str], repeat_count: int, seed: int) -> list[ModelTask]:
    """Every model, job-major so that jobs finish (and aggregate) one after another."""
    return [
        ModelTask(job, context, fold_index_of(context), repeat, model_seed(seed, job.key, fold_index_of(context), repeat))
        for job in jobs
        for context in contexts
        for repeat in range(repeat_count)
    ]
