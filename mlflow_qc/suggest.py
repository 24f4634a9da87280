"""The closest valid names to a misspelt one, for "did you mean" in error messages.

``difflib.get_close_matches`` on the names as written and lower-cased, so that ``object`` finds
``Object`` and ``hyperparameter`` finds ``hyperparameters``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SHOWN = 12  # names listed after the near ones
CUTOFF = 0.6  # difflib's default similarity for a close match
SPREAD = 0.05  # names this much less similar than the nearest one are not offered


def close_names(word: str, names: Iterable[str], count: int = 3) -> list[str]:
    """The valid names nearest to ``word``, nearest first: one that differs only in case, else difflib's
    close matches (compared in lower case) as near as the nearest one, give or take ``SPREAD``."""
    names = [str(name) for name in names]
    word = str(word)
    same = [name for name in names if name.lower() == word.lower() and name != word]
    if same:
        return same[:count]
    near = difflib.get_close_matches(
        word.lower(), {name.lower() for name in names} - {word.lower()}, n=count, cutoff=CUTOFF
    )
    if not near:
        return []
    best = difflib.SequenceMatcher(None, word.lower(), near[0]).ratio()
    kept = [lower for lower in near if difflib.SequenceMatcher(None, word.lower(), lower).ratio() >= best - SPREAD]
    return [name for lower in kept for name in names if name.lower() == lower][:count]


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
