"""Recipe overrides from the command line: ``"trainer.repeat_count=1;seed=7"``.

Keys are dotted paths into the recipe (numbers index lists); values are read as YAML
(booleans keep their text until the schema settles them, as in the recipe file).
"""

from __future__ import annotations

from typing import Any

from mlflow_qc.errors import QCError
from mlflow_qc.recipe_yaml import load_yaml


def parse_overrides(overrides: str | None) -> list[tuple[list[str], Any]]:
    """``"trainer.repeat_count=1;seed=7"`` -> [(["trainer", "repeat_count"], 1), (["seed"], 7)]."""
    pairs = []
    for part in (overrides or "").split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise QCError("overrides", f"'{part}' is not key=value; expected e.g. 'trainer.repeat_count=1;seed=7'")
        try:
            parsed = load_yaml(value, "overrides") if value.strip() else None
        except QCError:
            parsed = value
        pairs.append((key.strip().split("."), parsed))
    return pairs


def apply_overrides(raw: dict, overrides: str | None) -> dict:
    for keys, value in parse_overrides(overrides):
        node = raw
        for depth, key in enumerate(keys[:-1]):
            node = _child(node, key, keys[: depth + 1])
        last = keys[-1]
        if isinstance(node, list):
            index = _index(node, last, keys)
            node[index] = value
        else:
            node[last] = value
    return raw


def _child(node, key, path):
    if isinstance(node, list):
        return node[_index(node, key, path)]
    if not isinstance(node, dict):
        raise QCError("overrides", f"'{'.'.join(path)}' does not lead into a section")
    if node.get(key) is None:
        node[key] = {}
    return node[key]


def _index(node: list, key: str, path) -> int:
    if not key.lstrip("-").isdigit() or not -len(node) <= int(key) < len(node):
        raise QCError("overrides", f"'{'.'.join(path)}': expected a list index below {len(node)}")
    return int(key)
