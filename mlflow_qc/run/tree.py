"""Writing the MLflow run tree (README: "The run tree") and resuming it.

experiment run -> job runs (one per hyperparameter combination) -> fold runs (with
cross-validation) -> model runs (fold x repeat). Every run of a tree carries the
tree's ``qc.resume_key`` (data, preprocessing, seed, model code) and the experiment run
its ``qc.recipe_key`` (the whole planned work). History is append-only:

- a rerun of the same recipe (same recipe key) whose earlier tree was interrupted (its
  experiment run not FINISHED, never finalized) takes that tree over: its job runs move
  under the new experiment run, its finished models are kept, the rest is retrained;
- any other rerun of the same resume key starts a tree of its own and counts the finished
  models of earlier trees by reference (their ids in ``qc.reused_models`` on the new fold or
  job run); those runs stay where they are, untouched. With ``hide_test`` nothing is reused
  from another tree (``finalize`` writes test metrics onto the models it evaluates).

A finished or finalized experiment run is never deleted, moved or retagged.
"""

from __future__ import annotations

import os
import socket

import psutil
from mlflow.entities import Param, Run
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.run.model_run import open_run
from mlflow_qc.run.plan import Job, ModelTask
from mlflow_qc.tracking.names import (
    BASELINE,
    EXPERIMENT,
    FINISHED,
    FOLD,
    FOLD_INDEX,
    HOST,
    JOB,
    JOB_INDEX,
    JOB_KEY,
    KILLED,
    LAUNCHER_PID,
    LAUNCHER_STARTED,
    LEVEL,
    MODEL,
    PARENT,
    PID,
    PID_STARTED,
    RECIPE_KEY,
    REFIT,
    REPEAT_INDEX,
    RESUME_KEY,
    REUSED_MODELS,
    RUN_NAME,
    RUNG,  # adaptive search
    RUNNING,
    TEST_REVEALED,
)
from mlflow_qc.tracking.queries import children_of, tree_runs


def owner_tags() -> dict[str, str]:
    me = psutil.Process()
    tags = {PID: str(me.pid), PID_STARTED: str(int(me.create_time())), HOST: socket.gethostname()}
    launcher = _launcher(me)
    if launcher is not None:
        tags |= {LAUNCHER_PID: str(launcher.pid), LAUNCHER_STARTED: str(int(launcher.create_time()))}
    return tags


def _launcher(me: psutil.Process) -> psutil.Process | None:
    """The `mlflow run` process that started this one: the nearest ancestor not handed this run's id."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return None
    try:
        return next((p for p in me.parents() if p.environ().get("MLFLOW_RUN_ID") != run_id), None)
    except psutil.Error:  # an ancestor we may not read: no launcher is recorded
        return None


def still_running(run: Run) -> str | None:
    """The pid of a live process that owns a run, else None: the trainer of a RUNNING run, or the
    `mlflow run` launcher, which ends the run after its trainer has (until then the run must not be
    adopted and deleted, whatever its status).

    Only processes on this host are checked; elsewhere they are assumed gone.
    """
    tags = run.data.tags
    if tags.get(HOST) != socket.gethostname():
        return None
    if run.info.status == RUNNING and _alive(tags.get(PID), tags.get(PID_STARTED)):
        return tags[PID]
    return tags[LAUNCHER_PID] if _alive(tags.get(LAUNCHER_PID), tags.get(LAUNCHER_STARTED)) else None


def _alive(pid: str | None, started: str | None) -> bool:
    if pid is None or int(pid) == os.getpid() or not psutil.pid_exists(int(pid)):
        return False
    try:
        return int(psutil.Process(int(pid)).create_time()) == int(started or -1)
    except psutil.Error:
        return False


class RunTree:
    def __init__(self, client: MlflowClient, experiment_id: str, root_run_id: str, resume_key: str):
        self.client = client
        self.experiment_id = experiment_id
        self.root_run_id = root_run_id
        self.resume_key = resume_key
        self.job_runs: dict[str, str] = {}
        self.fold_runs: dict[tuple[str, int], str] = {}
        self.finished: dict[tuple, Run] = {}
        self.closed_earlier: set[str] = set()  # adopted job and fold runs not reopened yet in this execution
        self.referenced: dict[str, str] = {}  # model run id of another tree -> that tree's experiment run

    def _runs(self, level: str) -> list[Run]:
        return tree_runs(self.client, self.experiment_id, self.resume_key, level)

    def tags(self, level: str, **extra) -> dict[str, str]:
        return tree_tags(self.resume_key, level, **extra)

    # --- resume ----------------------------------------------------------------------

    def adopt(self, jobs: list[Job] | None, recipe_key: str | None = None, reuse_elsewhere: bool = True) -> list[str]:
        """Find the earlier work this tree may use; return the ids of the interrupted experiment runs taken over.

        Earlier trees of this resume key: an interrupted one of the same ``recipe_key`` is taken over
        (every job run of it, a refit job or a job since dropped from the grid too; ``jobs`` gives the
        current indices of the ones still planned); the finished models of the others are counted by
        reference (``reuse_elsewhere``). Runs left RUNNING by a process that is gone end KILLED.
        """
        previous = [r for r in self._runs(EXPERIMENT) if r.info.run_id != self.root_run_id]
        for run in previous:
            if pid := still_running(run):
                raise QCError(
                    "experiment",
                    f"run {run.info.run_id} of this recipe is still running (pid {pid}); "
                    "expected it to finish or be stopped before resuming",
                )
        taken = [
            r
            for r in previous
            if recipe_key is not None
            and r.data.tags.get(RECIPE_KEY) == recipe_key
            and r.info.status != FINISHED
            and TEST_REVEALED not in r.data.tags
        ]
        job_runs, fold_runs = self._runs(JOB), self._runs(FOLD)
        self._take_over({r.info.run_id for r in taken}, job_runs, fold_runs, {job.key: job.index for job in jobs or []})
        root_of = _roots(previous, job_runs, fold_runs)
        own = set(self.job_runs.values()) | set(self.fold_runs.values())
        elsewhere = []
        for run in self._runs(MODEL):
            if run.data.tags.get(PARENT) in own:
                self._keep_or_discard(run)
            elif run.info.status == RUNNING:  # its process is gone (checked above): the attempt ended
                self.client.set_terminated(run.info.run_id, KILLED)
            elif reuse_elsewhere and run.info.status == FINISHED and root_of.get(run.data.tags.get(PARENT)) is not None:
                elsewhere.append(run)
        for run in sorted(elsewhere, key=lambda r: r.info.start_time or 0):  # the first trained of equals
            identity = model_identity(run)
            if identity not in self.finished:
                self.finished[identity] = run
                self.referenced[run.info.run_id] = root_of[run.data.tags[PARENT]]
        for run in [*previous, *job_runs, *fold_runs]:
            if run.info.status == RUNNING and run.info.run_id not in own:
                self.client.set_terminated(run.info.run_id, KILLED)
        for run in taken:
            if not children_of(self.client, self.experiment_id, run.info.run_id):
                self.client.delete_run(run.info.run_id)  # an interrupted run whose jobs all moved: nothing is lost
        return [run.info.run_id for run in taken]

    def _take_over(self, roots: set[str], job_runs: list[Run], fold_runs: list[Run], indices: dict[str, int]) -> None:
        for job_run in job_runs:
            key = job_run.data.tags.get(JOB_KEY)
            if job_run.data.tags.get(PARENT) not in roots or key in self.job_runs:
                continue
            self.job_runs[key] = job_run.info.run_id
            self.closed_earlier.add(job_run.info.run_id)
            self.client.set_tag(job_run.info.run_id, PARENT, self.root_run_id)
            if key in indices:
                self.client.set_tag(job_run.info.run_id, JOB_INDEX, str(indices[key]))
        for fold_run in fold_runs:
            parent = fold_run.data.tags.get(PARENT)
            key = next((k for k, rid in self.job_runs.items() if rid == parent), None)
            if key is not None:
                self.fold_runs[(key, int(fold_run.data.tags[FOLD_INDEX]))] = fold_run.info.run_id
                self.closed_earlier.add(fold_run.info.run_id)

    def _keep_or_discard(self, run: Run) -> None:
        """Of a taken-over tree, keep one finished model per (job, fold, repeat); discard (soft-delete) the rest."""
        identity = model_identity(run)
        if run.info.status == FINISHED and identity not in self.finished:
            self.finished[identity] = run
        else:
            discard_run(self.client, run)

    def reference(self, parent_run_id: str, model_run_ids: list[str]) -> None:
        """Record on a new fold (or job) run the earlier model runs it counts, in ``qc.reused_models``."""
        if model_run_ids:
            self.client.set_tag(parent_run_id, REUSED_MODELS, ",".join(model_run_ids))

    @property
    def reused_from(self) -> list[str]:
        """The earlier experiment runs whose models this tree counts by reference."""
        return sorted(set(self.referenced.values()))

    def end_unfinished(self, status: str) -> None:
        """End every run of this tree still RUNNING below the root (after an interrupt)."""
        for level in (MODEL, FOLD, JOB):
            for run in self._runs(level):
                if run.info.status == RUNNING:
                    self.client.set_terminated(run.info.run_id, status)

    # --- creating runs ---------------------------------------------------------------

    def _create(self, parent: str, name: str, tags: dict[str, str], params: dict | None = None) -> str:
        """A fold or job run, RUNNING, with its tags and params (on a SQL store in one transaction)."""
        return open_run(
            self.client, self.experiment_id, {PARENT: parent, **tags, RUN_NAME: name}, _params(params or {})
        ).run_id

    def reopen(self, run_id: str) -> None:
        """An adopted job or fold run that gets new models is RUNNING again (once; new runs already are)."""
        if run_id in self.closed_earlier:
            self.closed_earlier.discard(run_id)
            self.client.update_run(run_id, status=RUNNING)

    def job_run(self, job: Job) -> str:
        if job.key not in self.job_runs:
            tags = self.tags(
                JOB,
                **{
                    JOB_KEY: job.key,
                    JOB_INDEX: job.index,
                    REFIT: str(job.refit).lower(),
                    BASELINE: "true" if job.baseline else None,
                },
            )
            self.job_runs[job.key] = self._create(self.root_run_id, job_run_name(job), tags, job.hyperparameters)
        return self.job_runs[job.key]

    def fold_run(self, job: Job, fold_index: int) -> str:
        key = (job.key, fold_index)
        if key not in self.fold_runs:
            tags = self.tags(FOLD, **{JOB_KEY: job.key, JOB_INDEX: job.index, FOLD_INDEX: fold_index})
            self.fold_runs[key] = self._create(self.job_run(job), f"{job.label} fold {fold_index}", tags)
        return self.fold_runs[key]

    def parent_of(self, task: ModelTask) -> str:
        return self.job_run(task.job) if task.fold_index is None else self.fold_run(task.job, task.fold_index)


def _roots(experiment_runs: list[Run], job_runs: list[Run], fold_runs: list[Run]) -> dict[str, str]:
    """Job or fold run id -> the experiment run above it, for trees whose experiment run is among
    ``experiment_runs``."""
    roots = {r.info.run_id for r in experiment_runs}
    of_job = {r.info.run_id: r.data.tags.get(PARENT) for r in job_runs if r.data.tags.get(PARENT) in roots}
    of_fold = {r.info.run_id: of_job[r.data.tags.get(PARENT)] for r in fold_runs if r.data.tags.get(PARENT) in of_job}
    return of_job | of_fold


def model_identity(run: Run) -> tuple:
    """(job key, fold index, repeat index) of a model run: ``ModelTask.identity``."""
    tags = run.data.tags
    fold = tags.get(FOLD_INDEX)
    return (tags[JOB_KEY], None if fold is None else int(fold), int(tags[REPEAT_INDEX]))


def discard_run(client: MlflowClient, run: Run) -> None:
    """A run that is not part of the tree (a superseded attempt): ended KILLED if running, soft-deleted, and so
    is its MLflow logged model (out of the experiment's Models tab)."""
    if run.info.status == RUNNING:
        client.set_terminated(run.info.run_id, KILLED)
    client.delete_run(run.info.run_id)
    for output in run.outputs.model_outputs if run.outputs else []:
        client.delete_logged_model(output.model_id)


def tree_tags(resume_key: str, level: str, **extra) -> dict[str, str]:
    return {LEVEL: level, RESUME_KEY: resume_key, **{k: str(v) for k, v in extra.items() if v is not None}}


def model_tags(resume_key: str, task: ModelTask) -> dict[str, str]:
    return tree_tags(
        resume_key,
        MODEL,
        **{
            PARENT: task.parent_run_id,
            RUN_NAME: f"model {task.name}",
            JOB_KEY: task.job.key,
            JOB_INDEX: task.job.index,
            FOLD_INDEX: task.fold_index,
            REPEAT_INDEX: task.repeat_index,
            BASELINE: "true" if task.job.baseline else None,
            RUNG: task.job.rung,
        },
    )


def _params(values: dict) -> list[Param]:
    return [Param(str(k), str(v)) for k, v in values.items()]


NAMED_HYPERPARAMETERS = 80  # characters of hyperparameters in a job run's name


def job_run_name(job: Job) -> str:
    """``job 0: neuron_count=12 learning_rate=0.01``: the MLflow UI's run list says what each job tried
    (cut at NAMED_HYPERPARAMETERS characters; the job run's params hold them whole)."""
    text = " ".join(f"{name}={value}" for name, value in job.hyperparameters.items())
    if job.baseline or not text:
        return job.label
    cut = text if len(text) <= NAMED_HYPERPARAMETERS else text[: NAMED_HYPERPARAMETERS - 1].rstrip() + "…"
    return f"{job.label}: {cut}"
