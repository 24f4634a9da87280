"""Silencing MLflow's per-call chatter (progress bars, one INFO line per saved model), nothing else."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR


class _DropMessage(logging.Filter):
    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


@contextmanager
def without_log_line(logger_name: str, message: str):
    """Drop one exact log line; everything else the logger says still shows."""
    logger, line_filter = logging.getLogger(logger_name), _DropMessage(message)
    logger.addFilter(line_filter)
    try:
        yield
    finally:
        logger.removeFilter(line_filter)


@contextmanager
def no_progress_bars():
    """No "Downloading artifacts" bars for the small files a command reads (unless the user set the variable)."""
    name = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    if name in os.environ:
        yield
        return
    os.environ[name] = "false"
    try:
        yield
    finally:
        os.environ.pop(name, None)
