"""What the quality guards cost: the baseline job, the threshold choice, finalize and the gate.

Workload: issue 3's (synthetic classification, 20,000 rows x 30 numeric + 2 categorical columns;
StandardScaler + OneHotEncoder; LogisticRegression; 5 folds x 2 repeats), 4 values of C = 40
models, trained in this process into a fresh sqlite store (the prepared arrays cached beforehand), once plain and once with
``hide_test``, ``baseline`` (10 more models) and ``threshold: youden``. Then ``finalize`` (the best
job's 10 models and the baseline's 10 on the 4,000 test rows), a gated registration against a
holder with the same splits (corrected t-test) and one against a holder with other splits (both
served models on the candidate's validation split: 4,000 rows, 999 paired permutations).

    python bench/guards.py            # prints the Markdown for bench/RESULTS.md
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from train_overhead import in_process_workspace  # noqa: E402
from train_overhead import recipe as overhead_recipe

COMBOS = 4


def recipe(name: str, guards: bool, seed: int | None = None) -> dict:
    spec = overhead_recipe(COMBOS)
    spec["name"] = name
    spec["data"]["version"] = "off"
    if seed is not None:
        spec["seed"] = seed
    if guards:
        spec["trainer"].update(hide_test=True, baseline=True, threshold="youden")
    return spec


def train(root: Path, spec: dict) -> tuple[str, float]:
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.recipe import load_recipe

    path = root / "recipes" / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    started = time.perf_counter()
    result = Experiment.from_recipe(load_recipe(str(path))).run()
    return result.run_id, time.perf_counter() - started


def timed(call) -> tuple[object, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def main() -> None:
    from mlflow_qc.evaluate.finalize import finalize
    from mlflow_qc.serve.registry import register_best

    with tempfile.TemporaryDirectory() as tmp:
        root = in_process_workspace(Path(tmp, "project"))
        from mlflow_qc.prepare import prepare
        from mlflow_qc.recipe import recipe_from_dict

        for seed in (None, 7):  # both trainings below find their prepared arrays in the cache
            prepare(recipe_from_dict(recipe("warm", guards=False, seed=seed), base_dir=str(root / "recipes")))
        _, plain = train(root, recipe("plain", guards=False))
        guarded_run, guarded = train(root, recipe("guarded", guards=True))
        revealed, finalize_seconds = timed(lambda: finalize(guarded_run))
        other_run, _ = train(root, recipe("other-splits", guards=False, seed=7))
        _, first = timed(lambda: register_best(guarded_run, None, "bench", None, 0.05))  # no holder: nothing to compare
        plain_run = train(root, recipe("plain-again", guards=False))[0]
        _, shared = timed(lambda: register_best(plain_run, None, "bench", None, 0.05))
        _, fresh = timed(lambda: register_best(other_run, None, "bench", None, 0.05))
    print("| step | wall s |")
    print("|---|---|")
    print(f"| train, 40 models, no guards | {plain:.1f} |")
    print(f"| train, 40 models + 10 baseline, hide_test, threshold youden | {guarded:.1f} |")
    print(f"| finalize: {revealed.models} models on the test split, reports rebuilt | {finalize_seconds:.1f} |")
    print(f"| register, gated, no holder yet | {first:.1f} |")
    print(f"| register, gated, holder with the same splits (corrected t-test) | {shared:.1f} |")
    print(f"| register, gated, holder with other splits (fresh evaluation, 999 permutations) | {fresh:.1f} |")


if __name__ == "__main__":
    main()
