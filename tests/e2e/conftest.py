"""The end-to-end tests' workspace: the root conftest's, with its sqlite tracking store already made."""

from __future__ import annotations

import pytest

from tests.helpers import ready_store


@pytest.fixture
def workspace(workspace):
    """A fresh project (tests/conftest.py) whose ``mlflow.db`` is an empty store of this MLflow's schema: each
    test's first command (often ``mlflow run``'s launcher) skips MLflow's ~2 s of migrations. A test of a store
    that does not exist yet removes it."""
    ready_store(workspace / "mlflow.db")
    return workspace
