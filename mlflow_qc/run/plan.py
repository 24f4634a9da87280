"""What to train: jobs (hyperparameter combinations) x folds x repeats, with stable identities,
and the record of what came of each model.

A job is identified by the hash of its hyperparameters and a model by (job, fold, repeat),
so reruns find what already finished whatever order the work ran in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow_qc.adaptive import sample_context
from mlflow_qc.hashing import content_key, digest
from mlflow_qc.models.baseline import baseline_hyperparameters
from mlflow_qc.tracking.names import BASELINE_JOB, FINISHED, RESOURCE_PARAM


def job_key(hyperparameters: dict) -> str:
    return content_key(hyperparameters, length=16)


def model_seed(seed: int, key: str, fold_index: int | None, repeat_index: int) -> int:
    """Each model's own seed: repeats differ, reruns agree."""
    return int(digest(f"{seed}:{key}:{fold_index}:{repeat_index}", 8), 16) % (2**31 - 1)


BASELINE_INDEX = -1  # the baseline job's qc.job_index: before the search's jobs, never one of them


@dataclass(frozen=True)
class Job:
    index: int
    hyperparameters: dict = field(hash=False)
    refit: bool = False
    baseline: bool = False  # the trivial model every job is tested against (trainer.baseline)
    # adaptive search (README: "Adaptive search"): a candidate at one resource is one job
    sample_share: float | None = None  # resource samples: the share of each fold's training rows it trains on
    rung: int | None = field(default=None, hash=False, compare=False)  # the rung it first trained at
    partial: bool = field(default=False, hash=False, compare=False)  # below max_resource: never the best job
    # an epochs rung trained in the trainer's own process: it may continue its candidate's previous rung
    continues: bool = field(default=False, hash=False, compare=False)

    @property
    def key(self) -> str:
        identity = {"hyperparameters": self.hyperparameters, "refit": self.refit}
        if self.sample_share is not None:
            identity["sample_share"] = self.sample_share
        return job_key({**identity, "baseline": True} if self.baseline else identity)

    @property
    def epochs_rung(self) -> bool:
        """An adaptive job on ``resource: epochs``: its models may continue the candidate's previous rung."""
        return self.rung is not None and self.sample_share is None

    @property
    def seed_key(self) -> str:
        """What its models' seeds derive from: the job, or for an epochs rung the candidate without its
        epochs, so every rung of a candidate starts from the same seed (and one rung may continue the last)."""
        if not self.epochs_rung:
            return self.key
        hyperparameters = {k: v for k, v in self.hyperparameters.items() if k != "epochs"}
        return job_key({"hyperparameters": hyperparameters, "refit": self.refit, "resource": "epochs"})

    @property
    def resource(self) -> float | int | None:
        """An adaptive job's resource: its share of the training rows, or its epochs; None otherwise."""
        if self.rung is None:
            return None
        return self.sample_share if self.sample_share is not None else self.hyperparameters.get("epochs")

    @property
    def resource_params(self) -> dict:
        """What an adaptive job's model runs log beside their hyperparameters: the param ``resource``."""
        return {} if self.resource is None else {RESOURCE_PARAM: self.resource}

    @property
    def label(self) -> str:
        if self.baseline:
            return BASELINE_JOB
        return f"{'refit' if self.refit else 'job'} {self.index}"


def baseline_job(analysis_type: str) -> Job:
    return Job(BASELINE_INDEX, baseline_hyperparameters(analysis_type), baseline=True)


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
    def data_context(self) -> str:
        """The cache context it trains on: its own, or (resource samples) the rung's subset of its training
        rows with preprocessing fit on them."""
        return sample_context(self.context, self.job.sample_share, self.repeat_index)

    @property
    def name(self) -> str:
        fold = "" if self.fold_index is None else f" fold {self.fold_index}"
        job = self.job.label if self.job.baseline else f"job {self.job.index}"
        return f"{job}{fold} repeat {self.repeat_index}"


@dataclass
class ModelRecord:
    """What came of one model task: its run, status and split metrics (or the error)."""

    task: ModelTask
    run_id: str
    status: str
    metrics: dict[str, float]
    error: str | None = None
    reused: bool = False  # finished by an earlier run of the same tree
    seconds: float = 0.0
    stop: Exception | None = None  # why the whole training must stop: every other model would fail the same way

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def error_line(self) -> str | None:
        """The last line of the traceback: the exception and its message."""
        if self.error is None:
            return None
        lines = self.error.strip().splitlines()
        return lines[-1] if lines else "unknown error"


def fold_index_of(context: str) -> int | None:
    return int(context.split("_", 1)[1]) if context.startswith("fold_") else None


def plan_tasks(jobs: list[Job], contexts: list[str], repeat_count: int, seed: int) -> list[ModelTask]:
    """Every model, job-major so that jobs finish (and aggregate) one after another."""
    return [
        ModelTask(
            job, context, fold_index_of(context), repeat, model_seed(seed, job.seed_key, fold_index_of(context), repeat)
        )
        for job in jobs
        for context in contexts
        for repeat in range(repeat_count)
    ]
