"""The MLflow UI's own Models tab of a qc experiment lists its models (MLflow 3 logged models, one per model run),
in headless Chromium against the session's ``mlflow-qc ui`` server (issue 25). Screenshot: mlflow_ui_models.png."""

from __future__ import annotations

import mlflow
import pytest

from tests.browser import is_local, loopback_only, screenshot

pytestmark = pytest.mark.e2e


def test_the_experiment_s_models_tab_lists_every_model(served, chromium):
    client = served.client()
    experiment_id = client.get_run(served.trained.run_id).info.experiment_id
    logged = list(client.search_logged_models(experiment_ids=[experiment_id]))
    model_runs = {run.info.run_id for run in served.runs("model") if run.info.status == "FINISHED"}
    assert {model.source_run_id for model in logged} == model_runs and len(logged) == len(model_runs)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    seen, refused = loopback_only(context)
    page = context.new_page()
    try:
        page.goto(f"{served.base}/#/experiments/{experiment_id}/models")
        for model in logged:
            page.locator(f"a[href*='{model.model_id}']").first.wait_for(timeout=120_000)
        page.wait_for_timeout(500)
        screenshot(page, "mlflow_ui_models.png")
    finally:
        context.close()
    assert refused == [] and all(is_local(url) for url in seen)
    assert mlflow.entities.LoggedModelStatus.READY in {model.status for model in logged}
