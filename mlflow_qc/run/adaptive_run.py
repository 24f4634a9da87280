"""Adaptive search in the trainer (README: "Adaptive search"): ``adaptive.adaptive_search`` decides, the
Training trains a rung's candidates as jobs (one job per candidate and resource) and ranks them.

A candidate trained on the same resource in two brackets is one job, trained once. A candidate that
never reached max_resource has its highest-resource job run tagged ``qc.pruned_at``; such jobs (and
every job below max_resource) are ``partial`` and never ranked as the best job.
"""

from __future__ import annotations

from mlflow.entities import RunTag

from mlflow_qc.adaptive import Trial, adaptive_search, brackets_for, candidate_pool, planned_trainings
from mlflow_qc.run.plan import Job
from mlflow_qc.tracking.names import MODELS_PLANNED, PRUNED_AT, RESOURCE, RUNG


def planned_adaptive_jobs(architecture, search, seed: int) -> int:
    """At most this many jobs (candidate x rung trainings): the progress bar's plan."""
    return planned_trainings(search, len(candidate_pool(architecture, search, seed)))


class AdaptiveRun:
    def __init__(self, training, architecture, search, seed: int):
        self.training = training
        self.seed = seed
        self.candidates = candidate_pool(architecture, search, seed)
        self.brackets, self.scale = brackets_for(search, len(self.candidates))
        self.jobs: dict[tuple[int, float], Job] = {}
        trainer = training.recipe.trainer
        # rungs continue their candidate's models only where the same process trains them all (rung_models)
        self.continues = self.scale.kind == "epochs" and trainer.n_jobs == 1 and trainer.backend == "local"

    def job_of(self, trial: Trial, index: int) -> Job:
        """The job of a candidate at a resource (created at its first rung, found again after)."""
        key = (trial.candidate, trial.resource)
        if key not in self.jobs:
            hyperparameters = dict(self.candidates[trial.candidate])
            share = None
            if self.scale.kind == "epochs":
                hyperparameters["epochs"] = trial.resource
            else:
                share = float(trial.resource)
            self.jobs[key] = Job(
                index,
                hyperparameters,
                sample_share=share,
                rung=trial.rung,
                partial=not trial.final,
                continues=self.continues,
            )
        return self.jobs[key]

    def evaluate(self, trials: list[Trial]) -> list[float]:
        """Train the rung's jobs not trained yet (all contexts and repeats), return each one's loss."""
        training = self.training
        wanted, new = [], []
        for trial in trials:
            known = (trial.candidate, trial.resource) in self.jobs
            job = self.job_of(trial, len(training.jobs) + len(new))
            wanted.append(job)
            if not known:
                new.append(job)
        training.run_jobs(new, training.prepared.entry.contexts)
        self.tag_jobs(new)
        return [training._loss(job) for job in wanted]

    def tag_jobs(self, jobs: list[Job]) -> None:
        """A job run says its rung and resource (its model runs carry the rung and the param ``resource``)."""
        tree = self.training.tree
        for job in jobs:
            if job.key in tree.job_runs:
                tree.client.log_batch(
                    tree.job_runs[job.key], tags=[RunTag(RUNG, str(job.rung)), RunTag(RESOURCE, str(job.resource))]
                )

    def run(self) -> list[Trial]:
        trials = adaptive_search(self.candidates, self.brackets, self.scale, self.seed, self.evaluate)
        self.tag_pruned(trials)
        self.settle_plan()
        return trials

    def settle_plan(self) -> None:
        """The plan counted every (candidate, rung) of every bracket; a candidate that two Hyperband brackets
        train on the same resource is one job, and a rung of failed candidates may keep fewer: the models
        there are now are the plan."""
        training = self.training
        planned = sum(len(tasks) for tasks in training.book.expected.values())
        if planned != training.planned:
            training.planned = planned
            training._tag({MODELS_PLANNED: str(planned)})

    def tag_pruned(self, trials: list[Trial]) -> None:
        """Each candidate that never trained on max_resource: its last job run says at which rung it stopped."""
        furthest: dict[int, Trial] = {}
        for trial in trials:
            if trial.candidate not in furthest or trial.resource > furthest[trial.candidate].resource:
                furthest[trial.candidate] = trial
        tree = self.training.tree
        for candidate, trial in sorted(furthest.items()):
            if not trial.final:
                job = self.jobs[(candidate, trial.resource)]
                if job.key in tree.job_runs:
                    tree.client.set_tag(tree.job_runs[job.key], PRUNED_AT, str(trial.rung))
