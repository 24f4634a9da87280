"""The failures of a training said once each, like scikit-learn's ``_warn_or_raise_about_fit_failures``:
how many of how many models failed, then each distinct cause once with its count and the jobs it hit."""

from __future__ import annotations

from collections import Counter

from mlflow_qc.run.plan import ModelRecord

JOBS_NAMED = 5  # of a cause, the first jobs named by index


def failure_summary(result) -> str:
    """``N of M models failed`` and one line per distinct cause (an ``ExperimentResult``'s failures)."""
    return grouped_failures(result.failures, result.finished + len(result.failures))


def grouped_failures(failures: list[ModelRecord], total: int) -> str:
    causes = Counter(record.error_line or "unknown error" for record in failures)
    lines = [
        f"{len(failures)} of {total} models failed"
        + ("" if len(causes) == 1 else f" ({len(causes)} distinct causes)")
        + ":"
    ]
    for cause, count in causes.most_common():
        records = [record for record in failures if (record.error_line or "unknown error") == cause]
        lines.append(f"  {count} x {cause}{_where(records)}")
    return "\n".join(lines)


def _where(records: list[ModelRecord]) -> str:
    """The jobs a cause hit, and the hyperparameters given as text there when the cause is a type error."""
    jobs = sorted({record.task.job.index for record in records})
    labels = ["baseline" if index < 0 else str(index) for index in jobs]
    named = ", ".join(labels[:JOBS_NAMED]) + (", ..." if len(jobs) > JOBS_NAMED else "")
    where = f" (job{'s' if len(jobs) > 1 else ''} {named})"
    if records[0].error_line and records[0].error_line.startswith("TypeError"):
        texts = {
            f"model.hyperparameters.{name}: {value!r}"
            for record in records
            for name, value in record.task.job.hyperparameters.items()
            if isinstance(value, str)
        }
        if texts:
            where += f"; given as text: {', '.join(sorted(texts))} (expected a number? write it without quotes)"
    return where
