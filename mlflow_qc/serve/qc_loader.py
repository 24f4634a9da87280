"""The loader of a qc model (MLmodel ``loader_module: qc_loader``), carried in the model's ``code/``.

MLflow puts ``code/`` on ``sys.path`` and calls ``_load_pyfunc``. Where mlflow_qc is importable
(installed, or already loaded in this process) the model runs on it; elsewhere on the inference
modules zipped beside this file (``serve.bundle``), so that serving needs nothing but the public
packages of the model's requirements. Standard library only: nothing else is importable yet.
"""

import importlib.util
import sys
from pathlib import Path


def _load_pyfunc(data_path):
    if "mlflow_qc" not in sys.modules and importlib.util.find_spec("mlflow_qc") is None:
        sys.path.extend(str(archive) for archive in sorted(Path(__file__).resolve().parent.glob("*.zip")))
    from mlflow_qc.serve.pyfunc import _load_pyfunc as load_qc_model

    return load_qc_model(data_path)
