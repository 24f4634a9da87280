"""PyTorch adapter: defaults, user functions, determinism, batching, early stopping, save/load."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from adapter_fixtures import (
    ANALYSES,
    OUTPUT_ACTIVATION,
    Split,
    architecture,
    assert_output_and_history,
    make_data,
    run_python,
    write_module,
)

from mlflow_qc.errors import QCError
from mlflow_qc.models import adapter_for, load_model, load_trained

# torch is imported by the tests that use it (and by the adapter), not when the suite is collected.

MODULE = """
import torch
from torch import nn


class Net(nn.Module):
    # One branch per input, so multi-input models get the list of tensors.
    def __init__(self, widths, outputs, activation):
        super().__init__()
        self.branches = nn.ModuleList(nn.Linear(width, 8) for width in widths)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.1), nn.Linear(8 * len(widths), outputs))
        self.activation = activation

    def forward(self, features):
        features = features if isinstance(features, list) else [features]
        out = self.head(torch.cat([b(f) for b, f in zip(self.branches, features)], dim=1))
        if self.activation == "sigmoid":
            return torch.sigmoid(out)
        return torch.softmax(out, dim=1) if self.activation == "softmax" else out


def fn_build(features_shape, label_shape, **hp):
    shapes = features_shape if isinstance(features_shape, list) else [features_shape]
    return Net([shape[-1] for shape in shapes], label_shape[-1], hp["out"])
"""


@pytest.fixture(scope="module")
def module_path(tmp_path_factory):
    return write_module(tmp_path_factory.mktemp("torch_user"), MODULE)


def fit(module_path, kind, seed=0, inputs=1, **hp):
    train, evaluation = make_data(kind, inputs=inputs)
    adapter = adapter_for(architecture("pytorch", kind, module_path), n_classes=3 if kind.startswith("multi") else None)
    trained = adapter.fit(
        train, evaluation, {"out": OUTPUT_ACTIVATION[kind], "epochs": 4, "batch_size": 16, **hp}, seed
    )
    return adapter, trained, train, evaluation


@pytest.mark.parametrize("kind", ANALYSES)
def test_fit_predict_shapes_and_history(module_path, kind):
    adapter, trained, train, evaluation = fit(module_path, kind)
    output = adapter.predict(trained.model, evaluation.features)
    assert_output_and_history(kind, output, trained.history, epochs=4)
    # The reported loss is the training loss applied to the predict() output.
    assert adapter.loss(trained.model, evaluation.label, output, {}) == pytest.approx(
        trained.history["val_loss"][-1], rel=1e-4
    )


def test_multi_input_gets_the_list(module_path):
    adapter, trained, _, evaluation = fit(module_path, "binary", inputs=2)
    assert len(evaluation.features) == 2
    output = adapter.predict(trained.model, evaluation.features)
    assert output.shape == (24, 1)
    # Adapters travel to worker processes: they pickle without the user's functions.
    clone = pickle.loads(pickle.dumps(adapter))
    assert "functions" not in vars(clone)
    np.testing.assert_array_equal(clone.predict(trained.model, evaluation.features), output)


def test_same_seed_same_model_other_seed_differs(module_path):
    first = fit(module_path, "multi_ordinal", seed=3)
    second = fit(module_path, "multi_ordinal", seed=3)
    other = fit(module_path, "multi_ordinal", seed=4)
    features = first[3].features
    predict = lambda run: run[0].predict(run[1].model, features)  # noqa: E731
    np.testing.assert_array_equal(predict(first), predict(second))
    assert first[1].history == second[1].history
    assert not np.array_equal(predict(first), predict(other))


def test_batches_keep_rows_paired_and_reshuffle_each_epoch():
    import torch

    from mlflow_qc.models import batches

    rows = torch.arange(11, dtype=torch.float32)
    features = [rows[:, None] * 10, rows[:, None] * 100]
    generator = torch.Generator().manual_seed(5)
    epochs = [list(batches(features, rows, 4, generator)) for _ in range(2)]
    for epoch in epochs:
        seen = torch.cat([label for _, label in epoch])
        for (first, second), label in epoch:
            assert torch.equal(first[:, 0], label * 10) and torch.equal(second[:, 0], label * 100)
        assert len(seen) == 11 and sorted(seen.tolist()) == list(range(11))
    assert not torch.equal(torch.cat([b[1] for b in epochs[0]]), torch.cat([b[1] for b in epochs[1]]))
    # A trailing batch of one sample is dropped (BatchNorm cannot train on it).
    assert [len(label) for _, label in batches(features, rows, 5, generator)] == [5, 5]


def test_shuffled_training_learns_when_label_is_a_feature(module_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    x[:, 2] = rng.integers(0, 2, size=200)
    label = x[:, 2:3].copy()  # rows only stay learnable if features and labels shuffle together
    split = Split([x], label)
    adapter = adapter_for(architecture("pytorch", "binary", module_path))
    trained = adapter.fit(split, split, {"out": "sigmoid", "epochs": 40, "batch_size": 16, "learning_rate": 0.02}, 0)
    assert trained.history["accuracy"][-1] > 0.97
    assert ((adapter.predict(trained.model, [x]) > 0.5) == label).mean() > 0.97


def test_metric_cutoff_stops_early(module_path):
    cutoffs = [
        {"metric": "accuracy", "cutoff": 0.0, "above_or_below": "above"},
        {"metric": "val_loss", "cutoff": 100.0, "above_or_below": "below"},
    ]
    _, trained, _, _ = fit(module_path, "binary", epochs=30, metric_cutoffs=cutoffs)
    assert len(trained.history["loss"]) == 1
    _, never, _, _ = fit(
        module_path,
        "binary",
        epochs=3,
        metric_cutoffs={"metric": "val_accuracy", "cutoff": 2, "above_or_below": "above"},
    )
    assert len(never.history["loss"]) == 3


def test_custom_functions_are_used(tmp_path):
    source = (
        MODULE
        + """
from mlflow_qc.models import train_loop
CALLS = []

def fn_lose(**hp):
    CALLS.append(("lose", hp["note"]))
    return nn.L1Loss()

def fn_optimize(model, **hp):
    return torch.optim.SGD(model.parameters(), lr=0.05)

def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    CALLS.append(("train", type(train_features).__name__, train_label.dtype))
    return train_loop(model, loser, optimizer, train_features, train_label, eval_features, eval_label,
                      analysis_type="regression", seed=1, **hp)

def fn_predict(model, features):
    return "ignored prediction", model(features) * 0 + 0.5
"""
    )
    path = write_module(tmp_path, source)
    train, evaluation = make_data("regression")
    adapter = adapter_for(architecture("pytorch", "regression", path))
    trained = adapter.fit(train, evaluation, {"out": None, "epochs": 2, "note": "passed through"}, 0)
    calls = adapter.functions["fn_build"].__globals__["CALLS"]
    torch = adapter.functions["fn_build"].__globals__["torch"]
    assert calls == [("lose", "passed through"), ("train", "Tensor", torch.float32)]
    assert set(trained.history) == {"loss", "mae", "val_loss", "val_mae"}
    output = adapter.predict(trained.model, evaluation.features)
    assert (output == 0.5).all()
    assert adapter.loss(trained.model, evaluation.label, output, {"note": "x"}) == pytest.approx(
        np.abs(evaluation.label - 0.5).mean(), rel=1e-5
    )


def test_user_exception_propagates_unchanged_and_none_is_explained(tmp_path):
    raising = write_module(
        tmp_path / "a", "def fn_build(features_shape, label_shape, **hp):\n    raise KeyError('neuron_count')\n"
    )
    train, evaluation = make_data("binary")
    with pytest.raises(KeyError, match="neuron_count"):
        adapter_for(architecture("pytorch", "binary", raising)).fit(train, evaluation, {}, 0)
    empty = write_module(tmp_path / "b", "def fn_build(features_shape, label_shape, **hp):\n    pass\n")
    with pytest.raises(QCError, match="fn_build: returned None"):
        adapter_for(architecture("pytorch", "binary", empty)).fit(train, evaluation, {}, 0)
    missing = write_module(tmp_path / "c", "x = 1\n")
    with pytest.raises(QCError, match="defines no fn_build"):
        adapter_for(architecture("pytorch", "binary", missing)).fit(train, evaluation, {}, 0)


def test_wrong_output_width_is_explained(module_path):
    train, evaluation = make_data("multi_ordinal")
    adapter = adapter_for(architecture("pytorch", "multi_ordinal", module_path), n_classes=4)  # model builds 4 outputs
    trained = adapter.fit(train, evaluation, {"out": "softmax", "epochs": 1}, 0)
    assert adapter.predict(trained.model, evaluation.features).shape == (24, 4)
    adapter.n_classes = 5
    with pytest.raises(QCError, match=r"expected \(5,\)"):
        adapter.predict(trained.model, evaluation.features)


def test_saved_model_loads_in_a_fresh_process_without_the_user_module(tmp_path):
    original = write_module(tmp_path / "user", MODULE)
    adapter, trained, _, evaluation = fit(original, "multi_onehot")
    expected = adapter.predict(trained.model, evaluation.features)
    adapter.save(trained.model, tmp_path / "saved")
    shutil.rmtree(tmp_path / "user")
    np.save(tmp_path / "features.npy", evaluation.features[0])
    run_python(
        f"""
        import sys
        import numpy as np
        from mlflow_qc.models import load_model, load_trained
        model = load_model("pytorch", {str(tmp_path / "saved")!r})
        adapter, again = load_trained({str(tmp_path / "saved")!r})
        features = [np.load({str(tmp_path / "features.npy")!r})]
        np.save({str(tmp_path / "out.npy")!r}, adapter.predict(model, features))
        assert type(again).__module__.startswith("mlflow_qc_user_"), type(again).__module__
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        """,
        cwd=tmp_path,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["adapter.json", "model.pt", "user_module.py"]
    assert load_model("pytorch", tmp_path / "saved").training is False
    adapter, _ = load_trained(tmp_path / "saved")
    assert adapter.n_classes == 3 and adapter.analysis_type == "classification_multi"


def test_train_loop_without_analysis_type_records_losses_only():
    import torch

    from mlflow_qc.models.torch_loop import train_loop

    model = torch.nn.Sequential(torch.nn.Linear(3, 1))
    x, y = np.ones((10, 3)), np.zeros((10, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    _, history = train_loop(model, torch.nn.MSELoss(), optimizer, x, y, epochs=2, batch_size=4, seed=0, neuron_count=3)
    assert list(history) == ["loss"] and len(history["loss"]) == 2


def test_resume_continues_the_default_training_with_its_optimizer(module_path):
    """Adaptive search on epochs: the next rung trains the same model and optimizer the remaining epochs."""
    import torch

    adapter, first, train, evaluation = fit(module_path, "binary", seed=5, epochs=2)
    weights = [p.detach().clone() for p in first.model.parameters()]
    model, optimizer = first.state
    resumed = adapter.resume(first, 2, train, evaluation, {"out": "sigmoid", "epochs": 5, "batch_size": 16}, 5)
    assert resumed.resumed_from == 2 and resumed.model is model and resumed.state[1] is optimizer
    assert len(resumed.history["val_loss"]) == 5 and resumed.history["loss"][:2] == first.history["loss"][:2]
    assert any(not torch.equal(a, b) for a, b in zip(weights, resumed.model.parameters(), strict=True))
