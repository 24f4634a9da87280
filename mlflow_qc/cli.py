"""``mlflow-qc``: the MLproject entry points' verbs plus project chores.

User errors print one line ``error: <where>: <expected>`` as the last line and exit 2.
"""
from __future__ import annotations

import os
import sys

import click

from mlflow_qc.errors import QCError

from mlflow_qc.progress import QUIET_ENV


@click.group()
@click.option("--quiet", is_flag=True, help="No progress bars.")
def cli(quiet: bool) -> None:
    """Seeded, leak-free, cross-validated experiments on MLflow and DVC."""
    if quiet:
        os.environ[QUIET_ENV] = "1"


def _recipe(path: str, overrides: str):
    from mlflow_qc.recipe import load_recipe

    return load_recipe(path, overrides or None)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overrides", default="", help='e.g. "trainer.repeat_count=1;seed=7"')
@click.option("--export", type=click.BOOL, default=False, help="Also log the preprocessed arrays.")
def prepare(recipe: str, overrides: str, export: bool) -> None:
    """Version the datasets, split, fit preprocessing per fold and cache the arrays; no training."""
    from mlflow_qc.run.prepare_run import run_prepare

    run_id = run_prepare(_recipe(recipe, overrides), export=export)
    click.echo(f"prepared: run {run_id}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overrides", default="", help='e.g. "trainer.repeat_count=1;seed=7"')
def train(recipe: str, overrides: str) -> None:
    """Train every job of RECIPE into MLflow (resumes an earlier run of the same recipe)."""
    from mlflow_qc.run.experiment_run import NothingSucceeded, failure_summary, run_experiment

    try:
        result = run_experiment(_recipe(recipe, overrides))
    except NothingSucceeded as exc:
        click.echo(f"error: nothing succeeded. {exc}", err=True)
        sys.exit(1)
    click.echo(f"experiment run {result.run_id}: {result.finished} model(s) finished ({result.reused} reused)")
    if result.failures:
        click.echo(failure_summary(result), err=True)


@cli.group()
def data() -> None:
    """Datasets under DVC."""


@data.command("add")
@click.argument("path", type=click.Path(exists=True))
def data_add(path: str) -> None:
    """Track PATH with DVC and push it to the default remote."""
    from mlflow_qc.data.versioning import add_path

    version = add_path(path)
    click.echo(f"{version.dvc_path}: md5 {version.md5}")


@data.command("get")
@click.argument("run_id")
@click.argument("dest", type=click.Path())
def data_get(run_id: str, dest: str) -> None:
    """Bring back the exact bytes of every dataset RUN_ID used into DEST."""
    from mlflow_qc.data.source import restore_run_data

    for path in restore_run_data(run_id, dest):
        click.echo(path)


@data.command("demo")
@click.argument("folder", type=click.Path(file_okay=False), default="data")
@click.option("--version/--no-version", default=True, help="dvc add the files when FOLDER is in a DVC repo.")
def data_demo(folder: str, version: bool) -> None:
    """Write the demo datasets into FOLDER (default: data)."""
    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.data.context import find_dvc_root
    from mlflow_qc.data.versioning import add_path

    for path in write_demo_data(folder):
        if version and path.suffix != "" and find_dvc_root(str(path)):
            add_path(str(path))
        click.echo(str(path))


def main(argv: list[str] | None = None) -> None:
    from mlflow_qc.run.session import Interrupted, raise_on_sigterm

    raise_on_sigterm()
    try:
        cli.main(args=argv, standalone_mode=False)
    except QCError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt, Interrupted):
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
