"""The tracker of one experiment run (``/qc/experiment/<run_id>``): models done / failed / running /
planned, the ETA, the leaderboard so far and the failures with their error line.

The page polls while the experiment runs. Each poll reads only the model and job runs of the tree
that started or ended since the last one (less a margin for commits that land late), so a poll
costs about the same at 10 or 400 models; the first read of a tree reads all of it, and a tree
whose experiment run has ended is not read again.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from mlflow.entities import Run

from mlflow_qc.tracking.names import (
    ERROR_ARTIFACT, ERROR_LINE, EXPERIMENT, FAILED, FINISHED, FOLD_INDEX, JOB, JOB_INDEX, JOB_KEY, KILLED,
    MODEL, MODELS_PLANNED, NOT_HYPERPARAMETERS, RANKING_METRIC, REFIT, REPEAT_INDEX, REPORT_HTML, RESUME_KEY, RUNNING, SPLITS, default_ranking_metric,
    higher_is_better, split_of,
)
from mlflow_qc.tracking.queries import tree_runs, tree_runs_changed
from mlflow_qc.ui.experiments import STOPPED, count, run_state
from mlflow_qc.ui.store import Store

MARGIN_MS = 60_000  # re-read runs that changed this long before the last read: late commits, clock skew
TREES_KEPT = 32  # trees cached per server process
FAILURES_SHOWN = 50
ERROR_FILES_READ = 20  # failures without the qc.error tag (older runs): error files read per poll


@dataclass
class Member:
    """One model or job run of the tree, as the tracker needs it."""

    run_id: str
    name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    tags: dict
    metrics: dict
    params: dict
    error: str | None = None

    @classmethod
    def of(cls, run: Run) -> "Member":
        info, data = run.info, run.data
        return cls(info.run_id, info.run_name, info.status, info.start_time, info.end_time, dict(data.tags),
                   dict(data.metrics), dict(data.params), data.tags.get(ERROR_LINE))

    @property
    def job_key(self) -> str | None:
        return self.tags.get(JOB_KEY)


@dataclass
class Tree:
    """The model and job runs of one tree, kept current by reading what changed."""

    experiment_id: str
    resume_key: str
    models: dict[str, Member] = field(default_factory=dict)
    jobs: dict[str, Member] = field(default_factory=dict)  # by job key
    read_at_ms: int | None = None
    complete: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, store: Store, final: bool) -> None:
        with self.lock:
            if self.complete:
                return
            now = int(time.time() * 1000)
            for level, keep in ((MODEL, self._keep_model), (JOB, self._keep_job)):
                if self.read_at_ms is None:
                    runs = tree_runs(store.client, self.experiment_id, self.resume_key, level)
                else:
                    runs = tree_runs_changed(store.client, self.experiment_id, self.resume_key, level, self.read_at_ms - MARGIN_MS)
                for run in runs:
                    keep(Member.of(run))
            self.read_at_ms = now
            self.complete = final

    def _keep_model(self, member: Member) -> None:
        self.models[member.run_id] = member

    def _keep_job(self, member: Member) -> None:
        self.jobs[member.job_key] = member

    def add_missing_errors(self, store: Store) -> None:
        """The error line of failed models logged before runs carried the qc.error tag."""
        missing = [m for m in self.models.values() if m.status == FAILED and m.error is None][:ERROR_FILES_READ]
        for member in missing:
            text = store.read_text(store.client.get_run(member.run_id), ERROR_ARTIFACT) or ""
            lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith(" ")]
            member.error = lines[-1] if lines else "no error recorded"


class Trees:
    """The trees this process has read, the most recently used kept."""

    def __init__(self, size: int = TREES_KEPT):
        self.size = size
        self._trees: OrderedDict[str, Tree] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, run: Run) -> Tree:
        with self._lock:
            tree = self._trees.pop(run.info.run_id, None) or Tree(run.info.experiment_id, run.data.tags.get(RESUME_KEY, ""))
            self._trees[run.info.run_id] = tree
            while len(self._trees) > self.size:
                self._trees.popitem(last=False)
            return tree


def ranking_metric(run: Run, models: list[Member]) -> str | None:
    """The experiment's ranking metric: its tag, else the default for its analysis type and splits."""
    tag = run.data.tags.get(RANKING_METRIC)
    if tag:
        return tag
    splits = {split_of(key) for m in models for key in m.metrics} & set(SPLITS)
    analysis_type = run.data.params.get("model.analysis_type")
    return default_ranking_metric(analysis_type, splits) if analysis_type and splits else None


def eta(run: Run, models: list[Member], planned: int | None, now_ms: int) -> dict:
    """Models per minute since this experiment run's first model started, and the time left at that pace."""
    started = run.info.start_time or now_ms
    ours = [m for m in models if (m.start_ms or 0) >= started]
    ended = [m for m in ours if m.status in (FINISHED, FAILED) and m.end_ms]
    done = sum(m.status in (FINISHED, FAILED, KILLED) for m in models)
    remaining = None if planned is None else max(planned - done, 0)
    if not ended:
        return {"per_minute": None, "seconds_left": None, "remaining": remaining}
    first = min(m.start_ms for m in ours)
    per_second = len(ended) / max((now_ms - first) / 1000, 1e-3)
    return {"per_minute": per_second * 60, "remaining": remaining,
            "seconds_left": None if remaining is None else remaining / per_second}


def hyperparameters(job: Member | None, models: list[Member]) -> dict:
    if job is not None and job.params:
        return job.params
    logged = next((m.params for m in models if m.params), {})
    return {k: v for k, v in logged.items() if k not in NOT_HYPERPARAMETERS}


def leaderboard(tree: Tree, metric: str | None) -> list[dict]:
    """One row per job: its models' counts and the mean and spread of the ranking metric so far."""
    by_job: dict[str, list[Member]] = {}
    for member in tree.models.values():
        by_job.setdefault(member.job_key, []).append(member)
    rows = []
    for key in dict.fromkeys([*tree.jobs, *by_job]):
        job, models = tree.jobs.get(key), by_job.get(key, [])
        finished = [m for m in models if m.status == FINISHED]
        scores = np.array([m.metrics.get(metric, np.nan) for m in finished], dtype=np.float64) if metric else np.array([])
        scored = scores[np.isfinite(scores)]
        best = None
        if len(scored):
            pick = np.nanargmax if higher_is_better(metric) else np.nanargmin
            best = finished[int(pick(np.where(np.isfinite(scores), scores, np.nan)))].run_id
        index = (job.tags if job else models[0].tags).get(JOB_INDEX)
        rows.append({
            "job_key": key,
            "job_index": int(index) if index is not None and index.isdigit() else None,
            "job_run_id": job.run_id if job else None,
            "name": job.name if job else f"job {index}",
            "state": job.status.lower() if job else RUNNING.lower(),
            "refit": bool(job and job.tags.get(REFIT) == "true"),
            "hyperparameters": hyperparameters(job, finished),
            "finished": len(finished),
            "failed": sum(m.status == FAILED for m in models),
            "running": sum(m.status == RUNNING for m in models),
            "mean": float(scored.mean()) if len(scored) else None,
            "std": float(scored.std()) if len(scored) > 1 else None,
            "best_model_run_id": best,
        })
    direction = -1 if metric and higher_is_better(metric) else 1
    rows.sort(key=lambda r: (r["refit"], r["mean"] is None, direction * (r["mean"] or 0), r["job_index"] or 0))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def failures(tree: Tree) -> tuple[list[dict], int]:
    failed = sorted((m for m in tree.models.values() if m.status == FAILED), key=lambda m: m.end_ms or 0, reverse=True)
    shown = [{"run_id": m.run_id, "name": m.name, "error": m.error, "end_ms": m.end_ms,
              "fold_index": m.tags.get(FOLD_INDEX), "repeat_index": m.tags.get(REPEAT_INDEX)} for m in failed[:FAILURES_SHOWN]]
    return shown, len(failed)


def snapshot(store: Store, trees: Trees, run: Run) -> dict:
    """Everything the tracker page shows, as JSON-ready values."""
    state = run_state(run)
    tree = trees.of(run)
    tree.refresh(store, final=state not in (RUNNING.lower(), STOPPED))
    tree.add_missing_errors(store)
    models = list(tree.models.values())
    now_ms = int(time.time() * 1000)
    planned = count(run.data.tags, MODELS_PLANNED)
    metric = ranking_metric(run, models)
    shown, failed_total = failures(tree)
    counts = {status.lower(): sum(m.status == status for m in models) for status in (FINISHED, FAILED, RUNNING, KILLED)}
    experiment = store.client.get_experiment(run.info.experiment_id)
    return {
        "run": {"run_id": run.info.run_id, "run_name": run.info.run_name, "experiment_id": run.info.experiment_id,
                "experiment_name": experiment.name, "state": state, "start_ms": run.info.start_time,
                "end_ms": run.info.end_time, "error": run.data.tags.get(ERROR_LINE), "level": EXPERIMENT},
        "counts": {**counts, "planned": planned},
        "eta": eta(run, models, planned, now_ms) if state == RUNNING.lower() else None,
        "ranking_metric": metric,
        "higher_is_better": higher_is_better(metric) if metric else True,
        "leaderboard": leaderboard(tree, metric),
        "failures": shown,
        "failures_total": failed_total,
        "report_path": REPORT_HTML,
        "now_ms": now_ms,
    }
