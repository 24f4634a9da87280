"""Library-free parts: metric cutoffs, the user module's stable import, adapter lookup."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from adapter_fixtures import architecture, write_module

from mlflow_qc.errors import QCError
from mlflow_qc.models import adapter_class, cutoffs_met
from mlflow_qc.models.user_module import copy_user_module, import_saved_module, import_user_module, module_name

CUTOFFS = [
    {"metric": "val_accuracy", "cutoff": 0.9, "above_or_below": "above"},
    {"metric": "loss", "cutoff": 0.3, "above_or_below": "below"},
]


def test_cutoffs_need_every_metric_met():
    assert cutoffs_met(CUTOFFS, {"val_accuracy": [0.5, 0.9], "loss": [0.9, 0.3]})
    assert not cutoffs_met(CUTOFFS, {"val_accuracy": [0.95], "loss": [0.31]})
    assert not cutoffs_met(CUTOFFS, {"val_accuracy": 0.89, "loss": 0.1})  # Keras epoch logs
    assert cutoffs_met(CUTOFFS[0], {"val_accuracy": 0.95})  # a single mapping
    assert not cutoffs_met([], {"loss": [0.0]}) and not cutoffs_met(None, {})


@pytest.mark.parametrize(
    "cutoffs, message",
    [
        ([{"metric": "loss", "cutoff": 0.3}], "exactly the keys"),
        ([{"metric": "loss", "cutoff": 0.3, "above_or_below": "over"}], "'above' or 'below'"),
        ([{"metric": "loss", "cutoff": "low", "above_or_below": "below"}], "expected a number"),
        ([{"metric": "val_f1", "cutoff": 0.3, "above_or_below": "below"}], "metric 'val_f1' is not recorded"),
    ],
)
def test_bad_cutoffs_are_qc_errors(cutoffs, message):
    with pytest.raises(QCError, match=message) as error:
        cutoffs_met(cutoffs, {"loss": [1.0]})
    assert error.value.where == "model.hyperparameters.metric_cutoffs"


def test_user_module_imports_under_a_name_from_its_content(tmp_path):
    first = write_module(tmp_path / "a", "VALUE = 1\n", "mine.py")
    same = write_module(tmp_path / "b", "VALUE = 1\n", "other.py")
    changed = write_module(tmp_path / "c", "VALUE = 2\n", "mine.py")
    assert module_name(first) == module_name(same) != module_name(changed)
    module = import_user_module(first)
    assert sys.modules[module.__name__] is module and module.VALUE == 1
    assert import_user_module(changed).VALUE == 2
    copy_user_module(changed, tmp_path)
    assert import_saved_module(tmp_path).__name__ == module_name(changed)
    assert import_saved_module(tmp_path / "a") is None  # no saved copy there


def test_a_module_that_fails_to_import_is_not_left_half_registered(tmp_path):
    path = write_module(tmp_path, "raise RuntimeError('broken module')\n")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="broken module"):
            import_user_module(path)
    assert module_name(path) not in sys.modules


def test_adapter_lookup():
    assert adapter_class("sklearn").library == "sklearn"
    with pytest.raises(QCError, match="not supported"):
        adapter_class("jax")


def test_output_checks_and_label_conventions(tmp_path):
    from mlflow_qc.models.base import ModelAdapter

    class Probe(ModelAdapter):
        library = "probe"
        fit = predict = loss = _save_model = load = None

    module = write_module(tmp_path, "def fn_build(*a, **k):\n    pass\n")
    binary = Probe(architecture("pytorch", "binary", module))
    assert binary.n_classes == 2
    assert binary.shaped_output(np.array([[0.2, 0.8], [0.6, 0.4]])).tolist() == [[0.8], [0.4]]
    assert binary.shaped_output((np.array([1, 0]), np.array([0.7, 0.1]))).tolist() == [[0.7], [0.1]]
    multi = Probe(architecture("pytorch", "multi_ordinal", module), n_classes=4)
    ordinal = np.array([[0.0], [3.0]])
    assert multi.output_shape(ordinal) == (4,) and multi.class_index(ordinal).tolist() == [0, 3]
    assert multi.class_index(np.eye(4)[[2, 1]]).tolist() == [2, 1]
    with pytest.raises(QCError, match=r"expected \(4,\)"):
        multi.shaped_output(np.ones((2, 3)))
