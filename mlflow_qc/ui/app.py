"""The ``mlflow.app`` entry point ``qc``: ``mlflow server --app-name qc`` serves the MLflow UI and,
under ``/qc/``, the QC pages (README: "The QC pages"), from one server.

MLflow finds the factory through the entry point (as its own ``basic-auth`` app) and calls it in
each server worker: under uvicorn, MLflow's default, it must return the ASGI app MLflow builds
around its Flask app; under gunicorn or waitress (``--gunicorn-opts`` / ``--waitress-opts``), the
Flask app itself.
"""
from __future__ import annotations

import os

from mlflow_qc.tracking.names import PAGES_ROOT

SERVER_KIND_ENV = "_MLFLOW_SGI_NAME"  # set by ``mlflow server`` for its workers: uvicorn, gunicorn or waitress
STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"  # ``mlflow server --static-prefix``


def add_pages(flask_app) -> None:
    """Register the pages on MLflow's Flask app (once)."""
    from mlflow_qc.ui.routes import PageState, pages_blueprint

    if "qc" in flask_app.blueprints:
        return
    prefix = os.environ.get(STATIC_PREFIX_ENV, "").rstrip("/")
    flask_app.extensions["mlflow_qc"] = PageState(prefix)
    flask_app.register_blueprint(pages_blueprint, url_prefix=f"{prefix}{PAGES_ROOT}")


def create_app(app=None):
    """The server app with the QC pages: ASGI under uvicorn, WSGI (Flask) otherwise."""
    from mlflow.server import app as mlflow_app

    flask_app = app if app is not None else mlflow_app
    add_pages(flask_app)
    if os.environ.get(SERVER_KIND_ENV) == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app)
    return flask_app
