"""The QC pages of ``mlflow server --app-name qc`` / ``qc-auth`` (README: "The QC pages"): the
experiment list, the live tracker, head-to-head and what-if, beside the MLflow UI in the same server.

They read the store through ``mlflow_qc.tracking`` and the pure helpers of ``evaluate``, run what-if
models in worker processes (``whatif_worker``, which loads pyfuncs through ``serve``), and never
import the trainer (``tests/test_layers.py``).
"""
