"""The prepared-data cache key covers the code that makes the arrays, not only the recipe and data."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mlflow_qc import prepare as preparation
from mlflow_qc.data.versioning import DatasetVersion
from mlflow_qc.recipe import load_recipe

ENCODER = """
from sklearn.preprocessing import FunctionTransformer


class Doubler(FunctionTransformer):
    def __init__(self):
        super().__init__(func=lambda x: x * {factor})
"""


@pytest.fixture
def recipe_with_user_encoder(tmp_path, monkeypatch):
    """A recipe whose encoder is a class of a user's module (``qc_user_encoders.Doubler``)."""
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]}).to_csv(tmp_path / "t.csv", index=False)
    module = tmp_path / "qc_user_encoders.py"
    module.write_text(ENCODER.format(factor=2))
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "r.yaml").write_text(
        "name: key\ndata:\n  inputs:\n    - dataset: {path: t.csv}\n      encoders: [{sklearn: qc_user_encoders.Doubler}]\n"
        "  target: {column: y}\n  version: 'off'\n"
    )
    return tmp_path / "r.yaml", module


def key_of(path) -> str:
    return preparation.cache_key(load_recipe(path), [DatasetVersion(path="t.csv", md5="0" * 32)])


def test_an_unchanged_recipe_keeps_its_key_and_an_edited_encoder_module_changes_it(recipe_with_user_encoder):
    path, module = recipe_with_user_encoder
    first = key_of(path)
    assert key_of(path) == first
    module.write_text(ENCODER.format(factor=3))
    assert key_of(path) != first


def test_an_edit_of_the_preparation_code_or_another_version_changes_the_key(
    recipe_with_user_encoder, tmp_path, monkeypatch
):
    path, _ = recipe_with_user_encoder
    first = key_of(path)
    copy = tmp_path / "mlflow_qc"
    shutil.copytree(preparation.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "demo", "ui"))
    monkeypatch.setattr(preparation, "PACKAGE_DIR", copy)
    preparation.preparation_code.cache_clear()
    try:
        assert key_of(path) == first  # the same source, read from elsewhere
        encoders = copy / "preprocess" / "encoders.py"
        encoders.write_text(encoders.read_text() + "\n# an edit\n")
        preparation.preparation_code.cache_clear()
        assert key_of(path) != first
    finally:
        monkeypatch.undo()
        preparation.preparation_code.cache_clear()
    assert key_of(path) == first
    monkeypatch.setattr(preparation, "_version", lambda package: "9.9" if package == "mlflow-qc" else None)
    preparation.preparation_code.cache_clear()
    try:
        assert key_of(path) != first
    finally:
        monkeypatch.undo()
        preparation.preparation_code.cache_clear()
    assert key_of(path) == first
