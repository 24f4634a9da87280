"""``Experiment``: the Python face of a whole recipe, and where training meets its observers.

The run layer trains and writes the run tree; what else happens to each model, job and
experiment (packaging, importance, reports, registration) is chosen here, by
``training_observers``, and handed to it.
"""

from __future__ import annotations

import os

from mlflow_qc.recipe import Architecture, Pipeline, Recipe, Register, Search, Trainer, load_recipe


def training_observers(recipe: Recipe) -> list:
    """The observers a recipe's training gets: pyfunc per model, importance when asked, the per-class
    table of classifiers, a report
    per job, the verdicts against the baseline job when there is one, the experiment's report,
    registration when the recipe has a ``register:`` block."""
    from mlflow_qc.evaluate.observers import BaselineVerdict, ExperimentReport, Importance, JobReport, PerClass
    from mlflow_qc.serve.packaging import PyfuncPackaging
    from mlflow_qc.serve.registry import Registration

    observers = [PyfuncPackaging()]
    if recipe.trainer.permute_count > 0:
        observers.append(Importance(recipe.trainer.permute_count))
    if recipe.model is not None and recipe.model.analysis_type.startswith("classification"):
        observers.append(PerClass())
    observers.append(JobReport())
    if recipe.trainer.baseline:
        observers.append(BaselineVerdict())
    observers.append(ExperimentReport())
    if recipe.register is not None:
        register = recipe.register
        observers.append(Registration(register.metric, register.model_name, register.alias, register.gate))
    return observers


class Experiment:
    """``Experiment(pipeline, architecture, trainer)``; ``run()`` trains it into MLflow."""

    def __init__(
        self,
        pipeline: Pipeline,
        architecture: Architecture,
        trainer: Trainer | None = None,
        search: Search | None = None,
        register: Register | None = None,
        name: str | None = None,
        seed: int = 42,
    ):
        self.recipe = Recipe(
            name=name or "experiment",
            seed=seed,
            data=pipeline,
            model=architecture,
            search=search or Search(),
            trainer=trainer or Trainer(),
            register=register,
        )

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> "Experiment":
        experiment = cls.__new__(cls)
        experiment.recipe = recipe
        return experiment

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: str | None = None) -> "Experiment":
        return cls.from_recipe(load_recipe(path, overrides))

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        return self.recipe.to_yaml(path)

    def prepare(self):
        from mlflow_qc.prepare import prepare

        return prepare(self.recipe)

    def run(self):
        """Train every job; returns an ExperimentResult (run id, counts, failures, tables)."""
        from mlflow_qc.run.experiment_run import run_experiment

        return run_experiment(self.recipe, training_observers(self.recipe))
