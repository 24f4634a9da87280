"""Issue 31: the time from ``mlflow-qc train`` of a recipe with one mistake to its error line.

The demo recipe (recipes/demo.yaml) beside the demo data, with a misspelt key (``hyperparameter``)
or a misspelt target column (``objec``), run as ``python -m mlflow_qc.cli train ...`` in a fresh
interpreter. With ``--base DIR`` (a copy of an earlier ``mlflow_qc`` package, e.g.
``git archive 83e9c59 mlflow_qc | tar -x -C DIR``) the same recipes run on that package too,
alternating with this one, so both see the same machine load. Prints the median and range of the
wall time and of the CPU time (user + system of the child) per package and case.

    python bench/time_to_error.py --runs 10 --base /tmp/ft_base
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "misspelt key": ("  hyperparameters:", "  hyperparameter:"),
    "misspelt column": ("  target:\n    column: object", "  target:\n    column: objec"),
}


def recipes(folder: Path) -> dict[str, Path]:
    sys.path.insert(0, str(REPO))
    from mlflow_qc.data.demo import write_demo_data

    write_demo_data(folder / "data")
    (folder / "recipes").mkdir()
    text = (REPO / "recipes" / "demo.yaml").read_text().replace("../models/", f"{REPO}/models/")
    found = {}
    for case, (old, new) in CASES.items():
        assert old in text, case
        found[case] = folder / "recipes" / f"{case.replace(' ', '_')}.yaml"
        found[case].write_text(text.replace(old, new))
    return found


def once(package: str | None, recipe: Path, cwd: Path) -> tuple[float, float, int]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    if package:
        env["PYTHONPATH"] = package
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_qc.cli", "train", str(recipe)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert "error:" in done.stderr, done.stderr[-2000:]
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--base", default=None, help="a folder holding an earlier mlflow_qc package")
    args = parser.parse_args()
    packages = {"this tree": str(REPO)} | ({"base": args.base} if args.base else {})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = recipes(folder)
        times: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        for _ in range(args.runs):
            for case, recipe in cases.items():
                for name, package in packages.items():
                    times.setdefault((name, case), []).append(once(package, recipe, folder))
    for (name, case), values in sorted(times.items()):
        walls, cpus, codes = zip(*values)
        print(
            f"{case:16s} {name:10s} exit {sorted(set(codes))}  wall median {statistics.median(walls):.2f} s "
            f"[{min(walls):.2f}-{max(walls):.2f}]  cpu median {statistics.median(cpus):.2f} s "
            f"[{min(cpus):.2f}-{max(cpus):.2f}]  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
