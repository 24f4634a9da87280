"""``mlflow-qc``: the MLproject entry points' verbs plus project chores.

User errors print one line ``error: <where>: <expected>`` as the last line and exit 2.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

import click

from mlflow_qc.errors import QCError
from mlflow_qc.logs import configure as configure_logging
from mlflow_qc.progress import QUIET_ENV


@click.group()
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("-v", "--verbose", count=True, help="Log what it does: -v INFO, -vv DEBUG (each model), on stderr.")
@click.version_option(package_name="mlflow-qc", prog_name="mlflow-qc")
def cli(quiet: bool, verbose: int) -> None:
    """Seeded, leak-free, cross-validated experiments on MLflow and DVC."""
    if quiet:
        os.environ[QUIET_ENV] = "1"
    configure_logging(verbose)


def _recipe(path: str, overrides: str):
    """The recipe, its overrides and the columns it names, checked before anything heavy is imported."""
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.recipe_columns import check_columns

    check_columns(load_recipe(path, overrides or None, classes=False))
    return load_recipe(path, overrides or None)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overrides", default="", help='e.g. "trainer.repeat_count=1;seed=7"')
@click.option("--export", type=click.BOOL, default=False, help="Also log the preprocessed arrays.")
def prepare(recipe: str, overrides: str, export: bool) -> None:
    """Version the datasets, split, fit preprocessing per fold and cache the arrays; no training."""
    checked = _recipe(recipe, overrides)
    from mlflow_qc.run.prepare_run import run_prepare

    run_id = run_prepare(checked, export=export)
    click.echo(f"prepared: run {run_id}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--overrides", default="", help='e.g. "trainer.repeat_count=1;seed=7"')
def train(recipe: str, overrides: str) -> None:
    """Train every job of RECIPE into MLflow (resumes an earlier run of the same recipe)."""
    checked = _recipe(recipe, overrides)
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.run.experiment_run import NothingSucceeded, failure_summary

    try:
        result = Experiment.from_recipe(checked).run()
    except NothingSucceeded as exc:
        click.echo(f"error: nothing succeeded. {exc}", err=True)
        sys.exit(1)
    if result.history:
        click.echo(result.history)
    from mlflow_qc.evaluate.closing import closing_summary

    click.echo(f"experiment run {result.run_id}: {result.finished} model(s) finished ({result.reused} reused)")
    try:
        click.echo(closing_summary(result.run_id))
    except Exception as exc:  # the training is recorded: a summary that cannot be read back is no failure of it
        logging.getLogger(__name__).warning("no closing summary: %s", exc)
    if result.failures:
        click.echo(failure_summary(result), err=True)


@cli.command()
@click.argument("model_uri")
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.argument("output_path", metavar="OUTPUT", type=click.Path(dir_okay=False))
@click.option("--target", default="", help="Target column (or a file of it): also score and log an inference run.")
def predict(model_uri: str, input_path: str, output_path: str, target: str) -> None:
    """Batch inference: raw rows from INPUT (CSV/TSV/Parquet; N-D models: .npy/.npz, an image folder or manifest) -> decoded answers in OUTPUT."""
    from mlflow_qc.serve.inference import predict_file

    result = predict_file(model_uri, input_path, output_path, target or None)
    click.echo(result.summary())


@cli.command()
@click.argument("run_id")
@click.option("--metric", default="", help="Ranks jobs by the mean over their models (default: the recipe's).")
@click.option("--model-name", default="", help="Registered model name (default: the recipe's).")
@click.option("--alias", default="", help="Alias for the new version (default: the recipe's, else champion).")
@click.option(
    "--gate",
    default="",
    help="Move the alias only when the new model beats its holder at this p-value "
    "(default: the recipe's register.gate; none: always move).",
)
def register(run_id: str, metric: str, model_name: str, alias: str, gate: str) -> None:
    """Register the best model of the experiment run RUN_ID and set its alias."""
    from mlflow_qc.serve.registry import register_best

    version = register_best(run_id, metric or None, model_name or None, alias or None, _p_value(gate, "gate"))
    click.echo(
        f"registered {version.name} version {version.version} as @{', @'.join(version.aliases)} ({version.source})"
    )
    click.echo(version.description)


def _p_value(text: str, where: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise QCError(where, f"'{text}'; expected a p-value between 0 and 1, such as 0.05") from None


@cli.command()
@click.argument("run_id")
def finalize(run_id: str) -> None:
    """Evaluate the chosen job of the experiment run RUN_ID (trained with hide_test) on the sealed test split, once."""
    from mlflow_qc.evaluate.finalize import finalize as reveal

    click.echo(reveal(run_id).summary())


@cli.command()
@click.argument("run_id")
@click.option("--permute-count", type=int, default=3, show_default=True)
def importance(run_id: str, permute_count: int) -> None:
    """Permutation feature importance after the fact for RUN_ID (a model, job or experiment run)."""
    from mlflow_qc.evaluate.importance_after import importance_after_the_fact

    for model_run_id in importance_after_the_fact(run_id, permute_count):
        click.echo(model_run_id)


@cli.command()
@click.argument("run_id", required=False, default="")
@click.option("--run-ids", default="", help="Comma-separated job runs to compare instead of an experiment run.")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "latex", "html"]), default="markdown", show_default=True
)
@click.option(
    "--test",
    "test",
    type=click.Choice(["t", "bayesian"]),
    default="t",
    show_default=True,
    help="t: corrected resampled t-test; bayesian: Bayesian correlated t-test with a --rope.",
)
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh"]),
    default="holm",
    show_default=True,
    help="How the t-tests' p-values are adjusted for testing many pairs (bh: Benjamini-Hochberg).",
)
@click.option(
    "--rope",
    type=click.FloatRange(min=0),
    default=0.01,
    show_default=True,
    help="The Bayesian test's region of practical equivalence, in the metric's units.",
)
def compare(run_id: str, run_ids: str, fmt: str, test: str, correction: str, rope: float) -> None:
    """Head-to-head report of the jobs of RUN_ID with significance tests."""
    from mlflow_qc.evaluate.compare import compare_command
    from mlflow_qc.evaluate.comparison import Options

    options = Options(test=test, correction=correction, rope=rope)
    click.echo(compare_command(run_id or None, [r for r in run_ids.split(",") if r] or None, fmt, options))


@cli.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; anything but loopback shows every run to whoever reaches the port.",
)
@click.option(
    "--backend-store-uri", default="", help="The store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."
)
@click.option(
    "--workers", type=int, default=1, show_default=True, help="Server processes (each loads its own what-if models)."
)
def ui(port: int, host: str, backend_store_uri: str, workers: int) -> None:
    """The MLflow UI with the QC pages at /qc/: mlflow server --app-name qc over the project's store."""
    from mlflow_qc.ui.launch import check_port_free, is_loopback, server_command

    command = server_command(host, port, backend_store_uri or None, workers)
    check_port_free(host, port)
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: the MLflow UI and the QC pages have no login; anyone who reaches "
            f"port {port} reads every run",
            err=True,
        )
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"QC pages at http://{shown_host}:{port}/qc/ (MLflow UI at /), store {command[command.index('--backend-store-uri') + 1]}"
    )
    sys.stdout.flush()
    os.execv(command[0], command)


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
    from mlflow_qc.data.context import find_dvc_root
    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.data.versioning import add_path

    for path in write_demo_data(folder):
        if version and find_dvc_root(str(path)):
            add_path(str(path))
        click.echo(str(path))


@cli.group()
def cache() -> None:
    """The prepared arrays on disk (MLFLOW_QC_CACHE, default ~/.cache/mlflow_qc)."""


@cache.command("info")
def cache_info() -> None:
    """Where the prepared arrays are and how much room they take."""
    from mlflow_qc.cache import cache_root, usage

    entries, size = usage()
    click.echo(f"{cache_root()}: {entries} prepared entr{'y' if entries == 1 else 'ies'}, {size / 2**20:.1f} MiB")


@cache.command("clear")
def cache_clear() -> None:
    """Delete the prepared arrays (not while a command runs); trainings prepare what they need again."""
    from mlflow_qc.cache import cache_root, clear

    entries, size = clear()
    click.echo(
        f"{cache_root()}: removed {entries} prepared entr{'y' if entries == 1 else 'ies'}, {size / 2**20:.1f} MiB"
    )


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False))
def init(folder: str) -> None:
    """Scaffold a new project in FOLDER: MLproject, demo recipe and model, git + DVC with demo data."""
    from mlflow_qc.scaffold import init_project

    root = init_project(folder)
    click.echo(f"created {root}; next: cd {root} && mlflow run . --env-manager local --experiment-name demo")


def main(argv: list[str] | None = None) -> None:
    from mlflow_qc.run.faults import MAX_RETRIES_ENV, fault_of
    from mlflow_qc.run.interrupts import Interrupted, raise_on_sigterm  # light: MLflow loads only when needed

    raise_on_sigterm()
    try:
        cli.main(args=argv, standalone_mode=False)
    except QCError as exc:
        click.echo(f"error: {exc}", err=True)  # at once: ending the launcher's run below loads MLflow
        sys.stderr.flush()
        end_launched_run_on_error(exc)
        sys.exit(2)
    except click.ClickException as exc:  # a usage error (unknown command or option): click's own message
        exc.show()
        sys.exit(exc.exit_code)
    except (
        click.Abort,
        KeyboardInterrupt,
        Interrupted,
    ) as exc:  # before Exception: click turns Ctrl-C into Abort, an Exception
        end_launched_run_on_error(
            exc.__cause__ or exc if isinstance(exc, click.Abort) else exc
        )  # KILLED, as for Ctrl-C
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        import mlflow

        fault = fault_of(exc, mlflow.get_tracking_uri())
        if fault is None:
            raise
        os.environ[MAX_RETRIES_ENV] = "0"  # MLflow's exit handler ends the run: one try, no long wait
        end_launched_run_on_error(exc)
        click.echo(f"error: {fault}", err=True)
        sys.exit(1)


def end_launched_run_on_error(exc: BaseException) -> None:
    """The run ``mlflow run`` created (MLFLOW_RUN_ID) ended FAILED or KILLED; MLflow is imported only then."""
    if os.environ.get("MLFLOW_RUN_ID"):
        from mlflow_qc.run.session import end_launched_run_on_error as end

        end(exc)


def console_main() -> None:
    """The ``mlflow-qc`` command: ``main``, then an exit that skips tearing the interpreter down once
    the exit handlers have run and the output is flushed. Freeing the objects of mlflow, scikit-learn,
    pyarrow and the rest one by one took about a second of every training, after its last write. A
    normal exit while another non-daemon thread still runs, or where the exit handlers cannot be run first."""
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's, what a normal exit calls
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others or run_exit_handlers is None or not isinstance(code, (int, type(None))):
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    console_main()
