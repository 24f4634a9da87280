"""The QC pages in headless Chromium against a real ``mlflow server --app-name qc`` on loopback: the
tracker follows a training started in the background to its end without a reload, shows a killed one
as killed, the head-to-head draws both jobs' figures and the t-test, the what-if of a sonar model
re-predicts on every change and flags a non-number beside its field, and the MLflow UI itself opens a
qc experiment on its runs table. Screenshots go to test-artifacts/screenshots/ (README)."""

from __future__ import annotations

import signal
import time

import pytest
import requests

from tests.browser import is_local, loopback_only, screenshot
from tests.ui.conftest import HOSTILE_NAME, SONAR_PAGES, WATCHED, background_training, experiment_run_of, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    seen, refused = loopback_only(context)
    dialogs = []
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda line: errors.append(line.text) if "Content Security Policy" in line.text else None)
    yield page
    context.close()
    assert refused == [] and all(is_local(url) for url in seen)
    assert dialogs == []  # no script from a run name or param ever ran
    assert errors == []


def tracker_api(served, run_id: str) -> dict:
    return requests.get(f"{served.base}/qc/api/experiment/{run_id}", timeout=60).json()


def test_the_tracker_follows_a_background_training_until_it_finishes(served, page, tmp_path):
    log = tmp_path / "watched.log"
    training = background_training(served, "watched", WATCHED, log)
    try:
        run_id = wait_for(lambda: experiment_run_of(served, "watched"), 240, "the experiment run", training, log)
        page.goto(f"{served.base}/qc/experiment/{run_id}")
        page.wait_for_selector("#qc-count-finished")
        page.evaluate("window.qcSameDocument = true")
        seen, deadline = [], time.monotonic() + 300
        while time.monotonic() < deadline:
            seen.append(int(page.text_content("#qc-count-finished")))
            if page.get_attribute("body", "data-state") == "finished":
                break
            if 0 < seen[-1] and len(set(seen)) == 2 and seen.count(seen[-1]) == 1:
                screenshot(page, "qc_tracker_running.png")  # the first update seen, mid-training
            page.wait_for_timeout(400)
        assert page.get_attribute("body", "data-state") == "finished", (seen, log.read_text()[-2000:])
        assert training.wait(timeout=120) == 0, log.read_text()[-2000:]
    finally:
        if training.poll() is None:
            training.kill()
    assert page.evaluate("window.qcSameDocument") is True  # updated in place, never reloaded
    planned = int(page.text_content("#qc-count-planned"))
    assert planned == 12
    assert seen[0] < planned and seen[-1] == planned and seen == sorted(seen), seen
    assert len(set(seen)) >= 2, seen  # the count rose while the page was open
    assert page.locator("#qc-leaderboard tbody tr").count() == 4
    assert page.locator(".qc-state").first.text_content() == "finished"
    assert page.locator("#qc-top-two").get_attribute("href").startswith("/qc/compare?a=")
    screenshot(page, "qc_tracker.png")


def test_a_killed_training_shows_as_killed(served, page, tmp_path):
    log = tmp_path / "killed.log"
    training = background_training(served, "killed", {**WATCHED, "seed": 6}, log)
    try:
        run_id = wait_for(lambda: experiment_run_of(served, "killed"), 240, "the experiment run", training, log)
        wait_for(lambda: tracker_api(served, run_id)["counts"]["finished"] >= 1, 240, "a finished model", training, log)
        training.send_signal(signal.SIGTERM)
        assert training.wait(timeout=120) != 0
    finally:
        if training.poll() is None:
            training.kill()
    data = tracker_api(served, run_id)
    assert data["run"]["state"] == "killed" and data["eta"] is None
    assert data["run"]["error"] == "interrupted by signal 15"
    assert data["counts"]["running"] == 0 and 1 <= data["counts"]["finished"] < data["counts"]["planned"]
    page.goto(f"{served.base}/qc/experiment/{run_id}")
    page.wait_for_selector("body[data-state=killed]")
    assert "interrupted" in page.text_content(".qc-state-note")


def test_the_experiment_list_shows_names_as_text(served, page):
    page.goto(f"{served.base}/qc/")
    page.wait_for_selector("#qc-experiments")
    assert page.locator("#qc-experiments a.qc-run", has_text=HOSTILE_NAME).count() == 1
    row = page.locator(f"#qc-experiments tr[data-run-id='{served.stopped_run_id}']")
    assert row.locator(".qc-state").text_content() == "stopped"
    screenshot(page, "qc_experiments.png")


def test_the_head_to_head_of_two_jobs_draws_both_and_the_t_test(served, page):
    first, second = served.jobs()
    page.goto(f"{served.base}/qc/compare?a={first.info.run_id}&b={second.info.run_id}")
    page.wait_for_selector("body[data-qc-rendered=true]", timeout=120_000)
    figures = page.locator("script.qc-figure-data").count()
    assert figures >= 8  # ROC and PR per split, both confusion matrices per split
    assert page.locator(".js-plotly-plot").count() == figures
    roc = page.locator(".js-plotly-plot").first
    legend = " ".join(roc.locator(".legendtext").all_text_contents())
    assert "A:" in legend and "B:" in legend  # both jobs on one ROC
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 2  # a confusion matrix per side
    header = page.locator("#qc-metrics thead th").all_text_contents()
    assert header[:5] == ["split", "metric", "A", "B", "A - B"] and "p" in header
    row = page.locator("#qc-metrics tbody tr", has_text="fold_validation").filter(has_text="accuracy").first
    p_value = float(row.locator("td").nth(header.index("p")).text_content())
    assert 0.0 <= p_value <= 1.0
    assert "corrected resampled t-test" in page.text_content("main")
    screenshot(page, "qc_compare.png")


def probability(page, label: str) -> float:
    return float(page.locator(f"#qc-probability-table tr[data-class='{label}'] .qc-probability").text_content())


def answered(page, after: int) -> int:
    """Waits for the answer to the next request (the page numbers them; wait_for_function's eval is
    refused by the pages' Content-Security-Policy, as it should be)."""
    page.wait_for_selector(f"body[data-answered='{after + 1}'][data-pending='false']", timeout=120_000)
    return after + 1


def test_the_whatif_of_a_sonar_model_repredicts_and_flags_a_non_number(served, page):
    model = served.runs("model")[0]
    page.goto(f"{served.base}/qc/whatif/{model.info.run_id}")
    count = answered(page, 0)
    classes = page.locator("#qc-probability-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.class)")
    assert sorted(classes) == ["M", "R"]
    before = probability(page, "M")
    loaded_at = page.get_attribute("body", "data-loaded-at")
    top = page.locator("#qc-form input[data-field]").first  # the most important column comes first
    field = top.get_attribute("data-field")
    default = float(top.input_value())
    top.fill(str(default + 40.0))
    count = answered(page, count)
    after = probability(page, "M")
    assert after != pytest.approx(before, abs=1e-6)
    assert page.text_content("#qc-prediction") in ("M", "R")
    screenshot(page, "qc_whatif.png")  # a changed field and the model's answer to it
    top.fill("abc")
    count = answered(page, count)
    error = page.locator(f".qc-field-error[data-error-for='{field}']")
    assert error.text_content().startswith("'abc' is not a number; expected a number (training range")
    assert page.text_content("#qc-prediction") == "—"
    screenshot(page, "qc_whatif_refused.png")
    page.click("#qc-reset")
    answered(page, count)
    assert error.text_content() == ""
    assert probability(page, "M") == pytest.approx(before, abs=1e-12)
    assert page.get_attribute("body", "data-loaded-at") == loaded_at  # one load of the pyfunc for every prediction


def test_the_mlflow_ui_still_opens_a_qc_experiment_on_its_runs_table(served, page):
    page.goto(f"{served.base}/")
    link = page.locator("a", has_text="sonar-pages").first
    link.wait_for(timeout=120_000)
    link.click()
    page.wait_for_url("**/experiments/*/runs**", timeout=120_000)
    run_link = page.locator(f"a[href*='{served.trained.run_id}']").first
    run_link.wait_for(timeout=120_000)
    assert run_link.text_content().strip() == "sonar-pages"  # the experiment run is named after the recipe
    page.wait_for_timeout(500)
    screenshot(page, "mlflow_ui_runs.png")


def test_a_report_links_to_the_pages_and_shows_their_address_inside_the_mlflow_ui(served, page):
    job = served.jobs()[0]
    page.goto(f"{served.base}/qc/report/{job.info.run_id}")  # the report in a tab of its own
    page.wait_for_selector("body[data-qc-pages=shown]", timeout=120_000)
    page.wait_for_selector("body[data-qc-rendered=true]", timeout=120_000)
    page.locator("#qc-pages a", has_text="experiment tracker").click()
    page.wait_for_url(f"**/qc/experiment/{served.trained.run_id}", timeout=60_000)
    page.wait_for_selector("#qc-count-finished")
    page.goto(
        f"{served.base}/#/experiments/{served.trained.experiment_id}/runs/{job.info.run_id}/artifactPath/qc/report.html"
    )
    frame = page.wait_for_selector("iframe.mlflow-html-iframe", timeout=120_000).content_frame()
    frame.wait_for_selector("body[data-qc-pages=shown]", timeout=120_000)
    assert f"({served.base}/qc/experiment/{served.trained.run_id})" in frame.text_content("#qc-pages")


ADAPTIVE = {  # successive halving over 3 candidates: all on a third of each fold's training rows, the best on all
    "seed": 5,
    "data": SONAR_PAGES["data"],
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_binary",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [0.01, 0.1, 1.0]},
    },
    "search": {"method": "halving", "resource": "samples"},
}


def test_the_tracker_shows_each_jobs_rung_and_the_pruned_candidates(served, page, tmp_path):
    log = tmp_path / "adaptive.log"
    training = background_training(served, "adaptive-pages", ADAPTIVE, log)
    assert training.wait(timeout=240) == 0, log.read_text()[-2000:]
    run_id = experiment_run_of(served, "adaptive-pages")
    jobs = served.client().search_runs(
        [served.client().get_run(run_id).info.experiment_id],
        f"tags.`qc.level` = 'job' and tags.`mlflow.parentRunId` = '{run_id}'",
    )
    page.goto(f"{served.base}/qc/experiment/{run_id}")
    page.wait_for_selector("#qc-leaderboard tbody tr")
    rows = page.locator("#qc-leaderboard tbody tr")
    assert rows.count() == len(jobs) == 4
    shown = {rows.nth(i).locator("a").first.text_content(): rows.nth(i).text_content() for i in range(rows.count())}
    for job in jobs:
        text = shown[f"job {job.data.tags['qc.job_index']}"]
        assert f"rung {job.data.tags['qc.rung']}, resource {float(job.data.tags['qc.resource']):.3g}" in text
        assert ("pruned at rung 0" in text) == ("qc.pruned_at" in job.data.tags)
    assert page.locator(".qc-pruned").count() == 2
    screenshot(page, "qc_tracker_adaptive.png")
