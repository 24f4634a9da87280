"""The package's standard ``logging``: every module logs under ``mlflow_qc`` (``logging.getLogger(__name__)``).

Nothing is printed unless asked: ``mlflow-qc -v`` shows INFO (preparing, versioning, planning,
registering), ``-vv`` DEBUG (each model's start and end), on stderr beside the progress bars.
In Python, configure the ``mlflow_qc`` logger as any other.
"""

from __future__ import annotations

import logging

LOGGER = "mlflow_qc"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def verbosity_level(verbose: int) -> int:
    return logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG


def configure(verbose: int) -> None:
    """Show the ``mlflow_qc`` records at the level ``-v`` (INFO) or ``-vv`` (DEBUG) asks for, on stderr;
    without ``-v`` the logger is left as it is (Python's default: warnings only)."""
    if verbose <= 0:
        return
    logger = logging.getLogger(LOGGER)
    logger.setLevel(verbosity_level(verbose))
    if not any(getattr(handler, "qc_cli", False) for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.qc_cli = True
        logger.addHandler(handler)
