"""The QC pages over HTTP against a real ``mlflow server --app-name qc``: every page answers, every
bad request gets a 4xx with a one-line message (or escaped output), and the server keeps serving."""

from __future__ import annotations

import html
import json
import re
import sys

import pytest
import requests

from tests.helpers import background_server, free_port
from tests.ui.conftest import HOSTILE_EXPERIMENT, HOSTILE_NAME

pytestmark = pytest.mark.e2e

UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"


def page_data(text: str) -> dict:
    block = re.search(r'<script type="application/json" id="qc-data">(.*?)</script>', text, re.S).group(1)
    return json.loads(block)


def message(response: requests.Response) -> str:
    if response.headers["Content-Type"].startswith("application/json"):
        return response.json()["error"]
    return html.unescape(re.search(r'id="qc-message">(.*?)</p>', response.text, re.S).group(1))


def still_serving(served) -> None:
    assert served.get("/qc/api/ping").json() == {"qc": True}
    assert served.get("/health").status_code == 200


def test_the_experiment_list_has_the_trained_experiment_with_its_counts(served):
    response = served.get("/qc/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")
    assert re.match(r"app;dur=\d+(\.\d+)?$", response.headers["Server-Timing"])
    rows = {row["run_id"]: row for row in page_data(response.text)["experiments"]}
    row = rows[served.trained.run_id]
    assert (row["state"], row["finished"], row["failed"], row["planned"]) == ("finished", 6, 0, 6)
    assert row["run_name"] == "sonar-pages" and row["experiment_name"] == "sonar-pages"
    assert row["best_job_run_id"] in {job.info.run_id for job in served.jobs()}
    assert rows[served.stopped_run_id]["state"] == "stopped"
    assert served.get("/qc/api/experiments").json()["experiments"] == page_data(response.text)["experiments"]


def test_the_tracker_of_a_finished_experiment(served):
    response = served.get(f"/qc/experiment/{served.trained.run_id}")
    assert response.status_code == 200
    data = page_data(response.text)
    assert data["run"]["state"] == "finished" and data["eta"] is None
    assert data["counts"] == {"finished": 6, "failed": 0, "running": 0, "killed": 0, "planned": 6}
    assert data["whatif"] is True  # a model of one table: the leaderboard links each job's best model to its what-if
    assert data["ranking_metric"] == "fold_validation_accuracy"
    jobs = {job.info.run_id: job for job in served.jobs()}
    board = data["leaderboard"]
    assert {row["job_run_id"] for row in board} == set(jobs)
    for row in board:  # the mean so far of a finished job is the job run's own aggregate
        assert row["mean"] == pytest.approx(
            jobs[row["job_run_id"]].data.metrics["fold_validation_accuracy_mean"], abs=1e-12
        )
        assert row["hyperparameters"] == {"C": jobs[row["job_run_id"]].data.params["C"]}
    assert [row["mean"] for row in board] == sorted((row["mean"] for row in board), reverse=True)
    assert served.get(f"/qc/api/experiment/{served.trained.run_id}").json()["leaderboard"] == board
    best_models = {row["best_model_run_id"] for row in board if row["best_model_run_id"]}
    assert data["registered"] == sorted(
        best_models & {served.runs("model")[0].info.run_id}
    )  # what-if links: those only


def test_every_experiment_run_links_its_tracker_and_opens_on_the_runs_table(served):
    run = served.client().get_run(served.trained.run_id)
    assert run.data.tags["qc.page"] == f"/qc/experiment/{served.trained.run_id}"
    assert run.info.run_name == "sonar-pages" and run.data.tags["qc.whatif"] == "true"
    assert (
        served.client().get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"]
        == "custom_model_development"
    )
    index = served.get("/")
    assert index.status_code == 200 and '<script src="/qc/static/model-training.js"></script>' in index.text
    assert "mlflow.workflowType_v1" in served.get("/qc/static/model-training.js").text


@pytest.mark.parametrize(
    "path, status, expected",
    [
        (f"/qc/experiment/{UNKNOWN_RUN}", 404, f"run_id: no run {UNKNOWN_RUN} in this store"),
        ("/qc/experiment/not-a-run", 400, "run_id: 'not-a-run' is not a run id; expected 32 hexadecimal digits"),
        (f"/qc/api/experiment/{UNKNOWN_RUN}", 404, f"run_id: no run {UNKNOWN_RUN}"),
        (f"/qc/whatif/{UNKNOWN_RUN}", 404, f"run_id: no run {UNKNOWN_RUN}"),
        (f"/qc/compare?a={UNKNOWN_RUN}&b={UNKNOWN_RUN}", 404, f"a: no run {UNKNOWN_RUN}"),
        ("/qc/compare?a=1&b=2", 400, "a: '1' is not a run id"),
        ("/qc/compare?a=0123456789abcdef0123456789abcdef", 400, "b: missing; expected the id of a run"),
        ("/qc/compare?a=1&a=2&b=3", 400, "a: given more than once; expected one value"),
        ("/qc/?debug=1", 400, "query: unknown parameter(s) 'debug'; expected none"),
        ("/qc/static/qc.py", 404, "static: no file 'qc.py'"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(served, path, status, expected):
    response = served.get(path)
    assert response.status_code == status, response.text[:300]
    assert message(response).startswith(expected), message(response)
    still_serving(served)


def test_a_model_run_on_the_experiment_page_is_refused(served):
    model = served.runs("model")[0].info.run_id
    response = served.get(f"/qc/experiment/{model}")
    assert response.status_code == 404
    assert message(response) == f"run_id: run {model} is a model run; expected an experiment run"
    job = served.jobs()[0].info.run_id
    assert message(served.get(f"/qc/whatif/{job}")) == f"run_id: run {job} is a job run; expected a model run"
    mixed = served.get(f"/qc/compare?a={job}&b={model}")
    assert mixed.status_code == 400 and "expected two job runs or two model runs" in message(mixed)
    assert served.get(f"/qc/compare?a={job}&b={job}").status_code == 400
    still_serving(served)


def test_the_whatif_of_a_model_that_takes_no_single_table_is_refused_before_loading(served):
    """A sequence model (its pyfunc's qc_model.json says so) has no what-if: one field per column does not fit it."""
    client = served.client()
    experiment = client.create_experiment("sequence-model")
    run = client.create_run(experiment, run_name="sequence model", tags={"qc.level": "model"})
    meta = {"analysis_type": "classification_binary", "kinds": ["sequence"], "windows": [None], "raw_columns": None}
    client.log_text(run.info.run_id, json.dumps(meta), "model/data/qc/qc_model.json")  # no MLmodel: it is never loaded
    client.set_terminated(run.info.run_id, "FINISHED")
    response = served.get(f"/qc/whatif/{run.info.run_id}")
    assert response.status_code == 404
    assert message(response) == (
        f"run_id: run {run.info.run_id} is a model of sequence inputs; expected a model of one "
        "table (the what-if page has one field per column)"
    )
    client.delete_experiment(experiment)
    still_serving(served)


def test_a_one_megabyte_query_string_gets_414_and_the_server_keeps_serving(served):
    response = served.get("/qc/compare", params={"a": "f" * 1_000_000, "b": "0" * 32})
    assert response.status_code == 414
    assert re.fullmatch(r"query: 10000\d\d bytes; expected at most 4096", message(response))
    still_serving(served)


def test_no_file_outside_the_pages_is_served(served):
    for path in ("/qc/static/..%2F..%2F..%2Fetc%2Fpasswd", "/qc/static/../../setup.py", "/qc/static/%2e%2e/routes.py"):
        response = served.get(path)
        assert response.status_code == 404, path
        assert "root:" not in response.text and "setup(" not in response.text and "Blueprint" not in response.text
    still_serving(served)


def test_hostile_names_come_back_escaped(served):
    listing = served.get("/qc/").text
    tracker = served.get(f"/qc/experiment/{served.hostile_run_id}").text
    for text in (listing, tracker):
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>bold" not in text
    assert HOSTILE_NAME in {row["run_name"] for row in page_data(listing)["experiments"]}
    assert HOSTILE_EXPERIMENT in {row["experiment_name"] for row in page_data(listing)["experiments"]}
    assert page_data(tracker)["run"]["run_name"] == HOSTILE_NAME
    assert f"<title>{html.escape(HOSTILE_NAME)} · QC</title>" in tracker
    still_serving(served)


def whatif_post(served, run_id: str, body, **headers) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(
        f"{served.base}/qc/api/whatif/{run_id}",
        data=data,
        timeout=60,
        headers={"Content-Type": "application/json", **headers},
    )


def test_whatif_predictions_and_their_refusals(served):
    model = served.runs("model")[0]
    page = served.get(f"/qc/whatif/{model.info.run_id}")
    assert page.status_code == 200
    fields = page_data(page.text)["fields"]
    values = {field["name"]: field["default"] for field in fields}
    answer = whatif_post(served, model.info.run_id, {"values": values})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["prediction"] in ("M", "R")
    assert sum(p["probability"] for p in result["probabilities"]) == pytest.approx(1.0)
    first = fields[0]["name"]
    refused = whatif_post(served, model.info.run_id, {"values": {**values, first: "abc"}})
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == [first]
    assert refused.json()["fields"][first].startswith("'abc' is not a number; expected a number (training range ")
    unknown = whatif_post(served, model.info.run_id, {"values": {**values, "extra": "1"}})
    assert unknown.status_code == 400 and unknown.json()["fields"][""].startswith("unknown field(s) 'extra'")
    assert whatif_post(served, model.info.run_id, "not json").status_code == 400
    assert (
        whatif_post(served, model.info.run_id, {"values": values}, **{"Content-Type": "text/plain"}).status_code == 415
    )
    assert whatif_post(served, model.info.run_id, {"values": values}, Origin="http://evil.example").status_code == 403
    assert whatif_post(served, model.info.run_id, "x" * 70_000).status_code == 413
    assert "models:/sonar-pages/1" in page.text  # the version it loaded
    unregistered = served.runs("model")[1].info.run_id
    for refused in (served.get(f"/qc/whatif/{unregistered}"), whatif_post(served, unregistered, {"values": values})):
        assert refused.status_code == 404
        assert message(refused).startswith(f"run_id: run {unregistered}'s model is not a registered model version")
    again = whatif_post(served, model.info.run_id, {"values": values}).json()
    assert again["loaded_at"] == result["loaded_at"]  # the pyfunc was loaded once
    assert again["probabilities"] == result["probabilities"]
    still_serving(served)


def test_static_files_and_the_ping_for_reports(served):
    plotly = served.get("/qc/static/plotly.js", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200 and plotly.headers["Content-Encoding"] == "gzip"
    assert "plotly" in plotly.text[:2000].lower()
    again = served.get("/qc/static/plotly.js", headers={"If-None-Match": plotly.headers["ETag"]})
    assert again.status_code == 304
    ping = served.get("/qc/api/ping")
    assert ping.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.post(f"{served.base}/qc/api/ping", timeout=30).status_code == 405


def test_the_pages_also_run_under_gunicorn(served, tmp_path):
    """``mlflow server --gunicorn-opts``: the factory hands gunicorn MLflow's Flask app with the pages on it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "qc",
        "--backend-store-uri",
        served.trained.tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--gunicorn-opts",
        "--timeout 120 --graceful-timeout 5",
    ]
    with background_server(
        command, f"{base}/health", tmp_path / "gunicorn.log", served.trained.root, ready_seconds=120
    ):
        tracker = requests.get(f"{base}/qc/experiment/{served.trained.run_id}", timeout=60)
        assert tracker.status_code == 200 and page_data(tracker.text)["run"]["state"] == "finished"
        assert requests.get(f"{base}/qc/experiment/{UNKNOWN_RUN}", timeout=60).status_code == 404
        assert "/qc/static/model-training.js" in requests.get(f"{base}/", timeout=60).text
    assert "gunicorn" in (tmp_path / "gunicorn.log").read_text().lower()
