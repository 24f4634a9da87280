"""Shared fixtures: a real git + DVC workspace with a local remote, a real sqlite MLflow store."""

from __future__ import annotations

import os

import pytest

from tests.helpers import demo_project

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# MLflow's server starts a job runner (three huey processes, each importing MLflow) for GenAI jobs that no
# test here uses: without it each `mlflow server` of the suite starts in a fraction of the CPU.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
os.environ.setdefault("GIT_AUTHOR_NAME", "qc-tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "qc-tests@example.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "qc-tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "qc-tests@example.invalid")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["MLFLOW_QC_CACHE"] = str(tmp_path_factory.mktemp("qc-cache"))
    os.environ["MLFLOW_QC_QUIET"] = "1"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh project: git + DVC repo, demo data, sqlite tracking store; cwd inside it (a copy of a
    template built once per session)."""
    root = demo_project(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(leaked, raising=False)  # mlflow.set_experiment / set_registry_uri elsewhere export these
    return root


@pytest.fixture
def inside(monkeypatch):
    """Point this process's MLflow at a trained project (in-process API calls): cwd and tracking URI."""

    def enter(project):
        monkeypatch.chdir(project.root)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
        return project

    return enter


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for every browser test of the session (Playwright's sync API allows one at a time)."""
    from tests.browser import CHROMIUM, launch

    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


# Folders whose tests share session fixtures (trained projects, servers): under pytest-xdist each folder
# goes to one worker, which trains them once; every other test file goes whole to one worker, so its
# module fixtures are built once too. (A scheduler, not xdist_group marks: pytest-xdist 3.8 cannot rename
# pytest 9's node ids, so --dist loadgroup sends marked tests anywhere.)
SHARED_FIXTURE_FOLDERS = ("serve", "ui", "evaluate", "data")  # the longest first


def shared_folder(nodeid: str) -> str | None:
    """The shared-fixture folder of a test (``tests/serve/test_x.py::test_y`` -> ``serve``), or None."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 and parts[1] in SHARED_FIXTURE_FOLDERS else None


def pytest_collection_modifyitems(items):
    """Under pytest-xdist the shared-fixture folders are handed out first, longest first, so that no
    worker starts one of them when the others are nearly done."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {folder: number for number, folder in enumerate(SHARED_FIXTURE_FOLDERS)}
    items.sort(key=lambda item: rank.get(shared_folder(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FolderScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shared_folder(nodeid) or nodeid.split("::", 1)[0]

    return FolderScheduling(config, log)
