"""Demo datasets the project produces itself (AIQC's, BSD-3; the licence is written beside them)."""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGED = ("sonar.csv", "iris.tsv", "exoplanets.parquet")
LICENSE = "LICENSE-AIQC"
GAPPY = "exoplanets_gappy.parquet"
GAP_SHARE = 0.06


def _packaged(name: str) -> Path:
    return Path(str(resources.files("mlflow_qc") / "demo" / name))


def exoplanets_with_gaps(seed: int = 0) -> pd.DataFrame:
    """Exoplanets with a share of the float features blanked, to exercise interpolation."""
    frame = pd.read_parquet(_packaged("exoplanets.parquet"))
    rng = np.random.default_rng(seed)
    for column in frame.columns:
        if column != "SurfaceTempK" and pd.api.types.is_float_dtype(frame[column]):
            gaps = rng.random(len(frame)) < GAP_SHARE
            gaps[[0, -1]] = False
            frame.loc[gaps, column] = np.nan
    return frame


def write_demo_data(folder: str | Path) -> list[Path]:
    """Write the demo datasets that are missing from ``folder``; return every demo file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PACKAGED + (LICENSE,):
        target = folder / name
        if not target.exists():
            shutil.copyfile(_packaged(name), target)
        written.append(target)
    gappy = folder / GAPPY
    if not gappy.exists():
        exoplanets_with_gaps().to_parquet(gappy, index=False)
    written.append(gappy)
    return written
