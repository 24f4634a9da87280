"""Preparation: datasets -> versions -> splits -> fitted preprocessing per context -> cached arrays.

``prepare(recipe)`` validates everything first (QCErrors before anything is written),
then reuses the cache entry keyed by (data versions, preprocessing spec, seed) or
fits every context and writes one. A recipe that refits also gets its ``refit``
context (train + validation) here, so training never comes back to prepare more.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from mlflow_qc import cache
from mlflow_qc.cache import CacheEntry
from mlflow_qc.data.dataset import Dataset, load_dataset
from mlflow_qc.data.typical import typical_values
from mlflow_qc.data.versioning import DatasetVersion, version_dataset
from mlflow_qc.hashing import content_key
from mlflow_qc.preprocess import FittedPipeline, validate
from mlflow_qc.recipe import DatasetSpec, Recipe
from mlflow_qc.split import REFIT_CONTEXT, Splits, make_splits, refit_rows, stratification_labels

CACHE_FORMAT = 1
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
    versions: list[DatasetVersion]
    data: LoadedData

    @property
    def splits(self) -> Splits:
        return self.entry.splits

    @property
    def dataset_versions(self) -> list[tuple[Dataset, DatasetVersion]]:
        return [(dataset, version) for (dataset, _), version in zip(self.data.unique, self.versions)]


def cache_key(recipe: Recipe, versions: list[DatasetVersion]) -> str:
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
        }
    )


def prepare(recipe: Recipe) -> Prepared:
    analysis_type = recipe.model.analysis_type if recipe.model else None
    data = load_data(recipe)
    validate(recipe.data, data.inputs, data.target, analysis_type)
    versions = [
        version_dataset(ds.spec, recipe.data.version, where, rows=ds.n_samples, columns=len(ds.columns))
        for ds, where in data.unique
    ]
    key = cache_key(recipe, versions)
    root = cache.entry_path(key)
    if not cache.is_complete(root):
        splits = _make_splits(recipe, data)
        with cache.write_entry(root) as staging:
            _write_contexts(recipe, data, splits, staging)
    prepared = Prepared(key=key, entry=CacheEntry(root), versions=versions, data=data)
    if recipe.trainer.refit:
        _add_context(prepared, recipe, REFIT_CONTEXT, refit_rows(prepared.splits))
    _add_missing_typical(prepared)
    return prepared


def _make_splits(recipe: Recipe, data: LoadedData) -> Splits:
    stratifier = recipe.data.stratifier
    target = data.target.frame[recipe.data.target.column] if data.target is not None else None
    classification = recipe.model.is_classification if recipe.model else None
    strata = stratification_labels(target, classification, stratifier.bin_count)
    return make_splits(data.inputs[0].n_samples, strata, stratifier, recipe.seed)


def _fit_context(recipe: Recipe, data: LoadedData, rows: dict[str, np.ndarray], folder: Path, extra: bool = False) -> FittedPipeline:
    """Fit one context's preprocessing and write its arrays and pipeline under ``folder``."""
    analysis_type = recipe.model.analysis_type if recipe.model else None
    fitted, arrays = FittedPipeline.fit_transform(recipe.data, data.inputs, data.target, rows, analysis_type)
    cache.write_context(folder, fitted, arrays, rows if extra else None)
    cache.write_typical(folder, typical_values(input_example(data, fitted, rows["train"])))
    return fitted


def _add_missing_typical(prepared: Prepared) -> None:
    """Entries written before the typical sample existed get it now (their cache key, and so
    the resume key of their experiments, stays the same)."""
    entry = prepared.entry
    contexts = entry.contexts + ([REFIT_CONTEXT] if cache.is_complete(entry.root / REFIT_CONTEXT) else [])
    for context in contexts:
        if entry.typical(context) is None:
            rows = entry.rows(context)["train"]
            cache.write_typical(entry.root / context, typical_values(input_example(prepared.data, entry.pipeline(context), rows)))


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
    }
    example_rows = splits.splits["train"][:INPUT_EXAMPLE_ROWS]
    input_example(data, fitted, example_rows).to_parquet(root / cache.INPUT_EXAMPLE_FILE, index=False)
    (root / cache.SPLITS_FILE).write_text(splits.to_json())
    (root / cache.META_FILE).write_text(json.dumps(meta))


def input_example(data: LoadedData, fitted: FittedPipeline, rows: np.ndarray) -> pd.DataFrame:
    """The raw columns of every input for ``rows``, side by side (each column once)."""
    frames = [ds.frame.iloc[rows][columns] for ds, columns in zip(data.inputs, fitted.raw_columns)]
    example = pd.concat([f.reset_index(drop=True) for f in frames], axis=1)
    return example.loc[:, ~example.columns.duplicated()]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _add_context(prepared: Prepared, recipe: Recipe, name: str, rows: dict[str, np.ndarray]) -> None:
    """Fit a context beyond the splits' own (``refit``: train + validation) into the entry."""
    folder = prepared.entry.root / name
    if cache.is_complete(folder):
        return
    with cache.write_entry(folder) as staging:
        _fit_context(recipe, prepared.data, rows, staging, extra=True)
