"""The process a what-if model runs in (``python -m mlflow_qc.ui.whatif_worker``), one per loaded model.

The server never unpickles a model or imports its code: this process does, under a memory limit
(``RLIMIT_AS``), and answers in JSON lines (never pickle: what the model writes must not run in the
server). The server sends ``{"model_uri": ...}``, then one ``{"row": {column: value}}`` per
prediction; each gets one line back: ``{"ok": ...}``, ``{"field": message}`` for a value the model
refuses, or ``{"error": message}``. Whatever the model prints goes to the server's log (stderr),
never into the answers. ``whatif.ModelWorker`` is the server's side: it stops this process when it
does not answer in time.
"""

from __future__ import annotations

import json
import os
import resource
import sys

MEMORY_ENV = "MLFLOW_QC_WHATIF_MEMORY_MB"
DEFAULT_MEMORY_MB = 8192  # address space: TensorFlow and torch reserve far more than they use


def limit_memory() -> None:
    megabytes = int(os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY_MB)
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def plain(value):
    return value.item() if hasattr(value, "item") else value


class WorkerModel:
    """A registered pyfunc; a QC model (``serve.pyfunc.QCModel``) also gives its typical values and classes."""

    def __init__(self, model_uri: str):
        import mlflow.pyfunc

        from mlflow_qc.serve.pyfunc import qc_model_of
        from mlflow_qc.serve.quiet import no_progress_bars

        with no_progress_bars():
            self.pyfunc = mlflow.pyfunc.load_model(model_uri)
        self.qc = qc_model_of(self.pyfunc)
        # a qc model keeps its raw input schema in qc_model.json (its MLmodel has none); models logged before it,
        # and other pyfuncs, in their signature
        schema = (self.qc.input_schema if self.qc is not None else None) or self.pyfunc.metadata.get_input_schema()
        if schema is None or not schema.has_input_names() or schema.is_tensor_spec():
            raise ValueError(f"{model_uri} has no signature of named columns; expected a model of one table")
        self.columns = [(spec.name, spec.type.name) for spec in schema.inputs]

    def describe(self) -> dict:
        typical = self.qc.typical if self.qc is not None else None
        example = None
        if not typical:
            frame = self.pyfunc.input_example
            if hasattr(frame, "iloc") and len(frame):
                example = {str(k): plain(v) for k, v in frame.iloc[0].items()}
        return {
            "columns": self.columns,
            "typical": typical,
            "example": example,
            "analysis_type": self.qc.analysis_type if self.qc is not None else "pyfunc",
            "classes": self.qc.classes if self.qc is not None else None,
        }

    def predict(self, row: dict) -> dict:
        import pandas as pd
        from mlflow.exceptions import MlflowException

        from mlflow_qc.errors import QCError
        from mlflow_qc.models.outputs import probability_columns

        frame = pd.DataFrame([row], columns=[name for name, _ in self.columns])
        try:
            output = self.pyfunc.predict(frame)
        except MlflowException as exc:
            if isinstance(exc.__cause__, QCError):
                return {"field": exc.__cause__.expected, "where": exc.__cause__.where}
            return {"field": exc.message, "where": ""}
        if self.qc is None:
            first = (
                output.iloc[0, 0]
                if hasattr(output, "iloc") and getattr(output, "ndim", 1) == 2
                else (output.iloc[0] if hasattr(output, "iloc") else output[0])
            )
            return {"ok": {"prediction": plain(first), "probabilities": []}}
        answer = {"prediction": plain(output["prediction"].iloc[0]), "probabilities": []}
        for label, column in zip(self.qc.classes or [], probability_columns(self.qc.classes or [])):
            answer["probabilities"].append({"class": str(label), "probability": float(output[column].iloc[0])})
        return {"ok": answer}


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # the model's prints go to the server's log, never into the answers

    def send(message: dict) -> None:
        answers.write(json.dumps(message, default=str) + "\n")

    limit_memory()
    try:
        model = WorkerModel(json.loads(sys.stdin.readline())["model_uri"])
        send({"ok": model.describe()})
    except Exception as exc:  # any failure to load is the request's answer; the server stays up
        send({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
        return
    for line in sys.stdin:
        try:
            send(model.predict(json.loads(line)["row"]))
        except Exception as exc:
            send({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})


if __name__ == "__main__":
    main()
