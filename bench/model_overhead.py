"""Per-model tracking overhead, in-process: what a model costs beyond fitting and scoring it.

The overhead benchmark's workload (bench/train_overhead.py: 20,000 x 32, LogisticRegression
over C, 5 folds x 2 repeats) trained in-process, unversioned, into fresh experiments of one
store. A first training of 10 models pays the imports, the prepared cache and the pyfunc
scaffold; the measured ones train ``--combos`` x 10 models each. Reported per model: CPU ms
of the whole training minus the CPU ms of what the bare loop does too (the adapter's fit,
predict and loss, the split metrics), medians over ``--repeats``. CPU time, not wall: on a
shared machine it moves less with the load.

    python bench/model_overhead.py --combos 4 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import FOLDS, REPEATS, in_process_workspace, recipe  # noqa: E402


def train(root: Path, combos: int, inside: list[float]) -> tuple[float, float]:
    from mlflow_qc.experiment import Experiment

    spec = recipe(combos)
    spec["name"] = f"overhead-{uuid.uuid4().hex[:8]}"
    spec["data"]["version"] = "off"
    path = root / "recipes" / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    inside.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    Experiment.from_yaml(path).run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--combos", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = in_process_workspace(Path(tempfile.mkdtemp(prefix="qc-overhead-")))

    import mlflow_qc.models.scoring as scoring
    from mlflow_qc.models.sklearn_adapter import SklearnAdapter

    inside: list[float] = []

    def timed(function):
        def wrapper(*a, **k):
            started = time.process_time()
            try:
                return function(*a, **k)
            finally:
                inside.append(time.process_time() - started)

        return wrapper

    for name in ("fit", "predict", "loss"):
        setattr(SklearnAdapter, name, timed(getattr(SklearnAdapter, name)))
    scoring.classification_metrics = timed(scoring.classification_metrics)
    train(root, 1, inside)  # warm: imports, prepared cache, scaffold
    models = args.combos * FOLDS * REPEATS
    per_model, walls = [], []
    for _ in range(args.repeats):
        wall, cpu = train(root, args.combos, inside)
        assert len(inside) == models * 10, len(inside)  # fit, 3 x (predict, loss, metrics)
        per_model.append((cpu - sum(inside)) * 1000 / models)
        walls.append(wall)
        print(
            f"  {models} models: wall {wall:.1f} s, cpu {cpu:.1f} s, bare work {sum(inside):.1f} s, "
            f"overhead {per_model[-1]:.0f} ms/model",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"overhead per model (CPU, median of {args.repeats}): {statistics.median(per_model):.0f} ms; "
        f"wall median {statistics.median(walls):.1f} s for {models} models"
    )


if __name__ == "__main__":
    main()
