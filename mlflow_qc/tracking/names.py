"""Every name mlflow_qc writes into MLflow (README: "The run tree"): tags, levels, statuses, artifact paths,
split and metric names. Writers (the trainer) and readers (reports, registry, pages) import them here.
"""

from __future__ import annotations

import json

# --- levels of the run tree (tag LEVEL) -------------------------------------------------
EXPERIMENT, JOB, FOLD, MODEL = "experiment", "job", "fold", "model"
PREPARE, INFERENCE = "prepare", "inference"
FINALIZE = "finalize"  # the run `mlflow run . -e finalize` creates, labelled by the command
TREE_LEVELS = (EXPERIMENT, JOB, FOLD, MODEL)

# --- run statuses ----------------------------------------------------------------------
FINISHED, FAILED, RUNNING, KILLED = "FINISHED", "FAILED", "RUNNING", "KILLED"

# --- MLflow's own tags -----------------------------------------------------------------
PARENT = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
EXPERIMENT_KIND = "mlflow.experimentKind"  # an experiment tag: which first screen the MLflow UI opens
CUSTOM_MODEL_DEVELOPMENT = "custom_model_development"  # its value for qc experiments: the runs table

# --- run tags --------------------------------------------------------------------------
LEVEL = "qc.level"
RESUME_KEY = "qc.resume_key"  # every run of trees whose finished models may serve each other (data, seed, code)
RECIPE_KEY = "qc.recipe_key"  # experiment runs: the whole planned work; a rerun resumes only a tree of the same key
REUSED_FROM = "qc.reused_from"  # experiment runs: the earlier experiment runs whose models it counts by reference
REUSED_MODELS = "qc.reused_models"  # fold runs (job runs without folds): ids of earlier finished model runs it counts
JOB_KEY = "qc.job_key"
JOB_INDEX = "qc.job_index"
FOLD_INDEX = "qc.fold_index"
REPEAT_INDEX = "qc.repeat_index"
REFIT = "qc.refit"
MODEL_URI = "qc.model_uri"  # model runs: the URI of their pyfunc
PID, PID_STARTED, HOST = "qc.pid", "qc.pid_started", "qc.host"  # the process owning a tree
# under `mlflow run`: the launcher process, which ends the experiment run after the trainer has exited
LAUNCHER_PID, LAUNCHER_STARTED = "qc.launcher_pid", "qc.launcher_started"
CACHE_KEY = "qc.cache_key"
DATA_RESTORABLE = "qc.data_restorable"  # "true" / "false": can `mlflow-qc data get` bring back every dataset's bytes?
DATA_UNRESTORABLE = "qc.data_unrestorable"  # when false: which dataset and why, one line
RANKING_METRIC = "qc.ranking_metric"
BEST_JOB_INDEX = "qc.best_job_index"
BEST_JOB_RUN_ID = "qc.best_job_run_id"
MODELS_FINISHED = "qc.models_finished"  # kept current while the experiment trains
MODELS_FAILED = "qc.models_failed"
MODELS_PLANNED = "qc.models_planned"  # how many models the experiment run will have when done
TRAINING_STARTED = "qc.training_started"  # epoch ms: when this experiment run began training models
PROGRESS_AT = "qc.progress_at"  # epoch ms: when PROGRESS_ARTIFACT was last written
PAGE = "qc.page"  # experiment runs: the path of their tracker page
# experiment runs: "false" when their models take no single table (N-D inputs, windows): no what-if page
WHATIF = "qc.whatif"
# adaptive search: job and model runs, the rung (0 = least resource) they trained at
RUNG = "qc.rung"
# adaptive search: job runs of a candidate stopped at this rung, below max_resource
PRUNED_AT = "qc.pruned_at"
# adaptive search: job runs, the resource (epochs, or a share of the training rows)
RESOURCE = "qc.resource"
# adaptive search on epochs: model runs that continued the candidate's previous rung, its epochs
RESUMED_FROM = "qc.resumed_from"
ERROR_LINE = "qc.error"  # failed runs: the last line of qc/error.txt (the exception)
REGISTERED_MODEL = "qc.registered_model"
FINALIZED = "qc.finalized"  # finalize runs: the experiment run whose test split they revealed
MODEL_RUN_ID = "qc.model_run_id"  # inference runs and registered versions: the model run behind them
BASELINE = "qc.baseline"  # "true" on the baseline job's runs (trainer.baseline)
BEATS_BASELINE = "qc.beats_baseline"  # job runs (and the experiment run, for its best job): "true" | "false"
TEST_SEALED = "qc.test_sealed"  # experiment runs trained with trainer.hide_test: "true"
TEST_REVEALED = "qc.test_revealed"  # "<UTC time> by <user>": finalize evaluated the test split
METRIC_DIRECTIONS = "qc.metric_directions"  # experiment runs: JSON {name: greater_is_better} of evaluation.metrics
METRIC_DIGEST_PREFIX = (
    "qc.metric_digest."  # experiment runs: + a user metric's name -> the digest of its function's source
)

# --- registered model version tags -----------------------------------------------------
VERSION_RECIPE = "qc.recipe"
VERSION_EXPERIMENT_RUN_ID = "qc.experiment_run_id"
VERSION_JOB_RUN_ID = "qc.job_run_id"
VERSION_METRIC = "qc.metric"
VERSION_METRIC_VALUE = "qc.metric_value"
VERSION_DATA_VERSIONS = "qc.data_versions"
VERSION_GATE = "qc.gate"  # the p-value the gate required
VERSION_GATE_P_VALUE = "qc.gate_p_value"  # the p-value the comparison gave
VERSION_GATE_HOLDER = "qc.gate_holder_version"  # the version that held the alias before

# --- registered model aliases ----------------------------------------------------------
DEFAULT_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"  # a gated version that did not beat the alias holder

# --- params ----------------------------------------------------------------------------
HP_PREFIX = "hp."  # hyperparameter columns of the model and job tables
THRESHOLD_PARAM = "threshold"  # model runs: the decision threshold of a binary classifier (trainer.threshold)
RESOURCE_PARAM = "resource"  # adaptive search: model runs, the resource they trained on
NOT_HYPERPARAMETERS = (
    "fold_index",
    "repeat_index",
    "seed",
    THRESHOLD_PARAM,
    RESOURCE_PARAM,
)  # the other params of a model run

# --- metrics beyond {split}_{metric} -----------------------------------------------------
BASELINE_P_VALUE = (
    "baseline_p_value"  # job runs: the corrected resampled t-test against the baseline job, Holm-adjusted
)
BASELINE_P_ADJUSTMENT = "qc.baseline_p_adjustment"  # job runs: how baseline_p_value was adjusted ("Holm over N jobs")
BASELINE_JOB = "baseline"  # the baseline job's name in tables and reports

# --- artifacts -------------------------------------------------------------------------
RECIPE_ARTIFACT = "recipe.yaml"
SPLITS_ARTIFACT = "qc/splits.json"
METRICS_ARTIFACT = "qc/metrics.csv"
AGGREGATE_ARTIFACT = "qc/metrics_aggregate.csv"
PROGRESS_ARTIFACT = "qc/progress.csv"  # the models back so far, rewritten while training (the tracker reads it)
ERROR_ARTIFACT = "qc/error.txt"
PREDICTIONS_ARTIFACT = "qc/predictions.parquet"
IMPORTANCE_ARTIFACT = "qc/importance.csv"
PER_CLASS_ARTIFACT = "qc/per_class.csv"  # classifiers: split, class, support, precision, recall, f1
REPORT_HTML = "qc/report.html"
REPORT_JSON = "qc/report.json"
REPORT_ERROR = "qc/report_error.txt"
COMPARE_ARTIFACTS = {"markdown": "qc/compare.md", "latex": "qc/compare.tex", "html": "qc/compare.html"}
PREPARED_ARTIFACT = "qc/prepared"
INFERENCE_ARTIFACT = "qc/inference"

# --- the QC pages of `mlflow server --app-name qc` (README: "The QC pages") ---------------
PAGES_ROOT = "/qc"
PING_PATH = f"{PAGES_ROOT}/api/ping"  # answers {"qc": true} to anyone: how a report finds out the pages are served
PAGE_LINKS_SHOWN = 10  # what-if links a job report offers at most


def tracker_path(run_id: str) -> str:
    return f"{PAGES_ROOT}/experiment/{run_id}"


def compare_path(run_a: str, run_b: str) -> str:
    return f"{PAGES_ROOT}/compare?a={run_a}&b={run_b}"


def whatif_path(run_id: str) -> str:
    return f"{PAGES_ROOT}/whatif/{run_id}"


def report_path(run_id: str) -> str:
    return f"{PAGES_ROOT}/report/{run_id}"


# --- the pyfunc model of a model run (artifact MODEL_ARTIFACT) ---------------------------
MODEL_ARTIFACT = "model"
MODEL_DATA_DIR = "qc"  # the pyfunc's data folder: model/data/qc
MODEL_META_FILE = "qc_model.json"
MODEL_PIPELINE_FILE = "pipeline.pkl"
MODEL_LIBRARY_DIR = "model"  # the adapter's folder inside the data folder
MODEL_DATA = f"{MODEL_ARTIFACT}/data/{MODEL_DATA_DIR}"
MODEL_TYPICAL = "typical"  # key of MODEL_META_FILE: the typical training sample (median / most frequent per raw column)
MODEL_INPUT_SCHEMA = "input_schema"  # key of MODEL_META_FILE: MLflow's Schema (JSON) the model checks requests against
IMAGE_COLUMN = "image"  # the column of base64-encoded image files a served image model takes as a table
MODEL_CODE_ARCHIVE = "mlflow_qc_inference.zip"  # in the pyfunc's code/ folder, beside its loader module

# --- splits and metrics ----------------------------------------------------------------
SPLITS = ("train", "fold_validation", "validation", "test")
TEST_SPLIT = "test"
EVALUATION_PREFERENCE = ("fold_validation", "validation")  # what a model watches while training
RANKING_SPLITS = ("fold_validation", "validation", "train")
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "brier")
IMPORTANCE_PREFIX = "importance_"
FIT_SECONDS = "fit_seconds"  # model runs: wall time of training, evaluating and logging; no split prefix
STATS = ("mean", "median", "std", "min", "max")


def evaluation_split(split_names) -> str | None:
    """The split a model watches while training (Keras' validation_data): never test."""
    return next((name for name in EVALUATION_PREFERENCE if name in split_names), None)


def split_of(metric: str) -> str | None:
    """The split of a ``{split}_{metric}`` name (the longest split name that prefixes it)."""
    return next((s for s in sorted(SPLITS, key=len, reverse=True) if metric.startswith(f"{s}_")), None)


# The user metrics' directions (evaluation.metrics' greater_is_better) known to this process: the training
# declares its recipe's, and every reader of an experiment run (registry, compare, the QC pages) the run's
# METRIC_DIRECTIONS tag, so that each ranking below (by name only) orders a user metric the declared way.
_DECLARED_DIRECTIONS: dict[str, bool] = {}


def declare_directions(directions: dict[str, bool]) -> None:
    _DECLARED_DIRECTIONS.update({str(name): bool(greater) for name, greater in directions.items()})


def directions_of(tags: dict[str, str]) -> dict[str, bool]:
    """The user metrics' directions an experiment run's tags record (empty when none or unreadable)."""
    try:
        value = json.loads(tags.get(METRIC_DIRECTIONS) or "{}")
    except ValueError:
        return {}
    return {str(k): bool(v) for k, v in value.items()} if isinstance(value, dict) else {}


def declare_directions_of(tags: dict[str, str]) -> None:
    """``declare_directions`` of an experiment run's tags."""
    declare_directions(directions_of(tags))


def higher_is_better(metric: str) -> bool:
    """Whether a larger ``{split}_{metric}`` (or bare metric name) is better: a declared user metric's
    greater_is_better, else False for the built-in errors and losses."""
    split = split_of(metric)
    name = metric[len(split) + 1 :] if split else metric
    if name in _DECLARED_DIRECTIONS:
        return _DECLARED_DIRECTIONS[name]
    return not metric.endswith(LOWER_IS_BETTER)


def default_ranking_metric(analysis_type: str, split_names) -> str:
    split = next(s for s in RANKING_SPLITS if s in split_names)
    return f"{split}_{'accuracy' if analysis_type.startswith('classification') else 'r2'}"


# folders of a project that hold no data DVC versions and fill up with files: the MLflow store's artifacts,
# mlflow-qc's cache, the local DVC remote, the environment (what `mlflow-qc init` puts in .dvcignore, and what
# git skips when mlflow-qc looks for uncommitted DVC files)
UNVERSIONED_FOLDERS = ("mlruns", "mlartifacts", ".qc_cache", "dvc-storage", ".venv")
