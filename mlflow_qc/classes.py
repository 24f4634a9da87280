"""Classes a recipe names: an encoder by name or dotted path, an estimator by dotted path."""
from __future__ import annotations

import importlib


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
            raise ValueError(f"unknown encoder '{name}'; expected a class in sklearn.preprocessing or a dotted path")
        return cls
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, TypeError, ValueError):
        raise ValueError(f"cannot import module '{module_name}' for encoder '{name}'; expected a dotted path such as sklearn.preprocessing.StandardScaler") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"unknown encoder '{name}': '{module_name}' has no class '{class_name}'")
    if not (hasattr(cls, "fit") and hasattr(cls, "transform")):
        raise ValueError(f"'{name}' is not an encoder; expected a class with fit and transform")
    return cls
