"""Demo datasets the project produces itself (AIQC's, BSD-3; the licence is written beside them):
tables (sonar, iris, exoplanets, SMS spam), a sequence (epilepsy), images (brain tumours)."""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGED = ("sonar.csv", "iris.tsv", "exoplanets.parquet", "spam.csv")
LICENSE = "LICENSE-AIQC"
GAPPY = "exoplanets_gappy.parquet"
GAP_SHARE = 0.06
EPILEPSY, EPILEPSY_LABELS = "epilepsy.npy", "epilepsy_labels.parquet"
BRAIN_TUMOR = "brain_tumor"  # a folder of 80 grayscale JPEGs and brain_tumor.csv, the manifest beside it


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


def _epilepsy(folder: Path) -> None:
    """1000 EEG segments as a sequence (samples x 178 timesteps x 1 channel) and their labels by position."""
    table = pd.read_parquet(_packaged("epilepsy.parquet"))
    labels = table.pop("seizure")
    np.save(folder / EPILEPSY, table.to_numpy(dtype=np.float32)[:, :, None])
    labels.to_frame().to_parquet(folder / EPILEPSY_LABELS, index=False)


def _brain_tumor(folder: Path) -> None:
    """The images (healthy_K.jpg, tumor_K.jpg) and a manifest with their paths and labels (status 1 = tumour)."""
    images = folder / BRAIN_TUMOR
    shutil.copytree(_packaged(BRAIN_TUMOR), images)
    names = sorted(p.name for p in images.iterdir())
    manifest = pd.DataFrame({"file": [f"{BRAIN_TUMOR}/{name}" for name in names],
                             "status": [int(name.startswith("tumor")) for name in names]})
    manifest.to_csv(folder / f"{BRAIN_TUMOR}.csv", index=False)


def write_demo_data(folder: str | Path) -> list[Path]:
    """Write the demo datasets that are missing from ``folder`` (and the licence beside them);
    return every demo dataset's path (files, and the image folder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / LICENSE).exists():
        shutil.copyfile(_packaged(LICENSE), folder / LICENSE)
    written = []
    for name in PACKAGED:
        target = folder / name
        if not target.exists():
            shutil.copyfile(_packaged(name), target)
        written.append(target)
    makers = {GAPPY: lambda f: exoplanets_with_gaps().to_parquet(f / GAPPY, index=False),
              EPILEPSY: _epilepsy, BRAIN_TUMOR: _brain_tumor}
    for name, make in makers.items():
        if not (folder / name).exists():
            make(folder)
    written += [folder / GAPPY, folder / EPILEPSY, folder / EPILEPSY_LABELS, folder / BRAIN_TUMOR, folder / f"{BRAIN_TUMOR}.csv"]
    return written
