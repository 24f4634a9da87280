"""Demo datasets the project produces itself (AIQC's, BSD-3; the licence is written beside them):
tables (sonar, iris, exoplanets, SMS spam, Delhi's daily climate), a sequence (epilepsy), images
(brain tumours, frames of the moon), and a synthetic table of patient visits for grouped splits."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGED = ("sonar.csv", "iris.tsv", "exoplanets.parquet", "spam.csv")
CLIMATE = "delhi_climate.parquet"
# Delhi's mean sea-level pressure stays within ~990-1025 hPa; the source holds ten corrupt readings
# (7679, 1352, 310, 59, -3, ...) that would dominate every squared error of the forecast.
PRESSURE_HPA = (950.0, 1100.0)
LICENSE = "LICENSE-AIQC"
GAPPY = "exoplanets_gappy.parquet"
GAP_SHARE = 0.06
EPILEPSY, EPILEPSY_LABELS = "epilepsy.npy", "epilepsy_labels.parquet"
BRAIN_TUMOR = "brain_tumor"  # a folder of 80 grayscale JPEGs and brain_tumor.csv, the manifest beside it
MOON = "liberty_moon"  # 15 grayscale frames of a moving moon, in time order by file name
PATIENTS = "patients.csv"
PATIENT_COUNT, VISITS, MARKERS = 40, 12, 6


def _packaged(name: str) -> Path:
    return Path(str(resources.files("mlflow_qc") / "demo" / name))


def delhi_climate() -> pd.DataFrame:
    """Delhi's daily climate with the corrupt pressure readings (outside ``PRESSURE_HPA``) replaced by
    the straight line between the neighbouring days' readings."""
    frame = pd.read_parquet(_packaged(CLIMATE))
    low, high = PRESSURE_HPA
    frame["pressure"] = (
        frame["pressure"].where(frame["pressure"].between(low, high)).interpolate(limit_direction="both")
    )
    return frame


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
    manifest = pd.DataFrame(
        {
            "file": [f"{BRAIN_TUMOR}/{name}" for name in names],
            "status": [int(name.startswith("tumor")) for name in names],
        }
    )
    manifest.to_csv(folder / f"{BRAIN_TUMOR}.csv", index=False)


def patients(seed: int = 0) -> pd.DataFrame:
    """Visits of patients whose markers identify the patient but say nothing about the label.

    Each patient has a label drawn at random and marker levels of their own; a visit is those
    levels plus a little noise. A model that memorises patients scores high when visits of one
    patient land in training and test (a shuffled split), near chance when whole patients are
    held out (``group_column: patient``).
    """
    rng = np.random.default_rng(seed)
    levels = rng.normal(0, 3, size=(PATIENT_COUNT, MARKERS))
    labels = rng.permutation(np.repeat(["no", "yes"], PATIENT_COUNT // 2))
    rows = np.repeat(np.arange(PATIENT_COUNT), VISITS)
    frame = pd.DataFrame(
        levels[rows] + rng.normal(0, 0.3, size=(len(rows), MARKERS)), columns=[f"marker_{k}" for k in range(MARKERS)]
    )
    frame.insert(0, "patient", [f"p{p:02d}" for p in rows])
    frame["relapse"] = labels[rows]
    return frame


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
    makers = {
        CLIMATE: lambda f: delhi_climate().to_parquet(f / CLIMATE, index=False),
        GAPPY: lambda f: exoplanets_with_gaps().to_parquet(f / GAPPY, index=False),
        EPILEPSY: _epilepsy,
        BRAIN_TUMOR: _brain_tumor,
        MOON: lambda f: shutil.copytree(_packaged(MOON), f / MOON),
        PATIENTS: lambda f: patients().to_csv(f / PATIENTS, index=False),
    }
    for name, make in makers.items():
        if not (folder / name).exists():
            make(folder)
    written += [
        folder / CLIMATE,
        folder / GAPPY,
        folder / EPILEPSY,
        folder / EPILEPSY_LABELS,
        folder / BRAIN_TUMOR,
        folder / f"{BRAIN_TUMOR}.csv",
        folder / MOON,
        folder / PATIENTS,
    ]
    return written
