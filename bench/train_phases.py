"""Where a `mlflow-qc train` process spends its wall time outside the models: before the first model
starts and after the last one ends, from the run tree's timestamps against the process's.

The overhead benchmark's workload (bench/train_overhead.py), 40 models by default, each attempt into a
new experiment with an empty cache:

    python bench/train_phases.py --combos 4 --attempts 2
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import setup_workspace  # noqa: E402


def phases(root: Path) -> str:
    name = f"phases-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLFLOW_QC_CACHE": str(root / f"cache-{name}")}
    started = time.time()
    subprocess.run(
        ["mlflow-qc", "--quiet", "train", "recipes/bench.yaml", "--overrides", f"name={name}"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    ended = time.time()
    with sqlite3.connect(root / "mlflow.db") as db:
        rows = db.execute(
            "select r.start_time, r.end_time, t.value from runs r join tags t on t.run_uuid = r.run_uuid and t.key = 'qc.level' "
            "join experiments e on e.experiment_id = r.experiment_id where e.name = ?",
            (name,),
        ).fetchall()
    models = [(start / 1000, end / 1000) for start, end, level in rows if level == "model"]
    root_start, root_end = next((start / 1000, end / 1000) for start, end, level in rows if level == "experiment")
    first, last = min(start for start, _ in models), max(end for _, end in models)
    return (
        f"wall {ended - started:.2f} s: {root_start - started:.2f} to the experiment run, {first - started:.2f} to the "
        f"first model, {last - first:.2f} of models, {ended - last:.2f} after the last model (its run ended "
        f"{root_end - last:.2f} after it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--combos", type=int, default=4, help="C values (x10 models)")
    parser.add_argument("--attempts", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="qc-phases-"))
    os.environ.update(
        {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "MLFLOW_QC_QUIET": "1", "DVC_NO_ANALYTICS": "1"}
    )
    setup_workspace(root, args.combos)
    for _ in range(args.attempts):
        print(phases(root), flush=True)


if __name__ == "__main__":
    main()
