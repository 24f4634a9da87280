"""Writing the verdicts against the baseline job onto the run tree (``trainer.baseline``)."""

from __future__ import annotations

import time

from mlflow.entities import Metric, RunTag

from mlflow_qc.evaluate.comparison import baseline_verdicts, model_frame, split_sizes
from mlflow_qc.tracking.names import BASELINE_P_ADJUSTMENT, BASELINE_P_VALUE, BEATS_BASELINE


def tag_verdicts(client, event) -> None:
    """``qc.beats_baseline`` (true/false) and the metric ``baseline_p_value`` (Holm-adjusted over the jobs,
    ``qc.baseline_p_adjustment`` says so) on every job run, and the best job's on the experiment run;
    nothing when the experiment has no baseline job."""
    models = model_frame(event.models)
    if models.empty:
        return
    verdicts = baseline_verdicts(models, split_sizes(event.contexts), event.ranking_metric)
    keys = models.drop_duplicates("job").set_index("job")["job_key"]
    now = int(time.time() * 1000)
    best = event.job_run_ids.get(_best_key(event))
    for row in verdicts.itertuples(index=False):
        job_run = event.job_run_ids.get(keys[row.job])
        if job_run is None:
            continue
        batch = {
            "metrics": [Metric(BASELINE_P_VALUE, float(row.p_adjusted), now, 0)],
            "tags": [
                RunTag(BEATS_BASELINE, str(bool(row.beats_baseline)).lower()),
                RunTag(BASELINE_P_ADJUSTMENT, f"Holm over {len(verdicts)} job(s)"),
            ],
        }
        for run_id in [job_run] + ([event.run_id] if job_run == best else []):
            client.log_batch(run_id, **batch)


def _best_key(event) -> str | None:
    table = event.models
    if event.best_job_index is None or table.empty:
        return None
    rows = table[table["job_index"] == event.best_job_index]
    return None if rows.empty else str(rows["job_key"].iloc[0])
