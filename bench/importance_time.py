"""Permutation importance against the model's own fit time on the demo recipe (issue 28).

In-process, on the demo recipe (recipes/demo.yaml: Keras sonar, permute_count 3): the data is
prepared once (DVC off), then for each of the first ``--models`` (fold, hyperparameters) pairs a
model is fitted and its importance computed twice, with the permuted copies predicted one call
each (the per-copy path) and stacked into batches (the path training uses); both tables must agree.

    python bench/importance_time.py --models 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_QC_QUIET", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()

    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.evaluate.importance_run import model_importance
    from mlflow_qc.models import adapter_for
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.search import combinations
    from mlflow_qc.tracking.names import evaluation_split

    root = Path(tempfile.mkdtemp(prefix="qc-importance-"))
    os.environ["MLFLOW_QC_CACHE"] = str(root / "cache")
    (root / "recipes").mkdir()
    write_demo_data(root / "data")
    shutil.copytree(REPO / "models", root / "models")
    (root / "recipes" / "demo.yaml").write_text(
        (REPO / "recipes" / "demo.yaml").read_text().replace("version: auto", "version: off")
    )
    recipe = load_recipe(str(root / "recipes" / "demo.yaml"))
    entry = prepare(recipe).entry
    combos = list(combinations(recipe.model, recipe.search, recipe.seed))
    pairs = [(context, hp) for hp in combos for context in entry.contexts][: args.models]
    for index, (context, hp) in enumerate(pairs):
        adapter = adapter_for(recipe.model, n_classes=len(entry.meta["classes"]))
        splits = {name: entry.load(context, name) for name in entry.split_names(context)}
        started = time.perf_counter()
        trained = adapter.fit(splits["train"], splits.get(evaluation_split(splits)), dict(hp), recipe.seed + index)
        fit = time.perf_counter() - started
        timings, tables = {}, {}
        for path, batch_bytes in (("per-copy", 1), ("batched", None)):
            started = time.perf_counter()
            tables[path] = model_importance(
                adapter,
                trained.model,
                entry,
                context,
                hp,
                recipe.trainer.permute_count,
                recipe.seed,
                batch_bytes=batch_bytes,
            )
            timings[path] = time.perf_counter() - started
        keyed = {path: table.set_index(["level", "input", "column"]).sort_index() for path, table in tables.items()}
        pd.testing.assert_frame_equal(keyed["per-copy"], keyed["batched"], rtol=1e-5, atol=1e-6)  # float32 outputs
        print(
            f"model {index} ({context}, {hp}): fit {fit:.2f} s; importance per-copy {timings['per-copy']:.2f} s "
            f"({timings['per-copy'] / fit:.2f}x fit), batched {timings['batched']:.2f} s ({timings['batched'] / fit:.2f}x fit); "
            f"{len(tables['batched'])} rows, max |difference| "
            f"{np.max(np.abs(keyed['per-copy']['median'] - keyed['batched']['median'])):.2e}",
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
