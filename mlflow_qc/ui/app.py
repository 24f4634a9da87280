"""The ``mlflow.app`` entry points ``qc`` and ``qc-auth``: ``mlflow server --app-name qc`` serves the
MLflow UI and, under ``/qc/``, the QC pages (README: "The QC pages"), from one server, for one user
on loopback; ``--app-name qc-auth`` serves them behind MLflow's basic authentication, each user
seeing the experiments MLflow lets them read (``ui.access``).

MLflow finds the factory through the entry point (as its own ``basic-auth`` app) and calls it in
each server worker: under uvicorn, MLflow's default, it must return the ASGI app MLflow builds
around its Flask app; under gunicorn or waitress (``--gunicorn-opts`` / ``--waitress-opts``), the
Flask app itself.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from mlflow_qc.tracking.names import PAGES_ROOT

SERVER_KIND_ENV = "_MLFLOW_SGI_NAME"  # set by ``mlflow server`` for its workers: uvicorn, gunicorn or waitress
STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"  # ``mlflow server --static-prefix``


def add_pages(flask_app, readable=None) -> None:
    """Register the pages on MLflow's Flask app (once); ``readable``: see ``ui.store.Readable``."""
    from mlflow_qc.ui.routes import PageState, pages_blueprint

    if "qc" in flask_app.blueprints:
        return
    prefix = os.environ.get(STATIC_PREFIX_ENV, "").rstrip("/")
    flask_app.extensions["mlflow_qc"] = PageState(prefix, readable)
    flask_app.register_blueprint(pages_blueprint, url_prefix=f"{prefix}{PAGES_ROOT}")
    open_experiments_on_their_runs(flask_app, prefix)


@lru_cache(maxsize=4)
def _index_with_default(index: str, script: str) -> str:
    text = Path(index).read_text(encoding="utf-8")
    return text.replace("<head>", f'<head><script src="{script}"></script>', 1)


def open_experiments_on_their_runs(flask_app, prefix: str) -> None:
    """MLflow's index page, loading ``static/model-training.js`` before the UI starts (see that file)."""
    from flask import Response

    original = flask_app.view_functions.get("serve")
    if original is None or getattr(original, "_qc_index", False):
        return

    def serve():
        index = Path(flask_app.static_folder or "", "index.html")
        if not index.is_file():
            return original()
        return Response(
            _index_with_default(str(index), f"{prefix}{PAGES_ROOT}/static/model-training.js"), mimetype="text/html"
        )

    serve._qc_index = True
    flask_app.view_functions["serve"] = serve


def create_app(app=None):
    """The server app with the QC pages: ASGI under uvicorn, WSGI (Flask) otherwise."""
    from mlflow.server import app as mlflow_app

    flask_app = app if app is not None else mlflow_app
    add_pages(flask_app)
    if os.environ.get(SERVER_KIND_ENV) == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app)
    return flask_app


def create_auth_app(app=None):
    """The server app with MLflow's basic authentication and, on it, the QC pages."""
    from mlflow.server import app as mlflow_app

    from mlflow_qc.ui.access import create_auth_app as with_auth
    from mlflow_qc.ui.access import readable

    flask_app = app if app is not None else mlflow_app
    add_pages(flask_app, readable)
    return with_auth(flask_app, os.environ.get(STATIC_PREFIX_ENV, "").rstrip("/"))
