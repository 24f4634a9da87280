"""scikit-learn adapter: probabilities by class index, seeding, errors, history, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from adapter_fixtures import ANALYSES, Split, architecture, make_data, run_python
from sklearn.metrics import log_loss

from mlflow_qc.errors import QCError
from mlflow_qc.models import adapter_for, load_model

ESTIMATORS = {
    "binary": "sklearn.linear_model.LogisticRegression",
    "multi_ordinal": "sklearn.linear_model.LogisticRegression",
    "multi_onehot": "sklearn.ensemble.RandomForestClassifier",
    "regression": "sklearn.linear_model.Ridge",
}


def sklearn_adapter(kind, estimator=None):
    n_classes = 3 if kind.startswith("multi") else None
    return adapter_for(architecture("sklearn", kind, estimator=estimator or ESTIMATORS[kind]), n_classes=n_classes)


@pytest.mark.parametrize("kind", ANALYSES)
def test_fit_predict_shapes(kind):
    train, evaluation = make_data(kind, inputs=2)  # two inputs are flattened and concatenated
    adapter = sklearn_adapter(kind)
    trained = adapter.fit(train, evaluation, {}, 0)
    output = adapter.predict(trained.model, evaluation.features)
    assert trained.model.n_features_in_ == 4
    assert trained.history == {}
    if kind == "binary":
        assert output.shape == (24, 1) and ((output > 0) & (output < 1)).all()
        assert ((output > 0.5) == evaluation.label).mean() > 0.8
    elif kind.startswith("multi"):
        assert output.shape == (24, 3)
        np.testing.assert_allclose(output.sum(axis=1), 1.0)
        assert (output.argmax(axis=1) == adapter.class_index(evaluation.label)).mean() > 0.6
    else:
        assert output.shape == (24, 2)
        np.testing.assert_allclose(output, evaluation.label, atol=0.2)


def test_columns_follow_class_index_when_a_class_is_missing():
    train, evaluation = make_data("multi_ordinal")
    keep = train.label[:, 0] != 1
    adapter = sklearn_adapter("multi_ordinal")
    trained = adapter.fit(Split([train.features[0][keep]], train.label[keep]), None, {}, 0)
    output = adapter.predict(trained.model, evaluation.features)
    assert output.shape == (24, 3) and (output[:, 1] == 0).all() and (output[:, [0, 2]] > 0).all()
    expected = log_loss(evaluation.label[:, 0], output, labels=[0, 1, 2])
    assert adapter.loss(trained.model, evaluation.label, output, {}) == pytest.approx(expected)


def test_without_predict_proba_gives_one_hot_of_predict():
    train, evaluation = make_data("multi_onehot")
    adapter = sklearn_adapter("multi_onehot", "sklearn.svm.SVC")
    trained = adapter.fit(train, evaluation, {"probability": False}, 0)
    output = adapter.predict(trained.model, evaluation.features)
    assert set(np.unique(output)) == {0.0, 1.0} and (output.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(output.argmax(axis=1), trained.model.predict(evaluation.features[0]))


def test_random_state_comes_from_the_seed_unless_given():
    train, evaluation = make_data("binary")
    adapter = sklearn_adapter("binary", "sklearn.ensemble.RandomForestClassifier")
    first, again, other = (adapter.fit(train, evaluation, {"n_estimators": 5}, seed) for seed in (11, 11, 12))
    assert first.model.random_state == 11
    predict = lambda trained: adapter.predict(trained.model, evaluation.features)  # noqa: E731
    np.testing.assert_array_equal(predict(first), predict(again))
    assert not np.array_equal(predict(first), predict(other))
    assert adapter.fit(train, evaluation, {"n_estimators": 5, "random_state": 3}, 11).model.random_state == 3
    # Estimators without random_state are built without it.
    linear = sklearn_adapter("regression", "sklearn.linear_model.LinearRegression").fit(train, evaluation, {}, 5)
    assert not hasattr(linear.model, "random_state")


def test_unknown_hyperparameter_and_estimator_are_clear_errors():
    train, evaluation = make_data("binary")
    with pytest.raises(QCError) as error:
        sklearn_adapter("binary").fit(train, evaluation, {"epochs": 5}, 0)
    assert error.value.where == "model.hyperparameters.epochs" and "LogisticRegression" in error.value.expected
    with pytest.raises(QCError) as error:
        sklearn_adapter("binary", "sklearn.linear_model.NoSuchModel").fit(train, evaluation, {}, 0)
    assert error.value.where == "model.estimator"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_history_and_regression_loss():
    train, evaluation = make_data("binary")
    adapter = sklearn_adapter("binary", "sklearn.neural_network.MLPClassifier")
    trained = adapter.fit(train, evaluation, {"max_iter": 15, "early_stopping": True, "n_iter_no_change": 50}, 0)
    assert set(trained.history) == {"loss", "val_accuracy"}
    assert len(trained.history["loss"]) == len(trained.history["val_accuracy"]) == 15
    train, evaluation = make_data("regression")
    adapter = sklearn_adapter("regression")
    trained = adapter.fit(train, evaluation, {"alpha": 1.0}, 0)
    output = adapter.predict(trained.model, evaluation.features)
    assert adapter.loss(trained.model, evaluation.label, output, {}) == pytest.approx(
        ((output - evaluation.label) ** 2).mean()
    )


def test_single_column_regression_is_raveled_and_shaped_back():
    train, evaluation = make_data("regression")
    train, evaluation = (Split(s.features, s.label[:, :1]) for s in (train, evaluation))
    adapter = sklearn_adapter("regression", "sklearn.svm.SVR")  # SVR rejects 2-D targets
    trained = adapter.fit(train, evaluation, {}, 0)
    assert adapter.predict(trained.model, evaluation.features).shape == (24, 1)


def test_runs_without_importing_torch_or_tensorflow(tmp_path):
    result = run_python(
        f"""
        import sys
        import numpy as np
        from mlflow_qc.models import adapter_for, load_model, cutoffs_met
        from mlflow_qc.recipe import Architecture, Search
        from mlflow_qc.search import combinations, tpe_search

        class Split:
            def __init__(self, features, label):
                self.features, self.label = features, label

        x = np.random.default_rng(0).normal(size=(40, 3))
        split = Split([x], (x[:, :1] > 0).astype(float))
        architecture = Architecture(library="sklearn", analysis_type="classification_binary",
                                    estimator="sklearn.linear_model.LogisticRegression",
                                    hyperparameters={{"C": [0.1, 1.0]}})
        adapter = adapter_for(architecture)
        trained = adapter.fit(split, split, combinations(architecture, None, 0)[0], 0)
        adapter.save(trained.model, {str(tmp_path / "saved")!r})
        model = load_model("sklearn", {str(tmp_path / "saved")!r})
        assert np.array_equal(adapter.predict(model, [x]), adapter.predict(trained.model, [x]))
        tpe_search(architecture, Search(method="tpe", count=2, space={{"tol": {{"uniform": [0.001, 0.01]}}}}), 0, lambda p: 1.0)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras")))
        """,
        cwd=tmp_path,
    )
    assert result.stdout.strip() == "[]"
    assert isinstance(load_model("sklearn", tmp_path / "saved").coef_, np.ndarray)


def test_saved_as_a_plain_pickle_and_earlier_joblib_files_still_load(tmp_path):
    import pickle

    import joblib

    from mlflow_qc.models.sklearn_adapter import MODEL_FILE

    train, evaluation = make_data("multi_onehot")
    adapter = sklearn_adapter("multi_onehot")  # a forest: many arrays
    trained = adapter.fit(train, evaluation, {"n_estimators": 5}, 0)
    expected = adapter.predict(trained.model, evaluation.features)
    adapter.save(trained.model, tmp_path / "new")
    with open(tmp_path / "new" / MODEL_FILE, "rb") as file:
        assert np.array_equal(adapter.predict(pickle.load(file), evaluation.features), expected)  # no joblib wrappers
    adapter.save(trained.model, tmp_path / "old")
    joblib.dump(trained.model, tmp_path / "old" / MODEL_FILE)  # as versions before the C pickler saved it
    for folder in ("new", "old"):
        assert np.array_equal(adapter.predict(load_model("sklearn", tmp_path / folder), evaluation.features), expected)
