"""The gate of a registration (``register.gate: P``): the alias moves to the new model only when it
beats the version holding the alias at p < P.

- Shared splits (both experiment runs logged the same ``qc/splits.json``): the corrected resampled
  t-test of the two jobs' scores over the folds and repeats they share (a refit model stands for
  the job it refit).
- Different splits, or a holder without an experiment run to read: both models evaluated on the
  candidate's validation split (``fresh_evaluation``).
- With a baseline job, a candidate that does not beat it at P never takes the alias either; the
  verdicts against the baseline are Holm-adjusted over every job of the experiment (``p (Holm)``),
  as the leaderboard shows them.

The candidate against the holder is one comparison, so its p-value needs no adjustment (the text says
so). Identical repeats (deterministic models on both sides) count one pair per fold.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.compare_sources import Source, experiment_source
from mlflow_qc.evaluate.comparison import baseline_verdicts, beats, shared_test
from mlflow_qc.serve.atomic_registration import alias_holder
from mlflow_qc.serve.fresh_evaluation import fresh_comparison
from mlflow_qc.tracking.names import (
    JOB_INDEX,
    REFIT,
    SPLITS_ARTIFACT,
    VERSION_EXPERIMENT_RUN_ID,
    higher_is_better,
)
from mlflow_qc.tracking.tables import hyperparameter_twin, read_aggregates


@dataclass(frozen=True)
class Candidate:
    experiment_run_id: str
    job_index: int  # the job the ranking chose (for a refit model: the job it refit)
    model_run_id: str
    model_uri: str
    metric: str

    @property
    def label(self) -> str:
        return f"job {self.job_index} of experiment run {self.experiment_run_id}"


@dataclass(frozen=True)
class GateDecision:
    moved: bool  # the alias goes to the new version
    text: str  # the comparison: both scores, the test, the p-value, the outcome
    p_value: float | None = None
    holder_version: str | None = None


def decide(client, name: str, alias: str, gate: float, candidate: Candidate) -> GateDecision:
    """Whether ``candidate`` takes ``alias`` of the registered model ``name``, and why."""
    source = experiment_source(client, candidate.experiment_run_id)
    metric = candidate.metric
    rule = f"gate p < {gate:g} on {metric}"
    verdict = baseline_verdicts(source.models, source.sizes, metric, gate)
    verdict = verdict[verdict["job"] == f"job {candidate.job_index}"]
    if len(verdict) and not bool(verdict["beats_baseline"].iloc[0]):
        row = verdict.iloc[0]
        return GateDecision(
            False,
            f"{rule}: {candidate.label} ({row['job_mean']:.4g}) does not beat the baseline job "
            f"({row['baseline_mean']:.4g}; corrected resampled t-test p (Holm over the experiment's jobs) = "
            f"{row['p_adjusted']:.3g})",
            float(row["p_adjusted"]),
        )
    holder = alias_holder(client, name, alias)
    if holder is None:
        return GateDecision(True, f"{rule}: no version held @{alias}, nothing to beat -> @{alias} goes to this version")
    if holder.run_id == candidate.model_run_id:
        return GateDecision(
            True,
            f"{rule}: the same model as version {holder.version} -> @{alias} goes to this version",
            holder_version=str(holder.version),
        )
    versus = f"@{alias} version {holder.version}"
    holder_models = shared_split_models(client, holder, candidate.experiment_run_id, metric)
    if holder_models is not None:
        own = source.models[source.models["job"] == f"job {candidate.job_index}"]
        count, test, moved = gate_test(own, holder_models, metric, source.sizes, gate)
        text = (
            f"{rule}: {candidate.label} mean {own[metric].mean():.4g} vs {versus} mean {holder_models[metric].mean():.4g} "
            f"over {count} shared folds x repeats; corrected resampled t-test: difference {test.difference:+.4g}, "
            f"p = {test.p_value:.3g} (one comparison: no adjustment)"
        )
        p_value = test.p_value
    else:
        fresh = fresh_comparison(
            client,
            candidate.experiment_run_id,
            candidate.model_run_id,
            candidate.model_uri,
            f"models:/{name}/{holder.version}",
            metric,
        )
        better = fresh.candidate > fresh.holder if higher_is_better(metric) else fresh.candidate < fresh.holder
        moved = bool(better and fresh.p_value < gate)
        text = (
            f"{rule}: the splits differ, so both were evaluated on the candidate's {fresh.split} split ({fresh.rows} rows): "
            f"{candidate.label} {fresh.candidate:.4g} vs {versus} {fresh.holder:.4g}; paired permutation test: p = {fresh.p_value:.3g}"
        )
        p_value = fresh.p_value
    outcome = (
        f"@{alias} moves to this version"
        if moved
        else f"@{alias} stays at version {holder.version}; this version is @challenger"
    )
    return GateDecision(
        moved, f"{text} -> {outcome}", None if math.isnan(p_value) else float(p_value), str(holder.version)
    )


def gate_test(
    candidate: pd.DataFrame, holder: pd.DataFrame, metric: str, sizes: dict[str, tuple[float, float]], gate: float
):
    """The candidate job's models against the holder's on the folds and repeats they share: (pairs, PairedTest,
    whether the candidate is better at p < gate)."""
    frame = pd.concat([candidate.assign(job="candidate"), holder.assign(job="holder")], ignore_index=True)
    count, test = shared_test(frame, "candidate", "holder", metric, sizes)
    return count, test, beats(test, metric, gate)


def shared_split_models(client, holder, candidate_run_id: str, metric: str) -> pd.DataFrame | None:
    """The holder's job models when its experiment run split the data as the candidate's did; None otherwise."""
    holder_run_id = holder.tags.get(VERSION_EXPERIMENT_RUN_ID)
    if not holder_run_id or not same_splits(holder_run_id, candidate_run_id):
        return None
    try:
        source: Source = experiment_source(client, holder_run_id)
        job_index = holder_job_index(holder_run_id, holder.tags)
    except (QCError, MlflowException, KeyError, ValueError):
        return None  # the holder's tables are gone: evaluate it afresh
    models = source.models[source.models["job"] == f"job {job_index}"]
    return models if metric in models.columns and models[metric].notna().any() else None


def same_splits(run_a: str, run_b: str) -> bool:
    try:
        texts = [mlflow.artifacts.load_text(f"runs:/{run_id}/{SPLITS_ARTIFACT}") for run_id in (run_a, run_b)]
    except (MlflowException, OSError):
        return False
    return json.loads(texts[0]) == json.loads(texts[1])


def holder_job_index(experiment_run_id: str, tags: dict) -> int:
    """The job a registered version's model stands for (the job it refit, for a refit model)."""
    index = int(tags[JOB_INDEX])
    if tags.get(REFIT) != "true":
        return index
    jobs = read_aggregates(experiment_run_id)
    twin = hyperparameter_twin(jobs, jobs[jobs["job_index"] == index].iloc[0], refit=False)
    if twin is None:
        raise ValueError(f"no job refit by job {index}")
    return int(twin["job_index"])
