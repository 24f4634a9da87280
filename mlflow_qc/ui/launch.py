"""``mlflow-qc ui``: ``mlflow server --app-name qc`` over the project's store, on loopback unless told otherwise."""
from __future__ import annotations

import ipaddress
import os
import sys

from mlflow_qc.errors import QCError

DEFAULT_STORE = "sqlite:///mlflow.db"  # the project's store, in the folder the command runs in (README)
# uvicorn (h11) drops a request whose line and headers pass 16 KB with a bare 400 and a reset
# connection; taking up to 2 MB lets the pages answer an oversized query string with a 414 and a message.
UVICORN_OPTIONS = "--h11-max-incomplete-event-size 2097152"


def store_uri(given: str | None) -> str:
    """The store to serve: ``given``, else a database MLFLOW_TRACKING_URI, else ``sqlite:///mlflow.db`` here."""
    uri = given or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    if uri.startswith(("http://", "https://", "databricks")):
        where = "--backend-store-uri" if given else "MLFLOW_TRACKING_URI"
        raise QCError(where, f"{uri} is a tracking server; expected the store itself (a database URI such as "
                             f"{DEFAULT_STORE}), or start that server with --app-name qc (README: 'The QC pages')")
    return uri


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_command(host: str, port: int, backend_store_uri: str | None, workers: int) -> list[str]:
    if not 0 < port < 65536:
        raise QCError("--port", f"{port}; expected a port number from 1 to 65535")
    if workers < 1:
        raise QCError("--workers", f"{workers}; expected at least 1")
    return [sys.executable, "-m", "mlflow", "server", "--app-name", "qc", "--backend-store-uri", store_uri(backend_store_uri),
            "--host", host, "--port", str(port), "--workers", str(workers), "--uvicorn-opts", UVICORN_OPTIONS]
