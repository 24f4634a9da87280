"""Progress bars for long work; ``--quiet`` (MLFLOW_QC_QUIET=1) silences them."""

from __future__ import annotations

import os

from tqdm.auto import tqdm

QUIET_ENV = "MLFLOW_QC_QUIET"


def is_quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0", "false")


def progress_bar(total: int, desc: str, initial: int = 0) -> tqdm:
    return tqdm(total=total, initial=initial, desc=desc, unit="model", disable=is_quiet(), dynamic_ncols=True)
