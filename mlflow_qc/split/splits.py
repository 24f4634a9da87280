"""The outcome of splitting: the samples of every split and fold (row positions, or window starts),
and for windows the first and last time step each one covers; as ``qc/splits.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

SPLIT_ORDER = ("train", "validation", "test")
REFIT_CONTEXT = "refit"  # train + validation, after the search
STEPS = "steps"


def _rows(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _spans(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1, 2)


@dataclass
class Splits:
    seed: int
    splits: dict[str, np.ndarray]
    folds: list[dict[str, np.ndarray]] = field(default_factory=list)
    steps: dict[str, np.ndarray] | None = None  # windows: split -> (windows, 2) first and last time step
    fold_steps: list[dict[str, np.ndarray]] | None = None

    def to_dict(self) -> dict:
        raw = {
            "seed": self.seed,
            "splits": {name: rows.tolist() for name, rows in self.splits.items()},
            "folds": [{name: rows.tolist() for name, rows in fold.items()} for fold in self.folds],
        }
        if self.steps is not None:
            raw[STEPS] = {name: spans.tolist() for name, spans in self.steps.items()}
            for fold, spans in zip(raw["folds"], self.fold_steps or []):
                fold[STEPS] = {name: value.tolist() for name, value in spans.items()}
        return raw

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict) -> "Splits":
        folds = [{name: _rows(rows) for name, rows in fold.items() if name != STEPS} for fold in raw.get("folds", [])]
        steps = fold_steps = None
        if STEPS in raw:
            steps = {name: _spans(spans) for name, spans in raw[STEPS].items()}
            fold_steps = [
                {name: _spans(spans) for name, spans in fold.get(STEPS, {}).items()} for fold in raw.get("folds", [])
            ]
        return cls(raw["seed"], {name: _rows(rows) for name, rows in raw["splits"].items()}, folds, steps, fold_steps)

    def contexts(self) -> dict[str, dict[str, np.ndarray]]:
        """Each fitting of the preprocessing and its splits; ``train`` holds the fit samples."""
        if not self.folds:
            return {"all": dict(self.splits)}
        held_out = {name: rows for name, rows in self.splits.items() if name != "train"}
        return {
            f"fold_{k}": {"train": fold["train"], "fold_validation": fold["fold_validation"], **held_out}
            for k, fold in enumerate(self.folds)
        }


def declared_splits(stratifier) -> list[str]:
    """The splits every model of a recipe is evaluated on."""
    declared = {
        "train": True,
        "fold_validation": stratifier.fold_count,
        "validation": stratifier.size_validation,
        "test": stratifier.size_test,
    }
    return [name for name, present in declared.items() if present]


def refit_rows(splits: Splits) -> dict[str, np.ndarray]:
    """The refit context's samples: train and validation together as its training samples, test as it was."""
    rows = splits.splits
    fit_rows = np.sort(np.concatenate([rows[s] for s in ("train", "validation") if s in rows]))
    return {"train": fit_rows, **({"test": rows["test"]} if "test" in rows else {})}
