"""Preparation: datasets -> versions -> splits -> fitted preprocessing per context -> cached arrays.

``prepare(recipe)`` validates everything first (QCErrors before anything is written),
then reuses the cache entry keyed by what makes the arrays (``cache_key``: data versions,
preprocessing spec, seed, and the code: mlflow_qc's version and preparation modules, the
libraries' versions, a user encoder class's module) or fits every context and writes one.
A recipe that refits also gets its ``refit`` context (train + validation) here, so training
never comes back to prepare more.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from mlflow_qc import cache
from mlflow_qc.adaptive import rows_seed, sample_context, sample_positions, sample_shares
from mlflow_qc.cache import CacheEntry
from mlflow_qc.classes import resolve_encoder_class
from mlflow_qc.data.dataset import Dataset, load_dataset
from mlflow_qc.data.typical import one_table, typical_values
from mlflow_qc.data.versioning import DatasetVersion, version_dataset_files
from mlflow_qc.hashing import content_key, digest
from mlflow_qc.import_graph import PACKAGE_DIR
from mlflow_qc.preprocess import FittedPipeline, validate
from mlflow_qc.recipe import DatasetSpec, Recipe
from mlflow_qc.split import REFIT_CONTEXT, Splits, make_splits, refit_rows, stratification_labels

log = logging.getLogger(__name__)


CACHE_FORMAT = 1
# The package's modules that make prepared arrays: prepare.py and the layers below it that it
# stands on (tests/test_layers.py), every module of them, so an edit or an upgrade is a new key.
PREPARATION_CODE = (
    "prepare",
    "cache",
    "split",
    "preprocess",
    "data",
    "recipe",
    "recipe_data",
    "recipe_yaml",
    "overrides",
    "classes",
    "hashing",
    "errors",
)
INPUT_EXAMPLE_ROWS = 5


@dataclass
class LoadedData:
    inputs: list[Dataset]
    target: Dataset | None
    unique: list[tuple[Dataset, str]]  # each distinct dataset once, with its recipe field


def load_data(recipe: Recipe) -> LoadedData:
    """Read every dataset of the recipe once (the target's may be an input's)."""
    by_spec: dict[int, Dataset] = {}
    unique: list[tuple[Dataset, str]] = []

    def load(spec: DatasetSpec, where: str) -> Dataset:
        key = id(spec) if spec.path is None else spec.path
        if key not in by_spec:
            by_spec[key] = load_dataset(spec, where)
            unique.append((by_spec[key], where))
        return by_spec[key]

    inputs = [load(item.dataset, f"data.inputs[{i}].dataset") for i, item in enumerate(recipe.data.inputs)]
    target_spec = recipe.data.target_dataset()
    target = None
    if target_spec is not None:
        target = load(target_spec, "data.target.dataset")
    return LoadedData(inputs=inputs, target=target, unique=unique)


@dataclass
class Prepared:
    """The outcome of ``prepare``: the cache entry plus what produced it."""

    key: str
    entry: CacheEntry
    dataset_versions: list[tuple[Dataset, DatasetVersion]]  # an image manifest has two: table and images
    data: LoadedData

    @property
    def splits(self) -> Splits:
        return self.entry.splits

    @property
    def versions(self) -> list[DatasetVersion]:
        return [version for _, version in self.dataset_versions]


def cache_key(recipe: Recipe, versions: list[DatasetVersion]) -> str:
    """What the arrays of an entry depend on; anything else (the model, the trainer) is in the resume key."""
    data = recipe.data.model_dump(mode="json", exclude={"version"})
    for item in data["inputs"]:
        item["dataset"].pop("path", None)
    if data.get("target") and data["target"].get("dataset"):
        data["target"]["dataset"].pop("path", None)
    return content_key(
        {
            "format": CACHE_FORMAT,
            "sklearn": sklearn.__version__,
            "data": data,
            "md5": [v.md5 for v in versions],
            "seed": recipe.seed,
            "analysis_type": recipe.model.analysis_type if recipe.model else None,
            "code": preparation_code(),
            "encoders": encoder_code(recipe),
        }
    )


@lru_cache(maxsize=1)
def preparation_code() -> dict[str, str]:
    """mlflow_qc's version, a digest of the source of its modules that make the arrays, and the
    versions of the libraries that read and transform the data (once per process)."""
    parts = []
    for name in PREPARATION_CODE:
        folder = PACKAGE_DIR / name
        parts.extend(sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE_DIR / f"{name}.py"])
    source = b"".join(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() for path in parts)
    versions = {
        package: _version(package) for package in ("mlflow-qc", "numpy", "pandas", "scipy", "pyarrow", "pillow")
    }
    return {"source": digest(source), "python": sys.version.split()[0], **versions}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def encoder_code(recipe: Recipe) -> dict[str, str]:
    """A digest of the source of the module defining each encoder class named by a dotted path (a
    user's own module, or a library's), so an edit of that class makes a new entry."""
    specs = [encoder for item in recipe.data.inputs for encoder in item.encoders]
    if recipe.data.target is not None and recipe.data.target.encoder is not None:
        specs.append(recipe.data.target.encoder)
    found = {}
    for name in sorted({spec.sklearn for spec in specs if "." in spec.sklearn}):
        try:
            path = inspect.getsourcefile(resolve_encoder_class(name)) or inspect.getfile(resolve_encoder_class(name))
            found[name] = digest(Path(path).read_bytes())
        except (TypeError, OSError):  # a built-in class has no file: its library's version stands for it
            found[name] = _version(name.partition(".")[0]) or "unknown"
    return found


def prepare(recipe: Recipe) -> Prepared:
    analysis_type = recipe.model.analysis_type if recipe.model else None
    data = load_data(recipe)
    validate(recipe.data, data.inputs, data.target, analysis_type)
    versions = [(ds, version) for ds, _ in data.unique for version in version_dataset_files(ds, recipe.data.version)]
    key = cache_key(recipe, [version for _, version in versions])
    root = cache.entry_path(key)
    if cache.is_complete(root):
        log.info("prepared arrays of %s found in the cache: %s", recipe.name, root)
    else:
        log.info("preparing %s: splits, preprocessing fitted per fold, arrays into %s", recipe.name, root)
        splits = _make_splits(recipe, data)
        with cache.write_entry(root) as staging:
            _write_contexts(recipe, data, splits, staging)
    prepared = Prepared(key=key, entry=CacheEntry(root), dataset_versions=versions, data=data)
    if recipe.trainer.refit:
        _add_context(prepared, recipe, REFIT_CONTEXT, refit_rows(prepared.splits))
    _add_sample_contexts(prepared, recipe)
    _add_missing_typical(prepared)
    return prepared


def _make_splits(recipe: Recipe, data: LoadedData) -> Splits:
    stratifier = recipe.data.stratifier
    target = data.target.frame[recipe.data.target.column] if data.target is not None else None
    classification = recipe.model.is_classification if recipe.model else None
    strata = (
        stratification_labels(target, classification, stratifier.bin_count) if stratifier.order == "random" else None
    )
    window = recipe.data.window
    groups = None
    if stratifier.group_column is not None:
        groups = (data.target or data.inputs[0]).frame[stratifier.group_column].to_numpy()
    sizes = None if window is None else (window.size_window, window.size_shift)
    return make_splits(data.inputs[0].n_samples, strata, stratifier, recipe.seed, window=sizes, groups=groups)


def _fit_context(
    recipe: Recipe, data: LoadedData, rows: dict[str, np.ndarray], folder: Path, extra: bool = False
) -> FittedPipeline:
    """Fit one context's preprocessing and write its arrays and pipeline under ``folder``."""
    analysis_type = recipe.model.analysis_type if recipe.model else None
    fitted, arrays = FittedPipeline.fit_transform(recipe.data, data.inputs, data.target, rows, analysis_type)
    cache.write_context(folder, fitted, arrays, rows if extra else None)
    if one_table(fitted.kinds, fitted.windows):
        cache.write_typical(folder, typical_values(input_example(data, fitted, rows["train"])))
    return fitted


def _add_missing_typical(prepared: Prepared) -> None:
    """Entries written before the typical sample existed get it now (their cache key, and so
    the resume key of their experiments, stays the same)."""
    entry = prepared.entry
    if not one_table(entry.meta.get("kinds"), entry.meta.get("windows")):
        return
    contexts = entry.contexts + ([REFIT_CONTEXT] if cache.is_complete(entry.root / REFIT_CONTEXT) else [])
    for context in contexts:
        if entry.typical(context) is None:
            rows = entry.rows(context)["train"]
            cache.write_typical(
                entry.root / context, typical_values(input_example(prepared.data, entry.pipeline(context), rows))
            )


def _write_contexts(recipe: Recipe, data: LoadedData, splits: Splits, root: Path) -> None:
    contexts = {}
    for context, rows in splits.contexts().items():
        fitted = _fit_context(recipe, data, rows, root / context)
        contexts[context] = {split: int(len(r)) for split, r in rows.items()}
    meta = {
        "contexts": contexts,
        "input_count": len(data.inputs),
        "feature_names": fitted.feature_names,
        "label_name": fitted.label_name,
        "classes": None if fitted.classes is None else [_plain(c) for c in fitted.classes],
        "analysis_type": recipe.model.analysis_type if recipe.model else None,
        "kinds": fitted.kinds,
        "windows": fitted.windows,
        "forecast_columns": fitted.forecast_columns,
    }
    example_rows = splits.splits["train"][:INPUT_EXAMPLE_ROWS]
    cache.write_input_example(root, input_example(data, fitted, example_rows))
    (root / cache.SPLITS_FILE).write_text(splits.to_json())
    (root / cache.META_FILE).write_text(json.dumps(meta))


def input_example(data: LoadedData, fitted: FittedPipeline, rows: np.ndarray):
    """A few raw samples as the served model takes them: the raw columns of every tabular input side
    by side (each column once); an N-D input's raw samples; a dict ``input_<i>`` of them for several
    inputs of which one is N-D."""
    examples = [item.raw_example(ds, rows) for item, ds in zip(fitted.inputs, data.inputs)]
    if all(isinstance(example, pd.DataFrame) for example in examples):
        example = pd.concat(examples, axis=1)
        return example.loc[:, ~example.columns.duplicated()]
    return examples[0] if len(examples) == 1 else {f"input_{i}": example for i, example in enumerate(examples)}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _add_sample_contexts(prepared: Prepared, recipe: Recipe) -> None:
    """Adaptive search on ``resource: samples``: per context, share and repeat, a context whose training
    rows are the rung's seeded, stratified subset, its preprocessing fit on them (README: "Adaptive search")."""
    model = recipe.model
    if model is None:
        return
    entry = prepared.entry
    for share, repeat in sample_shares(model, recipe.search, recipe.seed, recipe.trainer.repeat_count):
        for context in entry.contexts:
            rows = dict(entry.rows(context))
            label = entry.load(context, "train").label
            positions = sample_positions(
                label, len(rows["train"]), share, rows_seed(entry.root.name, context, repeat), model.is_classification
            )
            rows["train"] = rows["train"][positions]
            _add_context(prepared, recipe, sample_context(context, share, repeat), rows)


def _add_context(prepared: Prepared, recipe: Recipe, name: str, rows: dict[str, np.ndarray]) -> None:
    """Fit a context beyond the splits' own (``refit``: train + validation) into the entry."""
    folder = prepared.entry.root / name
    if cache.is_complete(folder):
        return
    with cache.write_entry(folder) as staging:
        _fit_context(recipe, prepared.data, rows, staging, extra=True)
