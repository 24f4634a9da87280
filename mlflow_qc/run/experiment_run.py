"""Training a recipe: prepare, plan, resume, execute, close jobs, summarise.

Used by ``mlflow-qc train`` (the MLproject ``main`` entry point) and ``Experiment.run``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np

from mlflow_qc import cache
from mlflow_qc.evaluate import hooks as evaluation_hooks
from mlflow_qc.prepare import Prepared, add_context, prepare
from mlflow_qc.progress import progress_bar
from mlflow_qc.recipe import Recipe
from mlflow_qc.run.aggregate import default_ranking_metric, higher_is_better
from mlflow_qc.run.executor import execute
from mlflow_qc.run.jobs import JobBook, ModelRecord
from mlflow_qc.run.plan import Job, ModelTask, plan_tasks
from mlflow_qc.run.prepare_run import log_preparation
from mlflow_qc.run.session import experiment_run, failure_status
from mlflow_qc.run.summary import summarise
from mlflow_qc.run.tree import RESUME_KEY, RunTree, owner_tags
from mlflow_qc.run.worker import TaskEnvironment
from mlflow_qc.errors import QCError
from mlflow_qc.models import adapter_for
from mlflow_qc.search import check_search, combinations, tpe_search

REFIT_CONTEXT = "refit"


class NothingSucceeded(Exception):
    """Every model failed; the summary says why."""


@dataclass
class ExperimentResult:
    run_id: str
    experiment_id: str
    finished: int
    reused: int
    failures: list[ModelRecord]
    best_job_index: int | None

    def metrics(self):
        from mlflow_qc.results import metrics

        return metrics(self.run_id)

    def aggregates(self):
        from mlflow_qc.results import aggregates

        return aggregates(self.run_id)


def resume_key(recipe: Recipe, prepared: Prepared) -> str:
    """Runs of one tree share data, preprocessing, seed and model code; grids and repeats may grow."""
    model = recipe.require_model()
    code = Path(model.module).read_bytes() if model.module else b""
    return cache.content_key(
        {
            "prepared": prepared.key,
            "seed": recipe.seed,
            "library": model.library,
            "analysis_type": model.analysis_type,
            "estimator": model.estimator,
            "module": hashlib.sha256(code).hexdigest(),
        }
    )


class Training:
    """One execution of a recipe inside its experiment run."""

    def __init__(self, recipe: Recipe, prepared: Prepared, tree: RunTree, env: TaskEnvironment):
        self.recipe = recipe
        self.prepared = prepared
        self.tree = tree
        self.env = env
        self.book = JobBook(tree, recipe, prepared.entry)
        self.jobs: list[Job] = []
        self.bar = None

    def run_jobs(self, jobs: list[Job], contexts: list[str]) -> None:
        tasks = plan_tasks(jobs, contexts, self.recipe.trainer.repeat_count, self.recipe.seed)
        self.jobs.extend(jobs)
        self.book.expect(tasks)
        todo = []
        for task in tasks:
            done = self.tree.finished.get(task.identity)
            if done is not None:
                self._record(ModelRecord(task, done.info.run_id, "FINISHED", dict(done.data.metrics), reused=True))
                self.bar.update()
            else:
                todo.append(dataclasses.replace(task, parent_run_id=self._open_parent(task)))
        self.bar.total = max(self.bar.total, self.bar.n + len(todo))
        self.bar.refresh()
        trainer = self.recipe.trainer
        for result in execute(todo, self.env, trainer.n_jobs, trainer.backend):
            self._record(ModelRecord(result.task, result.run_id, result.status, result.metrics, result.error))
            self.bar.update()
            if result.status != "FINISHED" and not trainer.continue_on_error:
                raise RuntimeError(f"{result.task.name} failed (continue_on_error is false):\n{result.error}")

    def _open_parent(self, task: ModelTask) -> str:
        adopted = task.job.key in self.tree.job_runs
        parent = self.tree.parent_of(task)
        if adopted:
            self.tree.reopen(self.tree.job_run(task.job))
            if task.fold_index is not None:
                self.tree.reopen(parent)
        return parent

    def _record(self, record: ModelRecord) -> None:
        complete = self.book.record(record)
        if complete is not None:
            self.book.close(complete)

    def objective(self, hyperparameters: dict) -> float:
        """TPE's objective: train one job, return its ranking metric to minimise."""
        job = Job(len(self.jobs), hyperparameters)
        self.run_jobs([job], self.prepared.entry.contexts)
        metric = self.ranking_metric
        values = [r.metrics.get(metric, np.nan) for r in self.book.models_of(job) if r.status == "FINISHED"]
        mean = float(np.nanmean(values)) if values and not np.all(np.isnan(values)) else np.inf
        return -mean if higher_is_better(metric) and np.isfinite(mean) else mean

    @property
    def ranking_metric(self) -> str:
        if self.recipe.register and self.recipe.register.metric:
            return self.recipe.register.metric
        return default_ranking_metric(self.recipe.model.analysis_type, self.prepared.entry.split_names(self.prepared.entry.contexts[0]))

    def refit(self, best: Job) -> None:
        rows = self.prepared.splits.splits
        fit_rows = np.sort(np.concatenate([rows[s] for s in ("train", "validation") if s in rows]))
        context_rows = {"train": fit_rows, **({"test": rows["test"]} if "test" in rows else {})}
        add_context(self.prepared, self.recipe, REFIT_CONTEXT, context_rows)
        self.run_jobs([Job(len(self.jobs), best.hyperparameters, refit=True)], [REFIT_CONTEXT])


def check_model(recipe: Recipe) -> None:
    """The model and search problems a recipe can have, before any run exists."""
    model = recipe.require_model()
    check_search(model, recipe.search)
    names = set(model.hyperparameters) | set((recipe.search.space or {}) if recipe.search.method == "tpe" else {})
    adapter_for(model).check_hyperparameters(names)
    if recipe.data.target is None:
        raise QCError(f"{recipe.source or 'recipe'}: data.target", "required to train a model; expected a target column")


def planned_models(recipe: Recipe, prepared: Prepared) -> int:
    """Models to train (reused ones included) for the progress bar; refit adds its own later."""
    search = recipe.search
    jobs = search.count if search.method == "tpe" else len(combinations(recipe.model, search, recipe.seed))
    return jobs * len(prepared.entry.contexts) * recipe.trainer.repeat_count


def run_experiment(recipe: Recipe) -> ExperimentResult:
    model = recipe.require_model()
    check_model(recipe)  # under `mlflow run`, cli.main ends the launched run FAILED on a QCError
    prepared = None if os.environ.get("MLFLOW_RUN_ID") else prepare(recipe)
    with experiment_run(recipe, tags=owner_tags()) as (client, run):
        run_id, experiment_id = run.info.run_id, run.info.experiment_id
        prepared = prepared or prepare(recipe)
        key = resume_key(recipe, prepared)
        client.set_tag(run_id, RESUME_KEY, key)
        for tag, value in owner_tags().items():
            client.set_tag(run_id, tag, value)
        log_preparation(client, run_id, recipe, prepared)

        tree = RunTree(client, experiment_id, run_id, key)
        env = TaskEnvironment(mlflow.get_tracking_uri(), experiment_id, key, recipe, str(prepared.entry.root))
        training = Training(recipe, prepared, tree, env)
        grid = None if recipe.search.method == "tpe" else combinations(model, recipe.search, recipe.seed)
        tree.adopt(None if grid is None else [Job(i, hp) for i, hp in enumerate(grid)])
        try:
            with progress_bar(planned_models(recipe, prepared), recipe.name) as training.bar:
                if grid is None:
                    tpe_search(model, recipe.search, recipe.seed, training.objective)
                else:
                    training.run_jobs([Job(i, hp) for i, hp in enumerate(grid)], prepared.entry.contexts)
                best = summarise(client, run_id, training)
                if recipe.trainer.refit and best is not None:
                    training.refit(best)
                    summarise(client, run_id, training)
        except BaseException as exc:
            tree.end_unfinished(failure_status(exc))
            raise
        evaluation_hooks.experiment_artifacts(client, run_id, training)
        result = ExperimentResult(
            run_id=run_id,
            experiment_id=experiment_id,
            finished=len(training.book.finished),
            reused=sum(r.reused for r in training.book.finished),
            failures=training.book.failures,
            best_job_index=None if best is None else best.index,
        )
        if not training.book.finished:
            raise NothingSucceeded(failure_summary(result))
        if recipe.register is not None:
            from mlflow_qc.serve.registry import register_best

            version = register_best(run_id, recipe.register.metric, recipe.register.model_name, recipe.register.alias)
            client.set_tag(run_id, "qc.registered_model", f"models:/{version.name}/{version.version}")
    return result


def failure_summary(result: ExperimentResult) -> str:
    lines = [f"{len(result.failures)} model(s) failed:"]
    for record in result.failures:
        last = (record.error or "").strip().splitlines()[-1:] or ["unknown error"]
        lines.append(f"  {record.task.name}: {last[0]}")
    return "\n".join(lines)
