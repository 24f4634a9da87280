"""A seeded generator of mutated recipes for the recipe fuzzer (test_recipe_fuzz.py).

Every mutation starts from one small recipe that trains in well under a second (iris,
scikit-learn, one model) and changes one thing the way a hurried person or a broken tool
would: a key deleted or given twice, a value of the wrong type, a number out of range, an
unknown name, a bare YAML boolean or null where text goes, a huge list, bytes that are not
UTF-8, nesting no recipe has, an unknown key. Each comes back as the bytes of a recipe file.
"""

from __future__ import annotations

import copy
import math
import random
import re
from dataclasses import dataclass

import yaml

BASE = {
    "name": "fuzz",
    "seed": 7,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/iris.tsv", "kind": "tabular"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "species", "encoder": {"sklearn": "OneHotEncoder"}},
        "stratifier": {"size_test": 0.2, "size_validation": 0.2, "order": "random"},
        "version": None,  # replaced by a bare `off` below, as the README writes it
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_multi",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [0.5], "max_iter": [200]},
    },
    "search": {"method": "grid"},
    "trainer": {"repeat_count": 1, "permute_count": 0, "continue_on_error": True, "n_jobs": 1, "refit": False},
}

NUMERIC_PATHS = [
    ("seed",),
    ("data", "stratifier", "size_test"),
    ("data", "stratifier", "size_validation"),
    ("data", "stratifier", "fold_count"),
    ("data", "stratifier", "bin_count"),
    ("trainer", "repeat_count"),
    ("trainer", "permute_count"),
    ("trainer", "n_jobs"),
    ("search", "count"),
    ("search", "percent"),
    ("model", "hyperparameters", "C", 0),
    ("model", "hyperparameters", "max_iter", 0),
    ("data", "inputs", 0, "dataset", "header"),
]
OUT_OF_RANGE = [-1, 0, -0.5, 1.5, 2.5, 10**12, -(10**12), 2**63, 1e308, math.nan, math.inf, -math.inf]
UNKNOWN_NAMES = [
    "QuantumScaler",
    "sklearn.nope.Thing",
    "sklearn.linear_model.Nope",
    "kerass",
    "classification_tri",
    "species_typo",
    "float65",
    "../models/nope.py",
    "../data/nope.csv",
    "random_walk",
    "qwerty",
    "os.path.join",
    "collections.OrderedDict",
    "",
    " ",
    "tpe",
    "dask-like",
    "../data",
    "ünïcödé",
    "a\tb",
]
UNKNOWN_KEYS = ["colour", "seeds", "encoder", "estimators", "hyperparameter", "size_tests", "Version", "1", "__class__"]
WORDS = ["off", "on", "yes", "no", "Off", "YES", "true", "false", "~", "null"]
WRONG_TYPES = [42, -3.5, "text", [1, 2], {"a": 1}, True, None, "", [], {}]
DEPTHS = [20, 65, 300, 5000]
# items: a hundred times a long grid's list (~20 values). Ten times more proves nothing more and costs the
# fuzzer ~30 s: PyYAML (pure Python) writes and reads ~30,000 items a second, and a tenth of the cases is one.
HUGE = 2_000


class Bare(str):
    """A scalar written as is, without quotes: ``off``, ``yes``, ``~`` (YAML reads a boolean or null)."""


class _Dumper(yaml.SafeDumper):
    pass


def _bare(dumper, value):
    tag = "tag:yaml.org,2002:null" if value in ("~", "null") else "tag:yaml.org,2002:bool"
    return dumper.represent_scalar(tag, str(value))


_Dumper.add_representer(Bare, _bare)


@dataclass
class Mutation:
    kind: str
    detail: str
    text: bytes


def base_recipe() -> dict:
    recipe = copy.deepcopy(BASE)
    recipe["data"]["version"] = Bare("off")
    return recipe


def dump(recipe) -> str:
    return yaml.dump(recipe, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _places(node, prefix=()):
    """Every (path, value) in the recipe: mappings, lists and leaves."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _places(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _places(value, prefix + (index,))


def _set(recipe, path, value):
    node = recipe
    for key in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(key), (dict, list)):
            node[key] = {}
        node = node[key]
    if isinstance(node, list) and path[-1] >= len(node):
        node.append(value)
    else:
        node[path[-1]] = value


def _label(path) -> str:
    return ".".join(str(p) for p in path) or "recipe"


def delete_key(rng, recipe):
    path = rng.choice([p for p, _ in _places(recipe) if p and isinstance(p[-1], str)])
    node = recipe
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return _label(path), dump(recipe)


def duplicate_key(rng, recipe):
    lines = dump(recipe).splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*(- )?[A-Za-z_]+:", line)]
    index = rng.choice(keyed)
    line = lines[index]
    copy_line = re.sub(r"^(\s*)- ", r"\1  ", line)  # a list item's first key: repeat it inside the item
    lines.insert(index + 1, copy_line)
    return line.strip(), "\n".join(lines) + "\n"


def wrong_type(rng, recipe):
    path, current = rng.choice([(p, v) for p, v in _places(recipe) if p])
    value = rng.choice([v for v in WRONG_TYPES if type(v) is not type(current)])
    _set(recipe, path, value)
    return f"{_label(path)}={value!r}", dump(recipe)


def out_of_range(rng, recipe):
    path, value = rng.choice(NUMERIC_PATHS), rng.choice(OUT_OF_RANGE)
    _set(recipe, path, value)
    return f"{_label(path)}={value!r}", dump(recipe)


def unknown_name(rng, recipe):
    path = rng.choice([p for p, v in _places(recipe) if isinstance(v, str) and p])
    value = rng.choice(UNKNOWN_NAMES)
    _set(recipe, path, value)
    return f"{_label(path)}={value!r}", dump(recipe)


def yaml_word(rng, recipe):
    path = rng.choice([p for p, v in _places(recipe) if isinstance(v, (str, bool)) and p])
    word = Bare(rng.choice(WORDS))
    _set(recipe, path, word)
    return f"{_label(path)}={word}", dump(recipe)


def huge_list(rng, recipe):
    path = rng.choice(
        [p for p, _ in _places(recipe) if p and p[:2] != ("model", "hyperparameters")]
        + [("model", "hyperparameters", "C")]
    )
    if path[:2] == ("model", "hyperparameters"):
        items = [f"c{i}" for i in range(HUGE)]  # distinct, and none a number: refused, not 2,000 jobs
    else:
        items = rng.choice([[f"x{i}" for i in range(HUGE)], list(range(HUGE)), ["x"] * HUGE])
    _set(recipe, path, items)
    return f"{_label(path)}=[{len(items)} items]", dump(recipe)


def non_utf8(rng, recipe):
    data = bytearray(dump(recipe).encode())
    for _ in range(rng.randint(1, 4)):
        data.insert(rng.randrange(len(data)), rng.randint(0x80, 0xFF))
    return "bytes", bytes(data)


def deep_nesting(rng, recipe):
    path = rng.choice([p for p, _ in _places(recipe) if p])
    depth = rng.choice(DEPTHS)
    opener, closer = rng.choice([("[", "]"), ("{a: ", "}")])
    _set(recipe, path, "__DEEP__")
    return f"{_label(path)} depth {depth}", dump(recipe).replace("__DEEP__", opener * depth + "1" + closer * depth)


def unknown_key(rng, recipe):
    path = rng.choice([p for p, v in _places(recipe) if isinstance(v, dict)])
    key = rng.choice(UNKNOWN_KEYS)
    _set(recipe, path + (key,), rng.choice([1, "x", None, [1]]))
    return f"{_label(path + (key,))}", dump(recipe)


KINDS = [
    delete_key,
    duplicate_key,
    wrong_type,
    out_of_range,
    unknown_name,
    yaml_word,
    huge_list,
    non_utf8,
    deep_nesting,
    unknown_key,
]


def mutations(seed: int, count: int) -> list[Mutation]:
    """``count`` mutations, the kinds in turn, each drawn from one seeded generator."""
    rng = random.Random(seed)
    found = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        detail, text = kind(rng, base_recipe())
        found.append(Mutation(kind.__name__, detail, text if isinstance(text, bytes) else text.encode()))
    return found
