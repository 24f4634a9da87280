"""``mlflow-qc ui``: ``mlflow server --app-name qc`` over the project's store, on loopback unless told otherwise."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
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
        raise QCError(
            where,
            f"{uri} is a tracking server; expected the store itself (a database URI such as "
            f"{DEFAULT_STORE}), or start that server with --app-name qc (README: 'The QC pages')",
        )
    return uri


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """QCError naming a free port when ``host:port`` cannot be listened on (another server holds it):
    the server would otherwise start, fail after loading, and the link printed would open the other one."""
    problem = _bind_problem(host, port)
    if problem is None:
        return
    free = next(
        (candidate for candidate in range(port + 1, min(port + 50, 65536)) if _bind_problem(host, candidate) is None),
        None,
    )
    if free is None:
        free = _bound_port(host, 0)
    raise QCError("--port", f"{port} on {host} is not free ({problem}); expected a free port, such as --port {free}")


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_problem(host: str, port: int) -> str | None:
    try:
        _bound_port(host, port)
    except OSError as exc:
        return "in use by another program" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return None


def _bound_port(host: str, port: int) -> int:
    """Bind as uvicorn does (SO_REUSEADDR: a port left in TIME_WAIT is free) and let go at once."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return probe.getsockname()[1]


def server_command(host: str, port: int, backend_store_uri: str | None, workers: int) -> list[str]:
    if not 0 < port < 65536:
        raise QCError("--port", f"{port}; expected a port number from 1 to 65535")
    if workers < 1:
        raise QCError("--workers", f"{workers}; expected at least 1")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "qc",
        "--backend-store-uri",
        store_uri(backend_store_uri),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--uvicorn-opts",
        UVICORN_OPTIONS,
    ]
