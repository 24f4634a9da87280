"""Training on a Dask LocalCluster of 1 and 2 workers against ``local`` with ``n_jobs: 2`` (issue 12).

Workload: bench/train_overhead.py's (20,000 rows x 32 columns, LogisticRegression over C,
5 folds x 2 repeats) at 4 and 40 values of C (40 and 400 models). Each variant is one
``mlflow run . --env-manager local`` into a fresh experiment, a fresh process with an empty
prepared-array cache, timed from outside; the tracking store is the same sqlite file for all
(a local cluster may share it, as ``local`` processes do).

    python bench/dask_scaling.py --combos 4 40

Models per second is the marginal rate between the two sizes ((400 - 40) models over the
difference in wall time), so the fixed cost (launcher, imports, preparation, starting the
cluster) does not count; the fixed cost is reported beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_overhead import FOLDS, REPEATS, measure, model_count, setup_workspace, variant_qc  # noqa: E402

VARIANTS = {
    "dask, 1 worker": "trainer.backend=dask;trainer.n_jobs=1",
    "dask, 2 workers": "trainer.backend=dask;trainer.n_jobs=2",
    "local, n_jobs 2": "trainer.backend=local;trainer.n_jobs=2",
}


def run_size(combos: int) -> dict[str, tuple[float, float]]:
    """Wall seconds and peak MiB of every variant at one grid size."""
    root = Path(tempfile.mkdtemp(prefix="qc-dask-bench-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_QC_QUIET": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    os.environ.update(env)
    setup_workspace(root, combos)
    results = {}
    for attempt, (name, overrides) in enumerate(VARIANTS.items()):
        env["MLFLOW_QC_CACHE"] = str(root / f"cache-{attempt}")
        command = variant_qc(root, f"dask-bench-{attempt}") + ["-P", f"overrides={overrides}"]
        results[name] = measure(command, root, env)
        print(f"  {combos * FOLDS * REPEATS} models, {name}: {results[name][0]:.1f} s", file=sys.stderr, flush=True)
    assert model_count(root) == combos * FOLDS * REPEATS * len(VARIANTS), "a variant did not finish every model"
    shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--combos", type=int, nargs=2, default=[4, 40], help="C values of the small and large grid (x10 models)"
    )
    args = parser.parse_args()
    small, large = (combos * FOLDS * REPEATS for combos in args.combos)
    walls = {combos: run_size(combos) for combos in args.combos}
    rates = {}
    print(f"| variant | {small} models s | {large} models s | peak MiB | models/s (marginal) | fixed cost s |")
    print("|---|---|---|---|---|---|")
    for name in VARIANTS:
        (wall_s, _), (wall_l, mib) = walls[args.combos[0]][name], walls[args.combos[1]][name]
        rates[name] = (large - small) / (wall_l - wall_s)
        fixed = wall_s - small / rates[name]
        print(f"| {name} | {wall_s:.1f} | {wall_l:.1f} | {mib:.0f} | {rates[name]:.2f} | {fixed:.1f} |")
    speedup = rates["dask, 2 workers"] / rates["dask, 1 worker"]
    overhead = (1 / rates["dask, 2 workers"] - 1 / rates["local, n_jobs 2"]) * 1000
    print(
        f"\nspeed-up 2 workers / 1 worker: {speedup:.2f}x; per-model overhead of the cluster over local "
        f"n_jobs 2: {overhead:.0f} ms (wall per model at 2-way parallelism)"
    )


if __name__ == "__main__":
    main()
