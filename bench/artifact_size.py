"""Evaluation cost and artifact sizes: per model (importance), per job (report), per experiment.

Workload: issue 3's (synthetic classification, 20,000 rows x 30 numeric + 2 categorical
columns; StandardScaler + OneHotEncoder; LogisticRegression over C; 5 folds x 2 repeats;
4 combinations = 40 models), trained once with ``permute_count: 0`` and once with 3. The
evaluation hooks are timed from inside the training process; artifact sizes are read from
the local artifact store. The experiment report is also built for 40 jobs x 10 models
(400 models) from synthetic metrics, without training them.

    python bench/artifact_size.py            # prints the Markdown for bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from train_overhead import FOLDS, SEED, in_process_workspace  # noqa: E402
from train_overhead import recipe as overhead_recipe


def recipe(permute_count: int) -> dict:
    """The overhead benchmark's recipe (4 combinations), unversioned, with importance on or off."""
    spec = overhead_recipe(4)
    spec["name"] = f"bench-permute-{permute_count}"
    spec["data"]["version"] = "off"
    spec["trainer"]["permute_count"] = permute_count
    return spec


def timed_hooks() -> dict[str, list[float]]:
    """Wrap the evaluation observers' methods with timers (looked up on their classes at call time)."""
    from mlflow_qc.evaluate.observers import ExperimentReport, Importance, JobReport

    timings: dict[str, list[float]] = {}
    hooks = {
        "model_artifacts": (Importance, "model_finished"),
        "job_artifacts": (JobReport, "job_closed"),
        "experiment_artifacts": (ExperimentReport, "experiment_closed"),
    }
    for name, (owner, method) in hooks.items():
        original = getattr(owner, method)

        def timer(*args, _original=original, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                timings.setdefault(_name, []).append(time.perf_counter() - started)

        setattr(owner, method, timer)
    return timings


def sizes(root: Path, run_ids: list[str], path: str) -> list[int]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    out = []
    for run_id in run_ids:
        local = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://")) / path
        if local.exists():
            out.append(local.stat().st_size)
    return out


def train(root: Path, permute_count: int, timings: dict) -> dict:
    from mlflow.tracking import MlflowClient

    from mlflow_qc.experiment import Experiment
    from mlflow_qc.recipe import load_recipe

    path = root / "recipes" / f"bench-{permute_count}.yaml"
    path.write_text(yaml.safe_dump(recipe(permute_count)))
    timings.clear()
    started = time.perf_counter()
    result = Experiment.from_recipe(load_recipe(str(path))).run()
    wall = time.perf_counter() - started
    client = MlflowClient()
    runs = client.search_runs([result.experiment_id], max_results=1000)
    level = lambda name: [r.info.run_id for r in runs if r.data.tags.get("qc.level") == name]  # noqa: E731
    return {
        "permute_count": permute_count,
        "wall": wall,
        "models": result.finished,
        "timings": dict(timings),
        "job_html": sizes(root, level("job"), "qc/report.html"),
        "job_json": sizes(root, level("job"), "qc/report.json"),
        "predictions": sizes(root, level("model"), "qc/predictions.parquet"),
        "importance": sizes(root, level("model"), "qc/importance.csv"),
        "experiment_html": sizes(root, [result.run_id], "qc/report.html"),
        "experiment_json": sizes(root, [result.run_id], "qc/report.json"),
    }


def synthetic_experiment_report(jobs: int = 40, models_per_job: int = 10) -> dict:
    """Boomerang, leaderboard and head-to-head for 400 models, from random metrics."""
    from mlflow_qc.evaluate.comparison import compare_models
    from mlflow_qc.evaluate.figures_experiment import boomerang_figure, leaderboard, leaderboard_figure
    from mlflow_qc.evaluate.report import Report

    rng = np.random.default_rng(SEED)
    rows = []
    for job in range(jobs):
        for model in range(models_per_job):
            row = {
                "job": f"job {job}",
                "model": f"model {job}/{model}",
                "run_id": f"{job}-{model}",
                "hyperparameters": f"C={job}",
                "fold_index": model % FOLDS,
                "repeat_index": model // FOLDS,
            }
            for split in ("train", "fold_validation", "test"):
                row.update(
                    {
                        f"{split}_{m}": rng.uniform(0.6, 0.95)
                        for m in ("accuracy", "f1", "precision", "recall", "roc_auc")
                    }
                )
                row[f"{split}_loss"] = rng.uniform(0.2, 0.7)
            rows.append(row)
    models = pd.DataFrame(rows)
    started = time.perf_counter()
    report = Report("synthetic")
    report.section("Models by split").figures.append(boomerang_figure(models, "classification_binary"))
    board = leaderboard(models, "fold_validation_accuracy")
    report.section("Leaderboard").figures.append(leaderboard_figure(models, board, "fold_validation_accuracy"))
    comparison = compare_models(models, {"fold_validation": (12800.0, 3200.0)}, None, "fold_validation_accuracy")
    report.section("Head-to-head").html.append(comparison.render("html"))
    page, data = report.to_html(), report.to_json()
    return {"seconds": time.perf_counter() - started, "html": len(page.encode()), "json": len(data.encode())}


def kb(values: list[int]) -> str:
    return f"{statistics.mean(values) / 1024:,.0f} KiB" if values else "-"


def markdown(results: list[dict], synthetic: dict) -> str:
    lines = [
        "| permute_count | models | training wall | importance per model | report per job (10 models) | experiment report | evaluation share of the wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r["timings"]
        per_model = f"{statistics.mean(t['model_artifacts']) * 1000:.0f} ms" if r["permute_count"] else "0 (off)"
        share = sum(sum(values) for values in t.values()) / r["wall"]
        lines.append(
            f"| {r['permute_count']} | {r['models']} | {r['wall']:.1f} s | {per_model} | "
            f"{statistics.mean(t['job_artifacts']):.2f} s (max {max(t['job_artifacts']):.2f}) | "
            f"{statistics.mean(t['experiment_artifacts']):.2f} s | {share:.0%} |"
        )
    lines += [
        "",
        "| artifact | size |",
        "|---|---|",
    ]
    last = results[-1]
    lines += [
        f"| job `qc/report.html` (plotly.js gzip+base64 inside) | {kb(last['job_html'])} |",
        f"| job `qc/report.json` | {kb(last['job_json'])} |",
        f"| model `qc/predictions.parquet` (20,000 rows) | {kb(last['predictions'])} |",
        f"| model `qc/importance.csv` (permute_count 3) | {kb(last['importance'])} |",
        f"| experiment `qc/report.html` (40 models) | {kb(last['experiment_html'])} |",
        f"| experiment `qc/report.json` (40 models) | {kb(last['experiment_json'])} |",
        f"| experiment `qc/report.html`, 400 models (synthetic; built in {synthetic['seconds']:.2f} s) | {synthetic['html'] / 1024:,.0f} KiB |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permute-counts", default="0,3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = in_process_workspace(Path(tmp, "project"))
        timings = timed_hooks()
        results = [train(root, int(count), timings) for count in args.permute_counts.split(",")]
        synthetic = synthetic_experiment_report()
    print(markdown(results, synthetic))


if __name__ == "__main__":
    main()
