"""The QC pages for a lab: one real ``mlflow server --app-name qc-auth`` on loopback (MLflow's basic
authentication, its users and permissions) over a small hand-logged store, shared by this module.

Every ``/qc/`` route asks for credentials; a user sees only the experiments MLflow lets them read;
the what-if page never loads an unregistered model (a pickle that would write a marker file stays
unread), and a registered model that hangs in ``predict`` costs its request a 504, not the server.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
import requests
from flask import Flask
from mlflow import MlflowClient
from playwright.sync_api import Error as PlaywrightError

from tests.browser import is_local, loopback_only, screenshot
from tests.helpers import background_server, free_port
from tests.ui.conftest import logging_to

pytestmark = pytest.mark.e2e

ADMIN = ("admin", "admin-password-for-tests")
BOB = ("bob", "bob-password-for-tests")  # MLflow asks for 12 characters at least
PREDICT_TIMEOUT = 5  # MLFLOW_QC_WHATIF_TIMEOUT of the server; the sleepy model sleeps 60 s
MEMORY_MB = 3072  # MLFLOW_QC_WHATIF_MEMORY_MB of the server: the sleepy model's worker peaks at ~0.7 GB
SLEEP_FROM = 1000  # the sleepy model sleeps for x >= this

SLEEPY_MODEL = """
import os
import time
from pathlib import Path

import mlflow
import pandas as pd


class Sleepy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        x = float(model_input["x"].iloc[0])
        if x == -1:
            os._exit(3)  # a crash
        if x == -2:
            bytearray(8 * 1024 ** 3)  # past the worker's memory limit
        if x >= {sleep_from}:
            Path({started!r}).write_text("sleeping")
            time.sleep(60)
        return pd.DataFrame({{"y": [2 * x]}})


mlflow.models.set_model(Sleepy())
"""


class Planted:
    """A pickle that writes ``marker`` when it is loaded: what a stranger's model run could carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('unpickled')",)


@dataclass
class Lab:
    base: str
    log: Path
    open_run: str  # experiment run of an experiment everyone may read
    private_run: str  # experiment run of an experiment bob may not read
    private_model: str  # a registered model run in the private experiment
    sleepy: str  # a registered model run whose model sleeps 60 s for x >= SLEEP_FROM
    planted: str  # an unregistered model run whose pickle writes ``marker`` when loaded
    marker: Path
    pickle_path: Path
    started: Path

    def get(self, path: str, user=ADMIN, **kwargs) -> requests.Response:
        return requests.get(f"{self.base}{path}", auth=user, timeout=60, **kwargs)

    def post(self, path: str, body, user=ADMIN, headers=None) -> requests.Response:
        return requests.post(
            f"{self.base}{path}",
            data=json.dumps(body),
            auth=user,
            timeout=60,
            headers={"Content-Type": "application/json", **(headers or {})},
        )


def experiment_run(client: MlflowClient, name: str) -> str:
    experiment = client.create_experiment(name)
    run = client.create_run(
        experiment,
        run_name=name,
        tags={"qc.level": "experiment", "qc.resume_key": name, "qc.models_planned": "1", "qc.models_finished": "1"},
    )
    client.log_text(run.info.run_id, f"<html><body><p id='report'>{name}</p></body></html>", "qc/report.html")
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def registered_model_run(client: MlflowClient, experiment_id: str, model_file: Path, name: str) -> str:
    """A model run whose pyfunc (a model from code: nothing pickled) is registered as ``name``."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags={"qc.level": "model"}) as run:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(model_file),
            input_example=pd.DataFrame({"x": [1.0]}),
            pip_requirements=["mlflow"],
        )
    mlflow.register_model(info.model_uri, name)
    return run.info.run_id


def planted_model_run(client: MlflowClient, experiment_id: str, folder: Path, marker: Path) -> tuple[str, Path]:
    """An unregistered model run whose ``model/python_model.pkl`` writes ``marker`` when unpickled."""
    import mlflow

    mlflow.pyfunc.save_model(str(folder), python_model=mlflow.pyfunc.PythonModel(), pip_requirements=["mlflow"])
    pickled = folder / "python_model.pkl"
    assert pickled.is_file()
    pickled.write_bytes(pickle.dumps(Planted(marker)))
    run = client.create_run(experiment_id, run_name="planted", tags={"qc.level": "model"})
    client.log_artifacts(run.info.run_id, str(folder), "model")
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id, pickled


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    root = tmp_path_factory.mktemp("qc-lab")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    marker, started = root / "unpickled.txt", root / "sleeping.txt"
    model_file = root / "sleepy_model.py"
    model_file.write_text(SLEEPY_MODEL.format(sleep_from=SLEEP_FROM, started=str(started)))
    client = MlflowClient(tracking_uri)
    with logging_to(tracking_uri):
        open_run, private_run = experiment_run(client, "open-lab"), experiment_run(client, "private-lab")
        open_id = client.get_run(open_run).info.experiment_id
        private_id = client.get_run(private_run).info.experiment_id
        sleepy = registered_model_run(client, open_id, model_file, "sleepy")
        private_model = registered_model_run(client, private_id, model_file, "private-sleepy")
        planted, pickle_path = planted_model_run(client, open_id, root / "planted", marker)
    (root / "basic_auth.ini").write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN[0]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")}
    env = {
        **clean,
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-secret-key-for-the-tests",
        "MLFLOW_QC_WHATIF_TIMEOUT": str(PREDICT_TIMEOUT),
        "MLFLOW_QC_WHATIF_MEMORY_MB": str(MEMORY_MB),
    }
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "qc-auth",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = root / "server.log"
    with background_server(command, f"{base}/health", log, root, env=env, ready_seconds=240):
        from mlflow.server import get_app_client

        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1]}):
            users = get_app_client("basic-auth", tracking_uri=base)
            users.create_user(*BOB)
            users.grant_user_permission(BOB[0], "experiment", private_id, "DENY")
        yield Lab(base, log, open_run, private_run, private_model, sleepy, planted, marker, pickle_path, started)


def qc_paths(lab: Lab) -> list[tuple[str, str]]:
    """(method, path) of every route of the pages, each with a real run id where it takes one."""
    from mlflow_qc.ui.routes import pages_blueprint

    app = Flask("routes-of-the-pages")
    app.register_blueprint(pages_blueprint, url_prefix="/qc")
    values = {"run_id": lab.open_run, "name": "qc.js"}
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("qc."):
            path = rule.rule
            for name, value in values.items():
                path = path.replace(f"<{name}>", value)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                paths.append((method, path))
    return paths


def test_every_page_and_its_json_ask_for_credentials(lab):
    paths = qc_paths(lab)
    assert ("GET", "/qc/") in paths and ("POST", f"/qc/api/whatif/{lab.open_run}") in paths and len(paths) >= 10
    paths.append(("GET", f"/qc/compare?a={lab.open_run}&b={lab.private_run}"))
    for method, path in paths:
        for user in (None, (ADMIN[0], "not-the-password"), ("nobody", "nobody-password")):
            response = requests.request(method, f"{lab.base}{path}", auth=user, timeout=60, json={"values": {}})
            assert response.status_code == 401, (method, path, user, response.status_code)
            assert response.headers["WWW-Authenticate"].startswith("Basic")
            assert "qc-root" not in response.text and lab.open_run not in response.text
    assert lab.get("/qc/").status_code == 200
    assert requests.get(f"{lab.base}/health", timeout=30).status_code == 200  # MLflow's own unprotected route


def experiment_ids(response: requests.Response) -> set[str]:
    return {row["run_id"] for row in response.json()["experiments"]}


def test_the_admin_sees_every_experiment_and_a_user_only_those_they_may_read(lab):
    assert {lab.open_run, lab.private_run} <= experiment_ids(lab.get("/qc/api/experiments"))
    assert lab.private_run in lab.get("/qc/").text
    for path in (
        f"/qc/experiment/{lab.private_run}",
        f"/qc/api/experiment/{lab.private_run}",
        f"/qc/report/{lab.private_run}",
    ):
        assert lab.get(path).status_code == 200, path
    seen = experiment_ids(lab.get("/qc/api/experiments", BOB))
    assert lab.open_run in seen and lab.private_run not in seen
    assert lab.private_run not in lab.get("/qc/", BOB).text
    assert lab.get(f"/qc/experiment/{lab.open_run}", BOB).status_code == 200
    assert lab.get(f"/qc/report/{lab.open_run}", BOB).status_code == 200
    for path in (
        f"/qc/experiment/{lab.private_run}",
        f"/qc/api/experiment/{lab.private_run}",
        f"/qc/report/{lab.private_run}",
        f"/qc/whatif/{lab.private_model}",
        f"/qc/compare?a={lab.private_model}&b={lab.sleepy}",
    ):
        response = lab.get(path, BOB)
        assert response.status_code == 403, (path, response.status_code)
        assert "which you may not read" in response.text and "private-lab" not in response.text
    assert {lab.sleepy, lab.private_model} <= set(re.findall(r"/qc/whatif/([0-9a-f]{32})", lab.get("/qc/whatif/").text))
    assert set(re.findall(r"/qc/whatif/([0-9a-f]{32})", lab.get("/qc/whatif/", BOB).text)) == {lab.sleepy}
    refused = lab.post(f"/qc/api/whatif/{lab.private_model}", {"values": {"x": "1"}}, BOB)
    assert refused.status_code == 403 and "which you may not read" in refused.json()["error"]


def test_the_pages_keep_mlflow_security_headers_host_check_and_no_state_change_by_get(lab):
    page = lab.get("/qc/")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"  # MLflow's security middleware, not the pages'
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    rebound = lab.get("/qc/", headers={"Host": "attacker.example"})  # DNS rebinding: MLflow's host check
    assert rebound.status_code == 403 and "qc-root" not in rebound.text
    assert lab.get(f"/qc/api/whatif/{lab.sleepy}").status_code == 405  # predictions by POST only
    cross = lab.post(
        f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "1"}}, headers={"Origin": "http://attacker.example"}
    )
    assert cross.status_code == 403


def test_an_unregistered_model_is_never_unpickled(lab):
    """Opened on the what-if page by anyone, the planted run is refused before its pickle is read."""
    for user in (ADMIN, BOB, None):
        page = lab.get(f"/qc/whatif/{lab.planted}", user)
        answer = lab.post(f"/qc/api/whatif/{lab.planted}", {"values": {}}, user)
        if user is None:
            assert page.status_code == answer.status_code == 401
        else:
            assert page.status_code == 404 and "is not a registered model version" in page.text
            assert answer.status_code == 404 and "expected a registered model" in answer.json()["error"]
    assert not lab.marker.exists()
    assert lab.get("/qc/api/ping").json() == {"qc": True}
    pickle.loads(lab.pickle_path.read_bytes())  # the planted pickle was live: loading it writes the marker
    assert lab.marker.read_text() == "unpickled"
    lab.marker.unlink()


def test_a_registered_model_that_hangs_times_out_while_other_requests_are_served(lab):
    page = lab.get(f"/qc/whatif/{lab.sleepy}")
    assert page.status_code == 200 and "models:/sleepy/1" in page.text
    assert lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "2"}}).json()["prediction"] == 4.0
    slow = {}
    thread = threading.Thread(
        target=lambda: slow.update(
            response=lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": str(SLEEP_FROM)}})
        )
    )
    started = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 60
    while not lab.started.exists() and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert lab.started.exists(), lab.log.read_text()[-3000:]  # the worker is in predict, asleep
    served = [
        lab.get("/qc/api/experiments"),
        lab.get(f"/qc/experiment/{lab.open_run}"),
        requests.get(f"{lab.base}/health", timeout=30),
    ]
    assert thread.is_alive()  # still waiting on the sleeping model while those were answered
    assert [response.status_code for response in served] == [200, 200, 200]
    thread.join(timeout=60)
    assert not thread.is_alive()
    response = slow["response"]
    assert response.status_code == 504, response.text
    assert response.json()["error"].startswith(f"model: no answer to predict within {PREDICT_TIMEOUT} s")
    assert time.monotonic() - started < 40  # answered at the time limit, not after the model's 60 s
    again = lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "3"}})  # a new worker for the next request
    assert again.status_code == 200 and again.json()["prediction"] == 6.0


def test_a_model_that_crashes_or_runs_out_of_memory_costs_its_own_request_only(lab):
    assert lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "5"}}).json()["prediction"] == 10.0
    memory = lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "-2"}})
    assert memory.status_code == 422 and memory.json()["error"].startswith("model: predict: MemoryError")
    crash = lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "-1"}})
    assert crash.status_code == 502
    assert crash.json()["error"].startswith("model: the model's worker exited (code 3) during predict")
    assert lab.get("/qc/api/ping").json() == {"qc": True}
    assert lab.post(f"/qc/api/whatif/{lab.sleepy}", {"values": {"x": "7"}}).json()["prediction"] == 14.0


def test_in_a_browser_each_user_sees_their_experiments(lab, chromium):
    seen_by = {}
    for user in (ADMIN, BOB):
        context = chromium.new_context(
            viewport={"width": 1200, "height": 800}, http_credentials={"username": user[0], "password": user[1]}
        )
        seen, refused = loopback_only(context)
        errors = []
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{lab.base}/qc/")
        page.wait_for_selector(f'a[href="/qc/experiment/{lab.open_run}"]')
        seen_by[user[0]] = page.locator("#qc-root").inner_text()
        if user is ADMIN:
            screenshot(page, "qc_auth_experiments.png")
        context.close()
        assert refused == [] and all(is_local(url) for url in seen) and errors == []
    assert "private-lab" in seen_by["admin"] and "open-lab" in seen_by["admin"]
    assert "private-lab" not in seen_by["bob"] and "open-lab" in seen_by["bob"]
    for credentials in (None, {"username": BOB[0], "password": "not-the-password"}):
        stranger = chromium.new_context(http_credentials=credentials)
        try:
            assert stranger.request.get(f"{lab.base}/qc/").status == 401
            page = stranger.new_page()
            try:  # Chromium shows the 401 answer, or (credentials refused) stops with an error: never the page
                response = page.goto(f"{lab.base}/qc/")
                assert response.status == 401 and page.locator("#qc-root").count() == 0
            except PlaywrightError as refused:
                assert "ERR_INVALID_AUTH_CREDENTIALS" in str(refused)
        finally:
            stranger.close()
