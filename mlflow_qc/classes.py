"""Classes a recipe names: an encoder or an estimator by its scikit-learn name or a dotted path."""

from __future__ import annotations

import functools
import importlib

from mlflow_qc.suggest import did_you_mean


def import_dotted(dotted: str):
    """The object at ``package.module.Name``, or None when the module or the name is missing."""
    module_name, _, name = (dotted or "").rpartition(".")
    if not module_name:
        return None
    try:
        return getattr(importlib.import_module(module_name), name, None)
    except (ImportError, TypeError, ValueError):  # TypeError, ValueError: not a module name ("../x", "a..b")
        return None


def resolve_encoder_class(name: str) -> type:
    """A class in sklearn.preprocessing by name, or any class by dotted path; ValueError naming it."""
    if "." not in name:
        cls = getattr(importlib.import_module("sklearn.preprocessing"), name, None)
        if not isinstance(cls, type):
            preprocessing = importlib.import_module("sklearn.preprocessing")
            raise ValueError(
                f"unknown encoder '{name}';{did_you_mean(name, preprocessing.__all__)} "
                "expected a class in sklearn.preprocessing or a dotted path"
            )
        return cls
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, TypeError, ValueError):
        raise ValueError(
            f"cannot import module '{module_name}' for encoder '{name}'; expected a dotted path such as sklearn.preprocessing.StandardScaler"
        ) from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"unknown encoder '{name}': '{module_name}' has no class '{class_name}'")
    if not (hasattr(cls, "fit") and hasattr(cls, "transform")):
        raise ValueError(f"'{name}' is not an encoder; expected a class with fit and transform")
    return cls


@functools.cache
def sklearn_estimators() -> dict[str, str]:
    """scikit-learn's classifiers and regressors by class name -> dotted path (``all_estimators``)."""
    from sklearn.utils.discovery import all_estimators

    return {
        name: f"{cls.__module__.split('._')[0]}.{name}"
        for name, cls in all_estimators(type_filter=["classifier", "regressor"])
    }


def resolve_estimator(name: str) -> str:
    """The dotted path of ``name``: a dotted path as given, a scikit-learn classifier or regressor by
    its class name (``RandomForestClassifier``); ValueError with the nearest names otherwise."""
    if "." in name:
        return name
    known = sklearn_estimators()
    if name in known:
        return known[name]
    raise ValueError(
        f"unknown estimator '{name}';{did_you_mean(name, known)} expected a scikit-learn classifier or "
        "regressor by name (RandomForestClassifier) or a dotted class path such as sklearn.svm.SVC"
    )
