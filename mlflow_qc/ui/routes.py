"""The routes under ``/qc/`` (README: "The QC pages"): the pages, their JSON, their static files.

Read-only but for what-if predictions (POST, JSON only, same origin, 64 KB at most). Every run id
and query parameter is checked before anything is read: a malformed one is answered 400, an
unknown or wrong-level run 404, each with a one-line message; an oversized query string 414.
"""

from __future__ import annotations

import gzip
import json
import time
from functools import lru_cache
from importlib import resources
from urllib.parse import urlparse

from flask import Blueprint, Response, current_app, g, request

from mlflow_qc.errors import QCError
from mlflow_qc.hashing import digest
from mlflow_qc.tracking.names import EXPERIMENT, JOB, PAGES_ROOT, REPORT_HTML
from mlflow_qc.ui import pages
from mlflow_qc.ui.experiments import experiment_list
from mlflow_qc.ui.headtohead import head_to_head
from mlflow_qc.ui.store import PageError, Store, check_run_id, shown
from mlflow_qc.ui.tracker import snapshot
from mlflow_qc.ui.whatif import FieldErrors, Models, predict, registered_versions

QUERY_LIMIT = 4096  # bytes of query string; two run ids need 70
BODY_LIMIT = 64 * 1024  # bytes of a what-if request
STATIC = {"qc.js": "application/javascript", "qc.css": "text/css", "model-training.js": "application/javascript"}
# A report is a whole page of its own with inline scripts: it runs as a sandboxed document (an opaque
# origin, as in the MLflow UI's artifact viewer) that can read nothing of this server's origin.
REPORT_POLICY = "sandbox allow-scripts allow-popups allow-top-navigation allow-popups-to-escape-sandbox"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

pages_blueprint = Blueprint("qc", __name__)


class PageState:
    """What one server process keeps between requests: the store and the loaded what-if models."""

    def __init__(self, prefix: str, readable=None):
        self.prefix = prefix
        self.store = Store(readable=readable)
        self.store.warm_up()
        self.models = Models()


def state() -> PageState:
    return current_app.extensions["mlflow_qc"]


def is_api() -> bool:
    return request.path.startswith(f"{state().prefix}{PAGES_ROOT}/api/")


def only_parameters(*allowed: str) -> None:
    unknown = [name for name in request.args if name not in allowed]
    if unknown:
        expected = f"only {', '.join(allowed)}" if allowed else "none"
        raise PageError(
            400, "query", f"unknown parameter(s) {', '.join(shown(n) for n in unknown[:3])}; expected {expected}"
        )
    repeated = [name for name in allowed if len(request.args.getlist(name)) > 1]
    if repeated:
        raise PageError(400, repeated[0], "given more than once; expected one value")


def html_page(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/html")


@pages_blueprint.before_request
def _limits():
    g.qc_started = time.perf_counter()
    if len(request.query_string) > QUERY_LIMIT:
        raise PageError(414, "query", f"{len(request.query_string)} bytes; expected at most {QUERY_LIMIT}")


@pages_blueprint.after_request
def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    started = g.get("qc_started")
    if started is not None:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


@pages_blueprint.errorhandler(PageError)
def _refused(exc: PageError):
    if is_api():
        return Response(json.dumps({"error": str(exc)}), status=exc.status, mimetype="application/json")
    return html_page(pages.error_page(state().prefix, exc.status, str(exc)), exc.status)


@pages_blueprint.errorhandler(QCError)
def _bad_input(exc: QCError):
    return _refused(PageError(400, exc.where, exc.expected))


# --- pages -------------------------------------------------------------------------------


@pages_blueprint.get("/")
def experiments_page():
    only_parameters()
    data = experiment_list(state().store)
    return html_page(pages.shell(state().prefix, "experiments", "QC experiments", '<div id="qc-root"></div>', data))


@pages_blueprint.get("/experiment/<run_id>")
def tracker_page(run_id: str):
    only_parameters()
    run = state().store.run(run_id, "run_id", (EXPERIMENT,))
    data = snapshot(state().store, run)
    return html_page(
        pages.shell(state().prefix, "tracker", run.info.run_name or run.info.run_id, '<div id="qc-root"></div>', data)
    )


@pages_blueprint.get("/compare")
def compare_page():
    only_parameters("a", "b")
    for name in ("a", "b"):
        check_run_id(request.args.get(name), name)
    result = head_to_head(state().store, request.args["a"], request.args["b"])
    first, second = result["sides"]
    body, figures = pages.compare_body(state().prefix, result)
    title = f"{first.run.info.run_name} vs {second.run.info.run_name}"
    return html_page(pages.shell(state().prefix, "compare", title, body + pages.figure_blocks(figures), figures=True))


@pages_blueprint.get("/whatif/")
def versions_page():
    only_parameters()
    body = pages.versions_body(state().prefix, registered_versions(state().store))
    return html_page(pages.shell(state().prefix, "versions", "What-if: registered models", body))


@pages_blueprint.get("/whatif/<run_id>")
def whatif_page(run_id: str):
    only_parameters()
    loaded = state().models.get(state().store, run_id)
    run = state().store.run(loaded.run_id, "run_id")
    fields = [{"name": f.name, "default": f.default} for f in loaded.fields]
    body = pages.whatif_body(state().prefix, run, loaded)
    data = {"run_id": run.info.run_id, "fields": fields, "version": loaded.version}
    return html_page(pages.shell(state().prefix, "whatif", f"What-if: {run.info.run_name}", body, data, figures=True))


@pages_blueprint.get("/report/<run_id>")
def report_page(run_id: str):
    """A job's or experiment's ``qc/report.html`` in a tab of its own, where its links to the pages work
    (the MLflow UI shows it in a frame that lets no link out, and serves the file as a download)."""
    only_parameters()
    run = state().store.run(run_id, "run_id", (EXPERIMENT, JOB))
    text = state().store.read_text(run, REPORT_HTML)
    if text is None:
        raise PageError(
            404, "run_id", f"run {run.info.run_id} has no {REPORT_HTML}; expected a job or experiment run that closed"
        )
    response = html_page(text)
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


# --- JSON --------------------------------------------------------------------------------


def json_response(value, status: int = 200) -> Response:
    return Response(json.dumps(pages.jsonable(value)), status=status, mimetype="application/json")


@pages_blueprint.get("/api/experiments")
def experiments_json():
    only_parameters()
    return json_response(experiment_list(state().store))


@pages_blueprint.get("/api/experiment/<run_id>")
def tracker_json(run_id: str):
    only_parameters()
    run = state().store.run(run_id, "run_id", (EXPERIMENT,))
    return json_response(snapshot(state().store, run))


@pages_blueprint.post("/api/whatif/<run_id>")
def whatif_json(run_id: str):
    only_parameters()
    origin = request.headers.get("Origin")
    if origin and urlparse(origin).netloc != request.host:
        raise PageError(403, "Origin", f"{shown(origin)}; expected a request from this server's own pages")
    if request.mimetype != "application/json":
        raise PageError(415, "Content-Type", f"{shown(request.mimetype)}; expected application/json")
    body = request.stream.read(BODY_LIMIT + 1)
    if len(body) > BODY_LIMIT:
        raise PageError(413, "body", f"more than {BODY_LIMIT} bytes; expected one sample's values")
    try:
        values = json.loads(body).get("values")
    except (ValueError, AttributeError):
        raise PageError(400, "body", 'not a JSON object; expected {"values": {column: text}}') from None
    loaded = state().models.get(state().store, run_id)
    try:
        return json_response(predict(loaded, values))
    except FieldErrors as exc:
        return json_response({"error": str(exc), "fields": exc.errors}, 400)


@pages_blueprint.get("/api/ping")
def ping():
    """Lets a report opened from the MLflow UI (a sandboxed frame: origin null) find out that the pages are served."""
    response = json_response({"qc": True})
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


# --- static files ------------------------------------------------------------------------


@lru_cache(maxsize=None)
def static_file(name: str) -> tuple[bytes, str]:
    if name == "plotly.js":
        from plotly.offline import get_plotlyjs

        return get_plotlyjs().encode(), "application/javascript"
    return resources.files("mlflow_qc.ui").joinpath("static", name).read_bytes(), STATIC[name]


@lru_cache(maxsize=None)
def compressed(name: str) -> bytes:
    return gzip.compress(static_file(name)[0], 6, mtime=0)


@lru_cache(maxsize=None)
def entity_tag(name: str) -> str:
    return f'"{digest(static_file(name)[0], 16)}"'


@pages_blueprint.get("/static/<name>")
def static(name: str):
    only_parameters()
    if name not in STATIC and name != "plotly.js":
        raise PageError(404, "static", f"no file {shown(name)}; expected one of the pages' own files")
    body, mimetype = static_file(name)
    tag = entity_tag(name)
    if request.headers.get("If-None-Match") == tag:
        return Response(status=304)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = Response(compressed(name), mimetype=mimetype)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(body, mimetype=mimetype)
    response.headers.update({"ETag": tag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"})
    return response
