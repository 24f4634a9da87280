"""What any ``mlflow run`` costs on this MLflow before a project does anything: the floor under the fixed
cost of a run through ``mlflow run`` (issue 25's target: <= 5 s above the bare loop).

Each command runs ``--attempts`` times in turn, in a fresh folder with a sqlite store MLflow has already
created (as bench/train_overhead.py prepares one), nothing else running; the medians are printed:

- ``python -c pass``: the interpreter;
- the bare loop's imports (pandas, scikit-learn, pyarrow: what bench/train_overhead.py's bare variant imports
  before its first fit);
- ``import mlflow``;
- ``mlflow --version``: MLflow's command line, which ``mlflow run`` starts with;
- ``mlflow run`` of a one-line project (``--env-manager local``) whose entry point logs one metric through
  ``mlflow``'s public API into the run the launcher made: the least a project run does.

The last minus the bare loop's imports is the fixed cost every ``mlflow run`` has on this MLflow, whatever
the project; mlflow-qc's own fixed cost comes on top of it.

    python bench/mlflow_run_floor.py --attempts 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLPROJECT = """name: floor
entry_points:
  main:
    command: "python -c \\"import mlflow; mlflow.log_metric('one', 1.0)\\""
"""
BARE_IMPORTS = "import numpy, pandas, pyarrow.parquet, sklearn.linear_model, sklearn.model_selection, sklearn.metrics"


def commands(root: Path) -> dict[str, list[str]]:
    mlflow = shutil.which("mlflow")
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "the bare loop's imports": [sys.executable, "-c", BARE_IMPORTS],
        "import mlflow": [sys.executable, "-c", "import mlflow"],
        "mlflow --version": [mlflow, "--version"],
        "mlflow run (one metric)": [
            mlflow,
            "run",
            str(root / "project"),
            "--env-manager",
            "local",
            "--experiment-name",
            "floor",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="qc-floor-"))
    (root / "project").mkdir()
    (root / "project" / "MLproject").write_text(MLPROJECT)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    env.pop("MLFLOW_RUN_ID", None)
    subprocess.run(
        [sys.executable, "-c", "import mlflow; mlflow.MlflowClient().search_experiments()"], env=env, check=True
    )
    seconds: dict[str, list[float]] = {name: [] for name in commands(root)}
    for _ in range(args.attempts):
        for name, command in commands(root).items():
            started = time.perf_counter()
            subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - started)
    shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print("| command | median s | attempts s |")
    print("|---|---:|---|")
    for name, values in seconds.items():
        print(f"| {name} | {medians[name]:.2f} | {' / '.join(f'{v:.2f}' for v in values)} |")
    floor = medians["mlflow run (one metric)"] - medians["the bare loop's imports"]
    print(f"\nany mlflow run above the bare loop's start: {floor:.2f} s (median)")


if __name__ == "__main__":
    main()
