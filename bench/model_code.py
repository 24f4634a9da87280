"""What it costs a qc model to carry its own inference code (issue 16): size, log time, fresh-process load.

Workload: bench/serving.py's (synthetic binary classification, 20,000 rows x 32 columns, StandardScaler
+ OneHotEncoder, LogisticRegression; one model trained from a recipe into a sqlite store). Measured:
the model folder on disk (and its ``code/``), "log one model" (``save_qc_model`` + ``log_artifacts``
into a new run, median of --log-count after a warm-up), building the code bundle once per process,
and loading the registered folder + predicting 100 rows in a fresh Python process (median of
--load-count; interpreter start and imports included). Where the checkout has the bundle it also logs
the model taking turns with the same scaffold minus ``code/`` (the marginal cost, free of the machine's noise).

    python bench/model_code.py           # prints one Markdown row
To measure an older checkout, copy this file into its bench/ folder and run it there.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.serving import interleaved_medians, serving_workspace, train_qc  # noqa: E402

LOAD = """
import sys, time
started = time.perf_counter()
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
model.predict(pd.read_parquet(sys.argv[2]))
print(time.perf_counter() - started)
"""


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def bundle_build_ms() -> float | None:
    """Building the loader + zip once per process (None where the checkout has no bundle)."""
    try:
        from mlflow_qc.serve.bundle import code_paths
    except ImportError:
        return None
    code_paths.cache_clear()
    started = time.perf_counter()
    code_paths()
    return 1000 * (time.perf_counter() - started)


def without_code(log_once):
    """``log_once`` on the same scaffold minus ``code/`` (None where the checkout has no bundle): in one process,
    taking turns with ``log_once``, the two give the marginal cost of carrying the code without the machine's noise."""
    try:
        from mlflow_qc.serve import save
    except ImportError:
        return None
    scaffold = save._scaffold

    def stripped(*args):
        bare = scaffold(*args).parent / "model-without-code"
        if not bare.exists():
            shutil.copytree(scaffold(*args), bare)
            shutil.rmtree(bare / "code")
        return bare

    def log_without_code() -> None:
        save._scaffold = stripped
        try:
            log_once()
        finally:
            save._scaffold = scaffold

    return log_without_code


def fresh_load_seconds(folder: Path, rows: Path, count: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's code, also where another one is installed
    seconds = [
        float(
            subprocess.run(
                [sys.executable, "-c", LOAD, str(folder), str(rows)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
        )
        for _ in range(count)
    ]
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-count", type=int, default=25)
    parser.add_argument("--load-count", type=int, default=5)
    args = parser.parse_args()
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        root, table = serving_workspace(Path(tmp))
        table.drop(columns="label").head(100).to_parquet(root / "rows.parquet", index=False)
        uri, log_once = train_qc(root)
        folder = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(root / "model")))
        log_ms = 1000 * interleaved_medians({"qc": log_once}, args.log_count)["qc"]
        bare = without_code(log_once)
        ab = None if bare is None else interleaved_medians({"with": log_once, "without": bare}, args.log_count)
        build_ms = bundle_build_ms()
        load_s = fresh_load_seconds(folder, root / "rows.parquet", args.load_count)
        total_kib = folder_bytes(folder) / 1024
        code = folder / "code"
        code_kib = folder_bytes(code) / 1024 if code.is_dir() else 0.0
        files = sum(1 for path in folder.rglob("*") if path.is_file())
        os.chdir(REPO)
    build = "n/a" if build_ms is None else f"{build_ms:.0f}"
    print(
        "| model on disk (KiB) | of which code/ (KiB) | files | log one model (median ms) | code bundle, once per process (ms) | load + predict in a fresh process (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {total_kib:.1f} | {code_kib:.1f} | {files} | {log_ms:.1f} | {build} | {load_s:.2f} |")
    if ab is not None:
        print(
            f"\nA/B in one process, taking turns ({args.log_count} each): log one model with code/ {1000 * ab['with']:.1f} ms, "
            f"the same scaffold without code/ {1000 * ab['without']:.1f} ms"
        )


if __name__ == "__main__":
    main()
