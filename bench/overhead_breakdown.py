"""Where a model's time goes, in-process: wall ms per model spent in each step of the training.

The overhead benchmark's workload (bench/train_overhead.py: 20,000 x 32, LogisticRegression over C,
5 folds x 2 repeats), unversioned, after a warm-up training of 10 models. Each step below is timed
where it is called (nested steps are inside their callers' figures); the bare loop's work is the
adapter's fit and predict and the split metrics.

    python bench/overhead_breakdown.py --combos 4
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_overhead import in_process_workspace, recipe  # noqa: E402

spent: collections.Counter = collections.Counter()


def timed(owner, name: str, label: str) -> None:
    function = getattr(owner, name)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def instrument() -> None:
    import mlflow_qc.evaluate.job_report as job_report
    import mlflow_qc.evaluate.observers as evaluation_observers
    import mlflow_qc.evaluate.report as report
    import mlflow_qc.run.experiment_run as experiment_run
    import mlflow_qc.run.fit_model as fit_model
    import mlflow_qc.run.jobs as jobs
    import mlflow_qc.run.model_run as model_run
    import mlflow_qc.run.worker as worker
    import mlflow_qc.serve.packaging as packaging
    from mlflow_qc.models.sklearn_adapter import SklearnAdapter

    steps = [
        (SklearnAdapter, "fit", "bare work: fit"),
        (SklearnAdapter, "predict", "bare work: predict"),
        (fit_model, "split_metrics", "bare work: split metrics (and loss)"),
        (worker, "_train_model", "a model, in all"),
        (worker, "log_model_run", "model: its files (pyfunc, predictions, observers)"),
        (fit_model.FittedModel, "write_predictions", "model: predictions parquet"),
        (packaging, "save_qc_model", "model: pyfunc folder"),
        (model_run.SqlModelRun, "__init__", "model: run created (one transaction)"),
        (model_run.SqlModelRun, "end", "model: run ended with its data (one transaction)"),
        (experiment_run.Training, "_open_parent", "parents: fold/job runs created or reopened"),
        (experiment_run.Training, "report_progress", "progress for the QC pages"),
        (jobs.JobBook, "close", "job closed, in all"),
        (jobs, "finish_runs", "job: fold and job runs closed (store)"),
        (job_report, "log_job_report", "job: report"),
        (job_report, "collect", "job report: predictions read back"),
        (job_report, "curves_figures", "job report: ROC and PR figures"),
        (job_report, "confusion_figures", "job report: confusion figures"),
        (job_report, "calibration_figures", "job report: calibration figures"),
        (job_report, "confidence_figure", "job report: confidence figure"),
        (job_report, "per_class_summary", "job report: per-class summary"),
        (job_report, "metrics_summary", "job report: metrics summary"),
        (job_report, "add_gallery", "job report: gallery"),
        (report, "figure_dict", "job report: plotly JSON of each figure"),
        (report.Report, "log", "job report: page and JSON written and logged"),
        (experiment_run.Training, "run_baseline", "experiment: the baseline job"),
        (experiment_run.Training, "summarise", "experiment: summary tables and best job"),
        (evaluation_observers.BaselineVerdict, "experiment_closed", "experiment: baseline verdicts"),
        (evaluation_observers.ExperimentReport, "experiment_closed", "experiment: its report"),
    ]
    for owner, name, label in steps:
        timed(owner, name, label)


def train(root: Path, combos: int) -> float:
    from mlflow_qc.experiment import Experiment

    spec = recipe(combos)
    spec["name"] = f"breakdown-{uuid.uuid4().hex[:8]}"
    spec["data"]["version"] = "off"
    path = root / "recipes" / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    started = time.perf_counter()
    Experiment.from_yaml(path).run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--combos", type=int, default=4)
    args = parser.parse_args()
    root = in_process_workspace(Path(tempfile.mkdtemp(prefix="qc-breakdown-")))
    instrument()
    train(root, 1)  # warm: imports, prepared cache, scaffold
    spent.clear()
    models = args.combos * 10
    wall = train(root, args.combos)
    print(f"{models} models in {wall:.2f} s: {wall * 1000 / models:.0f} ms per model (wall)")
    bare = sum(v for k, v in spent.items() if k.startswith("bare work"))
    print(
        f"bare work {bare * 1000 / models:.0f} ms per model; the rest {(wall - bare) * 1000 / models:.0f} ms "
        "(fixed costs of the experiment included)"
    )
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{seconds * 1000 / models:7.1f} ms  {label}")


if __name__ == "__main__":
    main()
