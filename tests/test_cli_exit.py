"""The ``mlflow-qc`` command's exit (``cli.console_main``): it skips the interpreter's teardown, but
not the exit handlers, the flushed output, the exit status or a thread still at work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

from tests.helpers import run_cli


def _console(tmp_path, body: str, *args: str) -> subprocess.CompletedProcess:
    """``console_main`` with ARGS in a fresh interpreter, after ``body`` ran there."""
    script = tmp_path / "console.py"
    script.write_text(
        textwrap.dedent(body)
        + textwrap.dedent(f"""
        import sys
        from mlflow_qc import cli
        sys.argv = ["mlflow-qc", *{list(args)!r}]
        cli.console_main()
    """)
    )
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)


def test_exit_handlers_run_and_piped_output_is_whole(tmp_path):
    marker = tmp_path / "handler-ran"
    result = _console(
        tmp_path,
        f"""
        import atexit, pathlib
        atexit.register(pathlib.Path({str(marker)!r}).write_text, "yes")
    """,
        "--help",
    )
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "yes"
    normal_exit = subprocess.run(
        [sys.executable, "-c", "from mlflow_qc.cli import cli; cli(['--help'], prog_name='mlflow-qc')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.startswith("Usage: mlflow-qc") and result.stdout == normal_exit.stdout  # all of it, flushed


def test_a_thread_still_working_is_waited_for(tmp_path):
    """The thread works until the main thread has finished, so it is still working when the command ends."""
    marker = tmp_path / "thread-done"
    result = _console(
        tmp_path,
        f"""
        import pathlib, threading
        main = threading.main_thread()
        threading.Thread(target=lambda: (main.join(), pathlib.Path({str(marker)!r}).write_text("done"))).start()
    """,
        "--help",
    )
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "done"


def test_exit_statuses_and_one_line_errors_through_the_installed_command(tmp_path):
    command = shutil.which("mlflow-qc")
    assert command is not None, "mlflow-qc is not installed (pip install -e '.[test]')"
    missing = subprocess.run(
        [command, "train", str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("error: recipe: file not found")
    unknown = run_cli("no-such-command")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip().splitlines()[-1] == "Error: No such command 'no-such-command'."
