"""Preparation: datasets -> versions -> splits -> fitted preprocessing per context -> cached arrays.

``prepare(recipe)`` validates everything first (QCErrors before anything is written),
then reuses the cache entry keyed by (data versions, preprocessing spec, seed) or
fits every context and writes one.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from mlflow_qc import cache
from mlflow_qc.data.dataset import Dataset, load_dataset
from mlflow_qc.data.versioning import DatasetVersion, version_dataset
from mlflow_qc.preprocess import FittedPipeline, PreparedSplit, validate
from mlflow_qc.recipe import DatasetSpec, Recipe
from mlflow_qc.split import Splits, make_splits, stratification_labels

CACHE_FORMAT = 1
PIPELINE_FILE = "pipeline.pkl"
INPUT_EXAMPLE_FILE = "input_example.parquet"
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


class CacheEntry:
    """Read access to one prepared cache entry: meta, splits, arrays and fitted pipelines."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.root / "meta.json").read_text())

    @cached_property
    def splits(self) -> Splits:
        return Splits.from_dict(json.loads((self.root / "splits.json").read_text()))

    @property
    def contexts(self) -> list[str]:
        return list(self.meta["contexts"])

    def split_names(self, context: str) -> list[str]:
        return list(self.rows(context))

    def rows(self, context: str) -> dict[str, np.ndarray]:
        if context in self.meta["contexts"]:
            return self.splits.contexts()[context]
        return self._extra_rows(context)

    def _extra_rows(self, context: str) -> dict[str, np.ndarray]:
        raw = json.loads((self.root / context / "rows.json").read_text())
        return {split: np.asarray(rows, dtype=np.int64) for split, rows in raw.items()}

    def load(self, context: str, split: str, mmap: bool = True) -> PreparedSplit:
        folder = self.root / context / split
        mode = "r" if mmap else None
        features = [np.load(folder / f"features_{i}.npy", mmap_mode=mode) for i in range(self.meta["input_count"])]
        label_file = folder / "label.npy"
        label = np.load(label_file, mmap_mode=mode) if label_file.exists() else None
        return PreparedSplit(features=features, label=label)

    def pipeline(self, context: str) -> FittedPipeline:
        with open(self.pipeline_path(context), "rb") as handle:
            return pickle.load(handle)

    def pipeline_path(self, context: str) -> Path:
        return self.root / context / PIPELINE_FILE

    def input_example(self) -> pd.DataFrame:
        """A few raw training rows with every column the model needs: the served model's example."""
        return pd.read_parquet(self.root / INPUT_EXAMPLE_FILE)


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


def cache_key(recipe: Recipe, versions: list[DatasetVersion]) -> str:
    data = recipe.data.model_dump(mode="json", exclude={"version"})
    for item in data["inputs"]:
        item["dataset"].pop("path", None)
    if data.get("target") and data["target"].get("dataset"):
        data["target"]["dataset"].pop("path", None)
    return cache.content_key(
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
    return Prepared(key=key, entry=CacheEntry(root), versions=versions, data=data)


def _make_splits(recipe: Recipe, data: LoadedData) -> Splits:
    stratifier = recipe.data.stratifier
    target = data.target.frame[recipe.data.target.column] if data.target is not None else None
    classification = recipe.model.is_classification if recipe.model else None
    strata = stratification_labels(target, classification, stratifier.bin_count)
    return make_splits(data.inputs[0].n_samples, strata, stratifier, recipe.seed)


def _fit_context(recipe: Recipe, data: LoadedData, rows: dict[str, np.ndarray], folder: Path) -> FittedPipeline:
    """Fit one context's preprocessing and write its arrays and pipeline under ``folder``."""
    analysis_type = recipe.model.analysis_type if recipe.model else None
    fitted, arrays = FittedPipeline.fit_transform(recipe.data, data.inputs, data.target, rows, analysis_type)
    for split, prepared in arrays.items():
        (folder / split).mkdir(parents=True)
        for i, features in enumerate(prepared.features):
            np.save(folder / split / f"features_{i}.npy", features)
        if prepared.label is not None:
            np.save(folder / split / "label.npy", prepared.label)
    with open(folder / PIPELINE_FILE, "wb") as handle:
        pickle.dump(fitted, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return fitted


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
    input_example(data, fitted, example_rows).to_parquet(root / INPUT_EXAMPLE_FILE, index=False)
    (root / "splits.json").write_text(splits.to_json())
    (root / "meta.json").write_text(json.dumps(meta))


def input_example(data: LoadedData, fitted: FittedPipeline, rows: np.ndarray) -> pd.DataFrame:
    """The raw columns of every input for ``rows``, side by side (each column once)."""
    frames = [ds.frame.iloc[rows][columns] for ds, columns in zip(data.inputs, fitted.raw_columns)]
    example = pd.concat([f.reset_index(drop=True) for f in frames], axis=1)
    return example.loc[:, ~example.columns.duplicated()]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def add_context(prepared: Prepared, recipe: Recipe, name: str, rows: dict[str, np.ndarray]) -> None:
    """Fit an extra context (e.g. ``refit`` on train + validation) into an existing entry."""
    folder = prepared.entry.root / name
    if cache.is_complete(folder):
        return
    with cache.write_entry(folder) as staging:
        _fit_context(recipe, prepared.data, rows, staging)
        (staging / "rows.json").write_text(json.dumps({split: r.tolist() for split, r in rows.items()}))
