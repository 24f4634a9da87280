"""A job's qc/report.html opened in the MLflow UI (real server, headless Chromium): the plotly
figures render and no request leaves loopback. The screenshot is kept in test-artifacts/."""

from __future__ import annotations

import re

import pytest

from tests.browser import is_local, loopback_only
from tests.helpers import REPO_ROOT, mlflow_server

pytestmark = pytest.mark.e2e

SCREENSHOT = REPO_ROOT / "test-artifacts" / "qc_report_in_mlflow_ui.png"


def open_report(page, base: str, trained, run_id: str):
    """A run's qc/report.html in the MLflow UI's artifact viewer, once its figures are drawn: its frame."""
    page.goto(f"{base}/#/experiments/{trained.experiment_id}/runs/{run_id}/artifactPath/qc/report.html")
    frame = page.wait_for_selector("iframe.mlflow-html-iframe", timeout=90_000).content_frame()
    frame.wait_for_selector("body[data-qc-rendered=true]", timeout=60_000)
    return frame


def test_job_report_renders_in_the_mlflow_ui_without_leaving_loopback(sonar_binary, chromium, tmp_path):
    job = sonar_binary.runs("job")[0]
    expected_figures = sum(len(s["figures"]) for s in sonar_binary.report(job.info.run_id)["sections"])

    with mlflow_server(sonar_binary.tracking_uri, sonar_binary.root, tmp_path / "server.log") as base:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        seen, refused = loopback_only(context)
        try:
            page = context.new_page()
            frame = open_report(page, base, sonar_binary, job.info.run_id)
            plots = frame.locator(".js-plotly-plot")
            assert plots.count() == expected_figures
            assert frame.locator(".js-plotly-plot .main-svg").count() >= expected_figures
            assert frame.locator(".js-plotly-plot .scatterlayer .trace").count() > 0  # curves drawn
            assert frame.locator(".js-plotly-plot .heatmaplayer image, .js-plotly-plot .heatmaplayer .hm").count() > 0
            plots.first.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            context.close()
    assert seen, "no request was recorded"
    assert refused == []
    outside = [u for u in seen if not is_local(u)]
    assert outside == []
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_model_runs_metrics_and_a_job_report_read_at_a_glance(signal_forests, chromium, tmp_path):
    """The MLflow UI's metrics tab of a model run shows the split metrics, not a chart per importance
    column; a job run is named with its hyperparameters; its report opens on a figure."""
    from tests.browser import SCREENSHOTS

    job = signal_forests.runs("job", "params.min_samples_leaf = '5' and params.random_state = '1'")[0]
    assert job.info.run_name.endswith(": min_samples_leaf=5 n_estimators=40 random_state=1")
    model = signal_forests.runs("model", "params.min_samples_leaf = '5'")[0]
    assert not [key for key in model.data.metrics if key.startswith("importance_")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with mlflow_server(signal_forests.tracking_uri, signal_forests.root, tmp_path / "server.log") as base:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        _, refused = loopback_only(context)
        try:
            page = context.new_page()
            page.goto(f"{base}/#/experiments/{signal_forests.experiment_id}/runs/{model.info.run_id}/model-metrics")
            page.get_by_text("fold_validation_mcc").first.wait_for(timeout=90_000)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=60_000)
            # 3 splits x 10 metrics + fit_seconds; no importance_<column> chart
            assert re.search(r"Model metrics\s*\(31\)", page.inner_text("body"))
            assert page.get_by_text("importance_signal").count() == 0
            close_assistant(page)
            page.screenshot(path=str(SCREENSHOTS / "model_run_metrics.png"))

            frame = open_report(page, base, signal_forests, job.info.run_id)
            close_assistant(page)
            first = frame.locator("h2").first
            assert first.text_content() == "ROC curves"  # the figures first, the tables of numbers after them
            page.screenshot(path=str(SCREENSHOTS / "job_report_top.png"))
            for title, name in (
                ("Calibration", "job_report_calibration.png"),
                ("Confusion matrices", "job_report_confusion.png"),
            ):
                frame.locator("h2", has_text=title).scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / name))
        finally:
            context.close()
    assert refused == []
    assert (SCREENSHOTS / "model_run_metrics.png").stat().st_size > 10_000


def close_assistant(page) -> None:
    """MLflow 3.17's assistant panel takes a third of the window; closed when it is open."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()
        page.wait_for_timeout(500)
