"""The experiment run's lifecycle: where it lives, how it ends, what it records on failure.

Under ``mlflow run`` the run already exists (``MLFLOW_RUN_ID``) and its experiment was
chosen with ``--experiment-name``; otherwise the recipe's ``name`` is the experiment.
A run never stays RUNNING: errors end it FAILED with ``qc/error.txt``, interrupts
(SIGINT, SIGTERM) end it KILLED.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from contextlib import contextmanager

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import one_line
from mlflow_qc.recipe import Recipe
from mlflow_qc.run.faults import single_tries, tracking_unreachable
from mlflow_qc.run.interrupts import Interrupted, raise_on_sigterm  # noqa: F401  (re-exported)
from mlflow_qc.tracking.names import (
    CUSTOM_MODEL_DEVELOPMENT,
    ERROR_ARTIFACT,
    ERROR_LINE,
    EXPERIMENT,
    EXPERIMENT_KIND,
    LEVEL,
    PAGE,
    RUNNING,
    tracker_path,
)
from mlflow_qc.tracking.store import prepare_store


def failure_status(exc: BaseException) -> str:
    killed = isinstance(exc, (KeyboardInterrupt, Interrupted, SystemExit))
    return RunStatus.to_string(RunStatus.KILLED if killed else RunStatus.FAILED)


ERROR_LINE_LIMIT = 1000  # characters of the exception line kept as a tag (MLflow takes 8000)


def error_line(exc: BaseException) -> str:
    """The exception as one line (``ValueError: ...``), what the QC pages show of a failure."""
    if isinstance(exc, Interrupted):
        return f"interrupted by {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return one_line(traceback.format_exception_only(exc)[-1])[:ERROR_LINE_LIMIT]


def record_error(client: MlflowClient, run_id: str, exc: BaseException) -> None:
    """Keep the traceback beside the run and its last line as a tag; never mask the original error."""
    try:
        client.log_text(run_id, "".join(traceback.format_exception(exc)), ERROR_ARTIFACT)
        client.set_tag(run_id, ERROR_LINE, error_line(exc))
    except Exception:
        pass


def end_run_on_error(client: MlflowClient, run_id: str, exc: BaseException) -> None:
    """Record why a run stopped and end it FAILED (errors) or KILLED (interrupts)."""
    record_error(client, run_id, exc)
    client.set_terminated(run_id, failure_status(exc))


def end_launched_run_on_error(exc: BaseException) -> None:
    """The run ``mlflow run`` created for us, if an error came before we adopted it."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id or tracking_unreachable(exc):
        return
    try:
        client = MlflowClient()
        if client.get_run(run_id).info.status == RUNNING:
            end_run_on_error(client, run_id, exc)
    except Exception:
        pass  # the original error is what the user must see


def recipe_params(recipe: Recipe) -> dict[str, str]:
    """The recipe summary logged as the experiment run's params."""
    data, model = recipe.data, recipe.model
    params = {
        "recipe.name": recipe.name,
        "seed": recipe.seed,
        "data.inputs": len(data.inputs),
        "data.target": data.target.column if data.target else None,
        "data.version": data.version,
        **{f"stratifier.{k}": v for k, v in data.stratifier.model_dump().items()},
    }
    if model is not None:
        params.update(
            {
                "model.library": model.library,
                "model.analysis_type": model.analysis_type,
                "model.code": model.estimator or os.path.basename(model.module or ""),
                "search.method": recipe.search.method,
                "trainer.repeat_count": recipe.trainer.repeat_count,
                "trainer.permute_count": recipe.trainer.permute_count,
            }
        )
        search = recipe.search
        if search.resource is not None:  # adaptive search (README: "Adaptive search"): its settings, those given
            adaptive = {
                "resource": search.resource,
                "reduction_factor": search.reduction_factor,
                "candidates": search.candidates,
                "count": search.count,
                "min_resource": search.min_resource,
                "max_resource": search.max_resource,
            }
            params.update({f"search.{name}": value for name, value in adaptive.items() if value is not None})
        guards = {
            "hide_test": recipe.trainer.hide_test,
            "baseline": recipe.trainer.baseline,
            "threshold": recipe.trainer.threshold,
        }
        params.update({f"trainer.{name}": value for name, value in guards.items() if value})  # only when on

    return {key: str(value) for key, value in params.items()}


def experiment_id_for(name: str) -> str:
    """The experiment's id, created when new (mlflow.set_experiment would export it to the
    environment, where a later ``mlflow run --experiment-name`` of this process trips on it)."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # another command created it in the meantime
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


# The names MLflow gives runs that were started without one ("efficient-crane-612").
GENERATED_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d+$")


def top_run_name(recipe: Recipe, level: str) -> str:
    return recipe.name if level == EXPERIMENT else f"{level} {recipe.name}"


def mark_for_the_ui(client: MlflowClient, run, recipe: Recipe, level: str) -> None:
    """What the MLflow UI and the QC pages need to show the tree: the experiment opens on its
    runs table (not MLflow 3's GenAI overview), the top run is named after the recipe (a name
    given with ``mlflow run --run-name`` is kept) and an experiment run knows its tracker page."""
    experiment = client.get_experiment(run.info.experiment_id)
    if EXPERIMENT_KIND not in experiment.tags:
        client.set_experiment_tag(run.info.experiment_id, EXPERIMENT_KIND, CUSTOM_MODEL_DEVELOPMENT)
    name = run.info.run_name or ""
    if not name or GENERATED_RUN_NAME.match(name):
        client.update_run(run.info.run_id, name=top_run_name(recipe, level))
    if level == EXPERIMENT:
        client.set_tag(run.info.run_id, PAGE, tracker_path(run.info.run_id))


DEFAULT_EXPERIMENT_ID = "0"


def say_where_it_went(client: MlflowClient, run, recipe: Recipe) -> None:
    """Under ``mlflow run`` without ``--experiment-name``, MLflow created the run in "Default" before mlflow-qc
    started: say so in one line, and how to name the experiment (the recipe's name is the natural one)."""
    if run.info.experiment_id != DEFAULT_EXPERIMENT_ID:
        return
    name = client.get_experiment(DEFAULT_EXPERIMENT_ID).name
    print(
        f"note: mlflow run put run {run.info.run_id} into the experiment '{name}'; for the recipe's own experiment, "
        f"run: mlflow run . --experiment-name {recipe.name} ... (README: The run tree)",
        file=sys.stderr,
    )


@contextmanager
def experiment_run(recipe: Recipe, level: str = EXPERIMENT, tags: dict | None = None):
    """Start (or, under ``mlflow run``, adopt) the top run and end it properly whatever happens."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    prepare_store(mlflow.get_tracking_uri())  # a new sqlite store made under mlflow-qc's lock, before anything else
    experiment_id = None if run_id else experiment_id_for(recipe.name)
    run = mlflow.start_run(
        run_id=run_id,
        experiment_id=experiment_id,
        run_name=None if run_id else top_run_name(recipe, level),
        tags={LEVEL: level, **(tags or {})},
    )
    client = MlflowClient()
    try:
        if run_id is not None:
            client.set_tag(run.info.run_id, LEVEL, level)
        mark_for_the_ui(client, run, recipe, level)
        if run_id is not None:
            say_where_it_went(client, run, recipe)
        yield client, run
    except BaseException as exc:
        if tracking_unreachable(exc):
            with single_tries():  # a rerun adopts the run left RUNNING
                _try(mlflow.end_run, status=failure_status(exc))
            raise
        record_error(client, run.info.run_id, exc)
        mlflow.end_run(status=failure_status(exc))
        raise
    else:
        mlflow.end_run()


def _try(call, **kwargs) -> None:
    try:
        call(**kwargs)
    except Exception:
        pass
