"""Who may see the QC pages on ``mlflow server --app-name qc-auth`` (README: "The QC pages").

The one module of mlflow_qc that calls into ``mlflow.server.auth`` (MLflow's basic-auth app,
``pip install 'mlflow-qc[auth]'``). Its ``create_app`` wraps MLflow's Flask app with users,
``basic_auth.ini`` and permissions, and registers one ``before_request`` hook for the whole app:
401 without valid credentials, then a permission check for MLflow's own routes and, since MLflow
3.x fails closed (``MLFLOW_BASIC_AUTH_FAIL_CLOSED``), 403 for any route it has no validator for,
which the pages are. So under ``/qc/`` that hook is replaced by one that asks for credentials
exactly as MLflow does (``authenticate_request``) and leaves permissions to the pages, which read
only the experiments ``filter_experiment_ids`` allows: the check MLflow's own ``search_runs``
applies (admins read everything, other users their grants, else ``default_permission``).

MLflow names used (all here, all public): ``create_app``, ``authenticate_request``,
``filter_experiment_ids``; the hook is the ``before_request`` function of ``mlflow.server.auth`` that ``create_app``
adds to the app (found by comparing the app's hooks before and after), wrapped, never imported by name.
"""

from __future__ import annotations

from mlflow_qc.tracking.names import PAGES_ROOT


def readable(experiment_ids: list[str]) -> list[str]:
    """The ids among ``experiment_ids`` the user of the current request may read."""
    from flask import request
    from mlflow.server.auth import filter_experiment_ids

    if request.authorization is None:  # never reached without a user (401 first); never read on without one
        return []
    return filter_experiment_ids(list(experiment_ids))


def pages_hook(mlflow_hook, pages_root: str):
    """MLflow's hook for every route but the pages'; for theirs, its authentication alone."""
    from flask import g, request
    from mlflow.server.auth import authenticate_request
    from werkzeug.datastructures import Authorization

    def before_request():
        if request.path != pages_root and not request.path.startswith(f"{pages_root}/"):
            return mlflow_hook()
        authorization = authenticate_request()
        if not isinstance(authorization, Authorization):
            return authorization  # MLflow's 401 (WWW-Authenticate: Basic)
        g.mlflow_authenticated_user = authorization.username
        return None

    return before_request


def create_auth_app(flask_app, prefix: str = ""):
    """MLflow's basic-auth app around ``flask_app`` (ASGI under uvicorn, else the Flask app, as
    ``mlflow.server.auth.create_app`` decides), its hook answering the pages as said above."""
    from mlflow.server import auth

    hooks = flask_app.before_request_funcs.setdefault(None, [])
    before = list(hooks)
    made = auth.create_app(flask_app)
    # the hook create_app adds from its own module (others it may add, e.g. under uvicorn, are left alone)
    added = [hook for hook in hooks if hook not in before and getattr(hook, "__module__", None) == auth.__name__]
    if len(added) != 1:
        raise RuntimeError(
            f"mlflow.server.auth.create_app added {len(added)} before_request hooks of its own module; expected "
            "MLflow's one basic-auth hook (this MLflow version is not supported by qc-auth)"
        )
    hooks[hooks.index(added[0])] = pages_hook(added[0], f"{prefix}{PAGES_ROOT}")
    return made
