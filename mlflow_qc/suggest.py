"""The closest valid names to a misspelt one, for "did you mean" in error messages.

``difflib.get_close_matches`` on the names as written and lower-cased, so that ``object`` finds
``Object`` and ``hyperparameter`` finds ``hyperparameters``.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

SHOWN = 12  # names listed after the near ones


def close_names(word: str, names: Iterable[str], count: int = 3) -> list[str]:
    """The valid names nearest to ``word``, nearest first: a case-insensitive equal, then difflib's."""
    names = [str(name) for name in names]
    word = str(word)
    by_lower: dict[str, list[str]] = {}
    for name in names:
        by_lower.setdefault(name.lower(), []).append(name)
    found = [name for name in names if name.lower() == word.lower() and name != word]
    if found:  # only the case differs: that one
        return found[:count]
    for near in difflib.get_close_matches(word.lower(), list(by_lower), n=count, cutoff=0.6):
        found += [name for name in by_lower[near] if name not in found and name != word]
    for near in difflib.get_close_matches(word, names, n=count, cutoff=0.6):
        if near not in found and near != word:
            found.append(near)
    return found[:count]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """`` did you mean 'x'?`` (or two, three names), or '' when nothing is near."""
    near = close_names(word, names)
    if not near:
        return ""
    return " did you mean " + " or ".join(f"'{name}'" for name in near) + "?"


def preview_names(names: Iterable[str], near_to: Iterable[str] = (), limit: int = SHOWN) -> str:
    """``[Object, a, b, ...]``: the names near any of ``near_to`` first (never cut off), then the
    others up to ``limit``."""
    names = [str(name) for name in names]
    near: list[str] = []
    for word in near_to:
        near += [name for name in close_names(word, names) if name not in near]
    rest = [name for name in names if name not in near]
    shown = near + rest[: max(0, limit - len(near))]
    cut = len(shown) < len(names)
    return "[" + ", ".join(name[:60] for name in shown) + (", ..." if cut else "") + "]"
