"""Training a recipe, in one pass down: check, plan, prepare, open the experiment run, adopt the
earlier tree, execute the models, close the jobs, summarise, hand over to the observers.

Used by ``Experiment.run`` (and through it ``mlflow-qc train``, the MLproject ``main`` entry
point), which also chooses the observers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import RunTag

from mlflow_qc.adaptive import ADAPTIVE_METHODS, check_adaptive_model
from mlflow_qc.data.typical import one_table
from mlflow_qc.errors import QCError
from mlflow_qc.hashing import content_key, digest
from mlflow_qc.models import adapter_for
from mlflow_qc.models.metrics import metric_names
from mlflow_qc.models.user_metrics import check_user_metrics, user_metrics
from mlflow_qc.prepare import Prepared, prepare
from mlflow_qc.progress import progress_bar
from mlflow_qc.recipe import Recipe
from mlflow_qc.run.adaptive_run import AdaptiveRun, planned_adaptive_jobs
from mlflow_qc.run.claim import claim_tree
from mlflow_qc.run.executor import open_executor
from mlflow_qc.run.failures import failure_summary  # noqa: F401 (the CLI's, beside NothingSucceeded)
from mlflow_qc.run.faults import tracking_unreachable
from mlflow_qc.run.jobs import JobBook
from mlflow_qc.run.observers import ExperimentClosed, notify
from mlflow_qc.run.plan import Job, ModelRecord, ModelTask, baseline_job, plan_tasks
from mlflow_qc.run.prepare_run import log_preparation
from mlflow_qc.run.session import experiment_run, failure_status
from mlflow_qc.run.summary import log_progress, models_table, summarise
from mlflow_qc.run.tree import RunTree, owner_tags
from mlflow_qc.run.worker import TaskEnvironment
from mlflow_qc.search import check_search, combinations, tpe_search_batches
from mlflow_qc.split import REFIT_CONTEXT, declared_splits
from mlflow_qc.suggest import did_you_mean
from mlflow_qc.tracking.names import (
    METRIC_DIGEST_PREFIX,
    METRIC_DIRECTIONS,
    MODELS_FAILED,
    MODELS_FINISHED,
    MODELS_PLANNED,
    PROGRESS_AT,
    RANKING_METRIC,
    RECIPE_KEY,
    RESUME_KEY,
    REUSED_FROM,
    TEST_SEALED,
    THRESHOLD_PARAM,
    TRAINING_STARTED,
    WHATIF,
    declare_directions,
    default_ranking_metric,
    higher_is_better,
)

log = logging.getLogger(__name__)

# The experiment run's counts and qc/progress.csv are rewritten at most this often (a write costs
# about 30 ms; the tracker adds the model runs that ended since from the store, so it stays live).
PROGRESS_SECONDS = 5.0


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
    history: str = ""  # one line: what this run took over or reused from earlier runs (README: "The run tree")

    def metrics(self):
        from mlflow_qc.tracking.tables import read_metrics

        return read_metrics(self.run_id)

    def aggregates(self):
        from mlflow_qc.tracking.tables import read_aggregates

        return read_aggregates(self.run_id)


def resume_key(recipe: Recipe, prepared: Prepared) -> str:
    """Runs of one tree share data, preprocessing, seed and model code; grids and repeats may grow."""
    model = recipe.require_model()
    code = Path(model.module).read_bytes() if model.module else b""
    trainer = recipe.trainer
    # what changes every model's logged evaluation; named only when set, so earlier trees keep their key
    evaluation = {"hide_test": True} if trainer.hide_test else {}
    if trainer.threshold is not None:
        evaluation["threshold"] = trainer.threshold
    if recipe.evaluation.metrics:
        evaluation["metrics"] = {metric.name: metric.digest for metric in user_metrics(recipe.evaluation.metrics)}
    return content_key(
        {
            "prepared": prepared.key,
            "seed": recipe.seed,
            "library": model.library,
            "analysis_type": model.analysis_type,
            "estimator": model.estimator,
            "module": digest(code),
            **evaluation,
        }
    )


def recipe_key(recipe: Recipe, resume: str) -> str:
    """The whole planned work of a tree: a rerun resumes an interrupted tree only when this is the same."""
    trainer = recipe.trainer
    return content_key(
        {
            "resume": resume,
            "hyperparameters": recipe.require_model().hyperparameters,
            "search": recipe.search.model_dump(mode="json"),
            "trainer": {
                name: getattr(trainer, name) for name in ("repeat_count", "permute_count", "baseline", "refit")
            },
            "ranking": recipe.register.metric if recipe.register else None,
        }
    )


def planned_jobs(recipe: Recipe) -> list[Job] | None:
    """The jobs of a grid or random search; None for TPE and adaptive search, which propose them while searching."""
    if recipe.search.method == "tpe" or recipe.search.method in ADAPTIVE_METHODS:
        return None
    return [Job(i, hp) for i, hp in enumerate(combinations(recipe.model, recipe.search, recipe.seed))]


def _job_count(recipe: Recipe, jobs: list[Job] | None) -> int:
    if recipe.search.method in ADAPTIVE_METHODS:
        return planned_adaptive_jobs(recipe.model, recipe.search, recipe.seed)
    return recipe.search.count if jobs is None else len(jobs)


def check_model(recipe: Recipe) -> None:
    """The model and search problems a recipe can have, before any run exists."""
    model = recipe.require_model()
    if recipe.search.method in ADAPTIVE_METHODS:
        check_adaptive_model(model, recipe.search)
    else:
        check_search(model, recipe.search)
    names = set(model.hyperparameters) | set((recipe.search.space or {}) if recipe.search.method == "tpe" else {})
    if recipe.trainer.threshold is not None and THRESHOLD_PARAM in names:
        raise QCError(
            f"{recipe.source or 'recipe'}: model.hyperparameters.{THRESHOLD_PARAM}",
            "is the name of the model runs' decision threshold (trainer.threshold); expected another name",
        )
    adapter = adapter_for(model)
    adapter.check_hyperparameters(names)
    adapter.check_values(model.hyperparameters)
    if recipe.data.target is None and recipe.data.window is None:
        raise QCError(
            f"{recipe.source or 'recipe'}: data.target",
            "required to train a model; expected a target column (or windows, to forecast their next steps)",
        )
    own = [metric.name for metric in user_metrics(recipe.evaluation.metrics)]  # loads each (a name clash is refused)
    if recipe.register and recipe.register.metric:
        check_ranking_metric(recipe.register.metric, model.analysis_type, declared_splits(recipe.data.stratifier), own)


def check_ranking_metric(metric: str, analysis_type: str, splits: list[str], own=()) -> None:
    """``register.metric`` must be one the models will log: ``{split}_{metric}`` of a declared split
    (``own``: the recipe's evaluation.metrics)."""
    known = [f"{split}_{name}" for split in splits for name in (*metric_names(analysis_type), *own)]
    if metric not in known:
        raise QCError(
            "register.metric",
            f"'{metric}' is not a metric this recipe logs;{did_you_mean(metric, known)} expected one of {known}",
        )


class Training:
    """One execution of a recipe inside its experiment run."""

    def __init__(
        self,
        recipe: Recipe,
        prepared: Prepared,
        tree: RunTree,
        env: TaskEnvironment,
        observers,
        bar,
        executor,
        planned: int,
    ):
        self.recipe = recipe
        self.executor = executor
        self.prepared = prepared
        self.tree = tree
        self.env = env
        self.observers = observers
        self.bar = bar
        self.book = JobBook(
            tree,
            recipe.model.analysis_type,
            prepared.entry,
            observers,
            tuple(metric.name for metric in env.user_metrics),
        )
        self.jobs: list[Job] = []
        self.baseline: Job | None = None  # trainer.baseline: trained first, never the best job
        self.models = None  # the last summary's model table
        entry = prepared.entry
        self.ranking_metric = (
            recipe.register.metric
            if recipe.register and recipe.register.metric
            else default_ranking_metric(recipe.model.analysis_type, entry.split_names(entry.contexts[0]))
        )
        self.planned = planned
        self._progress_at = 0.0
        whatif = one_table(entry.meta.get("kinds"), entry.meta.get("windows"))
        self._tag(
            {
                MODELS_PLANNED: str(planned),
                RANKING_METRIC: self.ranking_metric,
                WHATIF: str(whatif).lower(),
                TRAINING_STARTED: str(int(time.time() * 1000)),
                **self._counts(),
            }
        )

    def _tag(self, tags: dict[str, str]) -> None:
        self.tree.client.log_batch(self.tree.root_run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _counts(self) -> dict[str, str]:
        return {MODELS_FINISHED: str(len(self.book.finished)), MODELS_FAILED: str(len(self.book.failures))}

    def report_progress(self, now: bool = False) -> None:
        """What the QC pages show of a training under way: the experiment run's counts (the list) and
        ``qc/progress.csv``, the models back so far (the tracker); at most every PROGRESS_SECONDS."""
        if not now and time.monotonic() - self._progress_at < PROGRESS_SECONDS:
            return
        self._progress_at = time.monotonic()
        written_at = int(time.time() * 1000)
        log_progress(self.tree.client, self.tree.root_run_id, list(self.book.records.values()), self.tree.job_runs)
        self._tag({**self._counts(), PROGRESS_AT: str(written_at)})

    def run_baseline(self) -> None:
        """The baseline job on every context and repeat, before the search's jobs."""
        self.baseline = baseline_job(self.recipe.model.analysis_type)
        self.run_jobs([self.baseline], self.prepared.entry.contexts)

    def run_jobs(self, jobs: list[Job], contexts: list[str], env: TaskEnvironment | None = None) -> None:
        tasks = plan_tasks(jobs, contexts, self.recipe.trainer.repeat_count, self.recipe.seed)
        log.info(
            "planned %d model(s): %d job(s) x %d context(s) x %d repeat(s)",
            len(tasks),
            len(jobs),
            len(contexts),
            self.recipe.trainer.repeat_count,
        )
        self.jobs.extend(job for job in jobs if not job.baseline)
        self.book.expect(tasks)
        todo, reused, references = [], [], defaultdict(list)
        for task in tasks:
            done = self.tree.finished.get(task.identity)
            if done is None:
                todo.append(dataclasses.replace(task, parent_run_id=self._open_parent(task)))
                continue
            if done.info.run_id in self.tree.referenced:  # another tree's model: counted here, left where it is
                references[self._open_parent(task)].append(done.info.run_id)
            reused.append(ModelRecord(task, done.info.run_id, done.info.status, dict(done.data.metrics), reused=True))
        for parent, run_ids in references.items():
            self.tree.reference(parent, run_ids)
        for record in reused:
            self._record(record)
        self.bar.total = max(self.bar.total, self.bar.n + len(todo))
        self.bar.refresh()
        trainer = self.recipe.trainer
        for record in self.executor.execute(todo, env or self.env):
            self._record(record)
            if not record.finished:
                notify(self.observers, "model_failed", record)
                if record.stop is not None:
                    raise record.stop
                if not trainer.continue_on_error:
                    raise RuntimeError(f"{record.task.name} failed (continue_on_error is false):\n{record.error}")

    def _open_parent(self, task: ModelTask) -> str:
        parent = self.tree.parent_of(task)
        self.tree.reopen(self.tree.job_run(task.job))  # adopted runs only, once each
        self.tree.reopen(parent)
        return parent

    def _record(self, record: ModelRecord) -> None:
        complete = self.book.record(record)
        if complete is not None:
            self.book.close(complete)
        self.bar.update()
        self.report_progress()

    def objective(self, proposals: list[dict]) -> list[float]:
        """TPE's objective: train one job per proposal together, return their ranking metrics to minimise."""
        jobs = [Job(len(self.jobs) + i, hyperparameters) for i, hyperparameters in enumerate(proposals)]
        self.run_jobs(jobs, self.prepared.entry.contexts)
        return [self._loss(job) for job in jobs]

    def _loss(self, job: Job) -> float:
        metric = self.ranking_metric
        values = [r.metrics.get(metric, np.nan) for r in self.book.models_of(job) if r.finished]
        mean = float(np.nanmean(values)) if values and not np.all(np.isnan(values)) else np.inf
        return -mean if higher_is_better(metric) and np.isfinite(mean) else mean

    def refit(self, best: Job) -> None:
        """The best job's hyperparameters on train + validation; a chosen decision threshold is the
        median of the best job's (the refit model has no evaluation split to choose its own on)."""
        self.planned += self.recipe.trainer.repeat_count
        self._tag({MODELS_PLANNED: str(self.planned)})
        env = self.env
        if isinstance(env.threshold, str):
            chosen = [
                self.tree.client.get_run(r.run_id).data.params.get(THRESHOLD_PARAM)
                for r in self.book.models_of(best)
                if r.finished
            ]
            chosen = [float(value) for value in chosen if value is not None]
            env = dataclasses.replace(env, threshold=float(np.median(chosen)) if chosen else None)
        self.run_jobs([Job(len(self.jobs), best.hyperparameters, refit=True)], [REFIT_CONTEXT], env)

    def summarise(self) -> Job | None:
        """Log the experiment's tables and best job; returns the best job."""
        self.models = models_table(list(self.book.records.values()))
        runs = {job.index: self.tree.job_runs[job.key] for job in self.jobs if job.key in self.tree.job_runs}
        best = summarise(self.tree.client, self.tree.root_run_id, self.models, self.ranking_metric, runs)
        self.report_progress(now=True)
        return next((job for job in self.jobs if job.index == best), None)

    def closed(self, best: Job | None) -> ExperimentClosed:
        return ExperimentClosed(
            run_id=self.tree.root_run_id,
            name=self.recipe.name,
            analysis_type=self.recipe.model.analysis_type,
            models=self.models,
            ranking_metric=self.ranking_metric,
            contexts=self.prepared.entry.meta["contexts"],
            finished=len(self.book.finished),
            best_job_index=None if best is None else best.index,
            job_run_ids={
                job.key: self.tree.job_runs[job.key]
                for job in [*self.jobs, *filter(None, [self.baseline])]
                if job.key in self.tree.job_runs
            },
        )


def run_experiment(recipe: Recipe, observers=()) -> ExperimentResult:
    """Train every job of ``recipe`` into its experiment run; ``observers`` see each step."""
    check_model(recipe)  # under `mlflow run`, cli.main ends the launched run FAILED on a QCError
    with open_executor(
        recipe.trainer, mlflow.get_tracking_uri()
    ) as executor:  # the backend (or cluster) is checked here
        return _train(recipe, observers, executor)


def _train(recipe: Recipe, observers, executor) -> ExperimentResult:
    model = recipe.require_model()
    jobs = planned_jobs(recipe)
    prepared = None if os.environ.get("MLFLOW_RUN_ID") else prepare(recipe)
    with (
        ExitStack() as claims,
        experiment_run(recipe, tags=owner_tags()) as (client, run),
    ):  # the claim outlives the run
        run_id, experiment_id = run.info.run_id, run.info.experiment_id
        prepared = prepared or prepare(recipe)
        metrics = user_metrics(recipe.evaluation.metrics)
        check_user_metrics(metrics, model.analysis_type, prepared.entry.meta["classes"])
        key = resume_key(recipe, prepared)
        claims.enter_context(claim_tree(mlflow.get_tracking_uri(), experiment_id, key, run_id))
        client.set_tag(run_id, RESUME_KEY, key)
        for tag, value in owner_tags().items():
            client.set_tag(run_id, tag, value)
        log_preparation(client, run_id, recipe, prepared)
        if metrics:
            log_user_metrics(client, run_id, metrics)

        tree = RunTree(client, experiment_id, run_id, key)
        trainer = recipe.trainer
        env = TaskEnvironment(
            mlflow.get_tracking_uri(),
            experiment_id,
            key,
            model,
            str(prepared.entry.root),
            tuple(observers),
            hide_test=trainer.hide_test,
            threshold=trainer.threshold,
            user_metrics=metrics,
        )
        contexts = prepared.entry.contexts
        job_count = _job_count(recipe, jobs) + trainer.baseline
        planned = job_count * len(contexts) * trainer.repeat_count
        client.set_tag(run_id, RECIPE_KEY, recipe_key(recipe, key))  # before adopting: a killed rerun is resumable too
        taken = tree.adopt(jobs, recipe_key(recipe, key), reuse_elsewhere=not trainer.hide_test)
        if trainer.hide_test:
            client.set_tag(run_id, TEST_SEALED, "true")
        try:
            with progress_bar(planned, recipe.name) as bar:
                training = Training(recipe, prepared, tree, env, observers, bar, executor, planned)
                if trainer.baseline:
                    training.run_baseline()
                if recipe.search.method in ADAPTIVE_METHODS:
                    AdaptiveRun(training, model, recipe.search, recipe.seed).run()
                elif jobs is None:
                    tpe_search_batches(model, recipe.search, recipe.seed, training.objective, executor.slots)
                else:
                    training.run_jobs(jobs, contexts)
                best = training.summarise()
                if recipe.trainer.refit and best is not None:
                    training.refit(best)
                    training.summarise()
        except BaseException as exc:
            if not tracking_unreachable(exc):
                tree.end_unfinished(failure_status(exc))
            raise
        notify(observers, "experiment_closed", client, training.closed(best))
        result = ExperimentResult(
            run_id=run_id,
            experiment_id=experiment_id,
            finished=len(training.book.finished),
            reused=sum(r.reused for r in training.book.finished),
            failures=training.book.failures,
            best_job_index=None if best is None else best.index,
            history=history_line(taken, tree.reused_from, training.book.finished),
        )
        if tree.reused_from:
            client.set_tag(run_id, REUSED_FROM, ",".join(tree.reused_from))
        if not any(
            not record.task.job.baseline for record in training.book.finished
        ):  # the baseline alone is no success
            raise NothingSucceeded(failure_summary(result))
    return result


def log_user_metrics(client, run_id: str, metrics) -> None:
    """The user metrics' directions (every ranking reads them) and their functions' source digests."""
    directions = {metric.name: metric.greater_is_better for metric in metrics}
    declare_directions(directions)
    client.log_batch(
        run_id,
        tags=[
            RunTag(METRIC_DIRECTIONS, json.dumps(directions)),
            *(RunTag(f"{METRIC_DIGEST_PREFIX}{metric.name}", metric.digest) for metric in metrics),
        ],
    )


def history_line(taken: list[str], reused_from: list[str], finished: list[ModelRecord]) -> str:
    """What a rerun took from earlier runs, in one line ("" for a first run)."""
    kept = sum(record.reused for record in finished)
    if taken:
        return (
            f"resumed interrupted experiment run(s) {', '.join(taken)}: {kept} finished model(s) kept, the rest trained"
        )
    if reused_from:
        return (
            f"new experiment run; {kept} finished model(s) of experiment run(s) {', '.join(reused_from)} "
            f"reused by reference (qc.reused_models), left where they are"
        )
    return ""
