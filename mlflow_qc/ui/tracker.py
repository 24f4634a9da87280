"""The tracker of one experiment run (``/qc/experiment/<run_id>``): models done / failed / running /
planned, the ETA, the leaderboard so far and the failures with their error line.

The models back so far come from one artifact, ``qc/progress.csv``, which the trainer rewrites
every few seconds; the store is asked only for what that file cannot know yet: the model runs
running now and those that ended since it was written (a margin before, for late commits). So a
request costs about the same at 10 or 400 models, and a page polls it while the experiment runs.
Experiments trained before the file existed are read from ``qc/metrics.csv`` (finished ones) or
from all their model runs.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from mlflow.entities import Run

from mlflow_qc.tracking.names import (
    BASELINE,
    BASELINE_JOB,
    ERROR_LINE,
    EXPERIMENT,
    FAILED,
    FINISHED,
    FOLD_INDEX,
    HP_PREFIX,
    JOB,
    JOB_INDEX,
    JOB_KEY,
    KILLED,
    METRICS_ARTIFACT,
    MODEL,
    MODELS_PLANNED,
    NOT_HYPERPARAMETERS,
    PARENT,
    PROGRESS_ARTIFACT,
    PROGRESS_AT,
    PRUNED_AT,
    RANKING_METRIC,
    REPEAT_INDEX,
    RESUME_KEY,
    RUNNING,
    SPLITS,
    TRAINING_STARTED,
    WHATIF,
    declare_directions_of,
    default_ranking_metric,
    higher_is_better,
    split_of,
)
from mlflow_qc.tracking.queries import tree_runs
from mlflow_qc.tracking.tables import PROGRESS_COLUMNS
from mlflow_qc.ui.experiments import count, run_state
from mlflow_qc.ui.store import RUN_ID, Store

# Runs that ended this long before qc/progress.csv was written are asked for again: the file misses a
# model whose record was still on its way to the trainer's main process; one that is later than this
# shows in the next file (the trainer's PROGRESS_SECONDS on).
MARGIN_MS = 3_000
FAILURES_SHOWN = 50
JOB_RUN_ID, REUSED, SECONDS, ERROR = PROGRESS_COLUMNS


def run_rows(runs: list[Run], started_ms: int) -> pd.DataFrame:
    """Model runs as rows of the progress table (hyperparameters from their params, the error from its tag)."""
    rows = []
    for run in runs:
        tags, info = run.data.tags, run.info
        fold, index = tags.get(FOLD_INDEX), tags.get(JOB_INDEX)
        rows.append(
            {
                "job_index": int(index) if index and index.isdigit() else None,
                "job_key": tags.get(JOB_KEY),
                "fold_index": float(fold) if fold is not None else np.nan,
                "repeat_index": tags.get(REPEAT_INDEX),
                "baseline": tags.get(BASELINE) == "true",
                "run_id": info.run_id,
                "status": info.status,
                REUSED: (info.start_time or 0) < started_ms,
                ERROR: tags.get(ERROR_LINE),
                **{f"{HP_PREFIX}{k}": v for k, v in run.data.params.items() if k not in NOT_HYPERPARAMETERS},
                **run.data.metrics,
            }
        )
    return pd.DataFrame(rows)


def returned_models(store: Store, run: Run, started_ms: int) -> tuple[pd.DataFrame, bool]:
    """The models back so far, and whether the store may hold newer ones: ``qc/progress.csv``; for
    older experiments ``qc/metrics.csv`` (finished ones), else every model run of the tree (complete)."""
    table = store.read_table(run, PROGRESS_ARTIFACT, HP_PREFIX)
    if table is not None:
        return table, True
    key = run.data.tags.get(RESUME_KEY, "")
    table = store.read_table(run, METRICS_ARTIFACT, HP_PREFIX)
    if table is None:
        return run_rows(tree_runs(store.client, run.info.experiment_id, key, MODEL), started_ms), False
    jobs = {
        r.data.tags.get(JOB_KEY): r.info.run_id
        for r in tree_runs(store.client, run.info.experiment_id, key, JOB, f"tags.`{PARENT}` = '{run.info.run_id}'")
    }
    failed = tree_runs(store.client, run.info.experiment_id, key, MODEL, f"attributes.status = '{FAILED}'")
    errors = {r.info.run_id: r.data.tags.get(ERROR_LINE) for r in failed}
    return table.assign(
        **{JOB_RUN_ID: table["job_key"].map(jobs), REUSED: False, ERROR: table["run_id"].map(errors)}
    ), True


def live_models(store: Store, run: Run, table: pd.DataFrame, started_ms: int) -> pd.DataFrame:
    """The table with the model runs it cannot know yet: running now, or ended after it was written."""
    key = run.data.tags.get(RESUME_KEY, "")
    written = run.data.tags.get(PROGRESS_AT, "")
    queries = [f"attributes.status = '{RUNNING}'"]
    if written.isdigit():
        queries.append(f"attributes.end_time >= {int(written) - MARGIN_MS}")
    known = set(table["run_id"]) if "run_id" in table else set()
    found = {
        r.info.run_id: r
        for query in queries
        for r in tree_runs(store.client, run.info.experiment_id, key, MODEL, query)
        if r.info.run_id not in known
    }
    if not found:
        return table
    return pd.concat([table, run_rows(list(found.values()), started_ms)], ignore_index=True)


def ranking_metric(run: Run, models: pd.DataFrame) -> str | None:
    """The experiment's ranking metric: its tag, else the default for its analysis type and splits."""
    tag = run.data.tags.get(RANKING_METRIC)
    if tag:
        return tag
    splits = {split_of(c) for c in models.columns} & set(SPLITS)
    analysis_type = run.data.params.get("model.analysis_type")
    return default_ranking_metric(analysis_type, splits) if analysis_type and splits else None


def column(models: pd.DataFrame, name: str, missing) -> pd.Series:
    """A column of the model table, or ``missing`` in every row (older tables lack some)."""
    return models[name] if name in models else pd.Series(missing, index=models.index, dtype=object)


def eta(models: pd.DataFrame, planned: int | None, started_ms: int, now_ms: int) -> dict:
    """Models per minute since this run began training (reused ones aside), and the time left at that pace."""
    status = column(models, "status", "")
    done = int(status.isin([FINISHED, FAILED, KILLED]).sum())
    remaining = None if planned is None else max(planned - done, 0)
    fresh = int((status.isin([FINISHED, FAILED]) & ~column(models, REUSED, False).fillna(False).astype(bool)).sum())
    if not fresh:
        return {"per_minute": None, "seconds_left": None, "remaining": remaining}
    per_second = fresh / max((now_ms - started_ms) / 1000, 1e-3)
    return {
        "per_minute": per_second * 60,
        "remaining": remaining,
        "seconds_left": None if remaining is None else remaining / per_second,
    }


def pruned_jobs(store: Store, run: Run, models: pd.DataFrame) -> dict[str, int]:
    """An adaptive search's job runs tagged ``qc.pruned_at`` (the rung their candidate stopped at), by run id;
    one query, asked only of an adaptive search's experiment run."""
    if "rung" not in models:
        return {}
    key = run.data.tags.get(RESUME_KEY, "")
    where = f"tags.`{PARENT}` = '{run.info.run_id}' and tags.`{PRUNED_AT}` LIKE '%'"
    found = tree_runs(store.client, run.info.experiment_id, key, JOB, where)
    return {r.info.run_id: int(r.data.tags[PRUNED_AT]) for r in found if r.data.tags[PRUNED_AT].isdigit()}


def first_number(values: pd.Series) -> float | None:
    value = pd.to_numeric(values, errors="coerce").dropna()
    return None if value.empty else float(value.iloc[0])


def leaderboard(models: pd.DataFrame, metric: str | None, pruned: dict[str, int] | None = None) -> list[dict]:
    """One row per job: its models' counts and the mean and spread of the ranking metric so far; an adaptive
    search's jobs also their rung, resource and (``pruned``: by job run id) the rung their candidate stopped at."""
    if models.empty:
        return []
    key = models["job_key"].fillna("")
    status = models["status"]

    def per_job(values: pd.Series):
        return values.groupby(key, sort=False)

    jobs = pd.DataFrame(
        {
            "job_index": per_job(models["job_index"]).first(),
            "job_run_id": per_job(column(models, JOB_RUN_ID, None)).first(),
            "refit": per_job(flag(models, "refit")).any(),
            "baseline": per_job(flag(models, "baseline")).any(),
            "partial": per_job(flag(models, "partial")).any(),  # adaptive search: below max_resource
            "finished": per_job(status.eq(FINISHED)).sum(),
            "failed": per_job(status.eq(FAILED)).sum(),
            "running": per_job(status.eq(RUNNING)).sum(),
        }
    )
    scores = pd.to_numeric(column(models, metric, np.nan), errors="coerce").where(status.eq(FINISHED))
    jobs["mean"], jobs["std"], jobs["scored"] = (
        per_job(scores).mean(),
        per_job(scores).std(ddof=1),
        per_job(scores).count(),
    )
    scored = scores.dropna().groupby(key, sort=False)
    best = scored.idxmax() if metric and higher_is_better(metric) else scored.idxmin()
    jobs["best_model_run_id"] = best.map(models["run_id"])
    rungs = per_job(column(models, "rung", None)).agg(first_number)
    resources = per_job(column(models, "resource", None)).agg(first_number)
    hp_columns = [c for c in models.columns if c.startswith(HP_PREFIX)]
    hyperparameters = models[hp_columns].groupby(key, sort=False).first() if hp_columns else None
    rows = []
    for job_key, job in jobs.iterrows():
        index = None if pd.isna(job["job_index"]) else int(job["job_index"])
        values = (
            {}
            if hyperparameters is None
            else {c[len(HP_PREFIX) :]: v for c, v in hyperparameters.loc[job_key].items() if not pd.isna(v)}
        )
        rows.append(
            {
                "job_key": job_key or None,
                "job_index": index,
                "job_run_id": None if pd.isna(job["job_run_id"]) else job["job_run_id"],
                "name": job_name(index, bool(job["refit"]), bool(job["baseline"])),
                "refit": bool(job["refit"]),
                "baseline": bool(job["baseline"]),
                "partial": bool(job["partial"]),
                "rung": None if rungs[job_key] is None else int(rungs[job_key]),
                "resource": resources[job_key],
                "pruned_at": (pruned or {}).get(job["job_run_id"]),
                "hyperparameters": values,
                "finished": int(job["finished"]),
                "failed": int(job["failed"]),
                "running": int(job["running"]),
                "mean": None if job["scored"] == 0 else float(job["mean"]),
                "std": float(job["std"]) if job["scored"] > 1 else None,
                "best_model_run_id": None if pd.isna(job["best_model_run_id"]) else job["best_model_run_id"],
            }
        )
    direction = -1 if metric and higher_is_better(metric) else 1
    rows.sort(
        key=lambda r: (r["refit"], r["partial"], r["mean"] is None, direction * (r["mean"] or 0), r["job_index"] or 0)
    )
    ranks = iter(range(1, len(rows) + 1))
    for row in rows:  # the baseline (and an adaptive search's partial jobs, listed after the others) without a rank
        row["rank"] = None if row["baseline"] or row["partial"] else next(ranks)
    return rows


def flag(models: pd.DataFrame, name: str) -> pd.Series:
    """A true/false column of the model table as booleans (CSV gives text or bools; older tables lack it)."""
    return column(models, name, False).astype(str).str.lower().eq("true")


def job_name(index: int | None, refit: bool, baseline: bool) -> str:
    if baseline:
        return BASELINE_JOB
    return f"{'refit' if refit else 'job'} {'' if index is None else index}".strip()


def failures(models: pd.DataFrame) -> tuple[list[dict], int]:
    failed = models[models["status"] == FAILED] if len(models) else models
    shown = [
        {
            "run_id": row["run_id"],
            "name": model_name(row),
            "error": row.get(ERROR) if isinstance(row.get(ERROR), str) else None,
        }
        for _, row in failed.head(FAILURES_SHOWN).iterrows()
    ]
    return shown, len(failed)


def model_name(row) -> str:
    fold = row.get("fold_index")
    where = "" if fold is None or (isinstance(fold, float) and np.isnan(fold)) else f" fold {int(fold)}"
    index = row.get("job_index")
    job = "" if index is None or (isinstance(index, float) and np.isnan(index)) else f"job {int(index)}"
    if str(row.get("baseline")).lower() == "true":
        job = BASELINE_JOB
    return f"model {job}{where} repeat {row.get('repeat_index')}"


def registered_among(store: Store, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` with a registered model version: the what-if page opens only theirs."""
    listed = ", ".join(f"'{run_id}'" for run_id in sorted(set(run_ids)) if RUN_ID.fullmatch(run_id))
    return sorted({v.run_id for v in store.client.search_model_versions(f"run_id IN ({listed})")}) if listed else []


def snapshot(store: Store, run: Run) -> dict:
    """Everything the tracker page shows, as JSON-ready values."""
    state = run_state(run)
    tags = run.data.tags
    declare_directions_of(tags)  # its user metrics' directions (evaluation.metrics)
    started = int(tags[TRAINING_STARTED]) if tags.get(TRAINING_STARTED, "").isdigit() else (run.info.start_time or 0)
    models, partial = returned_models(store, run, started)
    if partial and run.info.status != FINISHED:  # a finished training wrote its last progress file at the end
        models = live_models(store, run, models, started)
    now_ms = int(time.time() * 1000)
    planned = count(tags, MODELS_PLANNED)
    metric = ranking_metric(run, models)
    shown, failed_total = failures(models)
    status = column(models, "status", "")
    counts = {s.lower(): int((status == s).sum()) for s in (FINISHED, FAILED, RUNNING, KILLED)}
    experiment = store.client.get_experiment(run.info.experiment_id)
    board = leaderboard(models, metric, pruned_jobs(store, run, models))
    return {
        "run": {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "experiment_id": run.info.experiment_id,
            "experiment_name": experiment.name,
            "state": state,
            "start_ms": run.info.start_time,
            "end_ms": run.info.end_time,
            "error": tags.get(ERROR_LINE),
            "level": EXPERIMENT,
        },
        "counts": {**counts, "planned": planned},
        "eta": eta(models, planned, started, now_ms) if state == RUNNING.lower() else None,
        "ranking_metric": metric,
        "higher_is_better": higher_is_better(metric) if metric else True,
        "leaderboard": board,
        "failures": shown,
        "failures_total": failed_total,
        "whatif": tags.get(WHATIF) != "false",  # experiments from before the tag took tables only
        "registered": registered_among(store, [row["best_model_run_id"] for row in board if row["best_model_run_id"]]),
        "now_ms": now_ms,
    }
