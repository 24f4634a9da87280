"""The scoring server's JSON decoding, made to refuse what Python cannot read.

MLflow's scoring server (``mlflow models serve``) answers every body it cannot parse with HTTP
400, except JSON nested deeper than Python's recursion limit: ``json.loads`` raises
RecursionError there, which escapes the server's handlers as HTTP 500. A qc model loaded into a
running server wraps the server's decoder once, so such a body is an invalid input (400) too.
Nothing changes in a process that has not imported the scoring server.
"""
from __future__ import annotations

import functools
import sys

SCORING_SERVER = "mlflow.pyfunc.scoring_server"


def guard_json_decoding() -> None:
    server = sys.modules.get(SCORING_SERVER)
    original = getattr(server, "_decode_json_input", None)
    if original is None or getattr(original, "_qc_guard", False):
        return

    @functools.wraps(original)
    def decode(json_input):
        try:
            return original(json_input)
        except RecursionError:
            from mlflow.exceptions import MlflowException

            raise MlflowException.invalid_parameter_value(
                "input: JSON nested deeper than the server can read; expected a table of rows "
                "(dataframe_split or dataframe_records) with one value per cell"
            ) from None

    decode._qc_guard = True
    server._decode_json_input = decode
