"""A job's qc/report.html opened in the MLflow UI (real server, headless Chromium): the plotly
figures render and no request leaves loopback. The screenshot is kept in test-artifacts/."""
from __future__ import annotations

import pytest

from tests.browser import is_local, loopback_only
from tests.helpers import REPO_ROOT, mlflow_server

pytestmark = pytest.mark.e2e

SCREENSHOT = REPO_ROOT / "test-artifacts" / "qc_report_in_mlflow_ui.png"


def test_job_report_renders_in_the_mlflow_ui_without_leaving_loopback(sonar_binary, chromium, tmp_path):
    job = sonar_binary.runs("job")[0]
    expected_figures = sum(len(s["figures"]) for s in sonar_binary.report(job.info.run_id)["sections"])

    with mlflow_server(sonar_binary.tracking_uri, sonar_binary.root, tmp_path / "server.log") as base:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        seen, refused = loopback_only(context)
        try:
            page = context.new_page()
            page.goto(f"{base}/#/experiments/{sonar_binary.experiment_id}/runs/{job.info.run_id}/artifactPath/qc/report.html")
            frame = page.wait_for_selector("iframe.mlflow-html-iframe", timeout=90_000).content_frame()
            frame.wait_for_selector("body[data-qc-rendered=true]", timeout=60_000)
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
