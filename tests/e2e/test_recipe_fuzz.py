"""Recipe fuzzing: seeded mutations of a small recipe through ``mlflow-qc train``.

In-process for the many (``mlflow_qc.cli.main``), through a real ``mlflow run`` for a handful.
Each mutation ends with exit 2 and one line ``error: <field or file>: ...`` and no traceback,
or trains; never a traceback, never a run left RUNNING.
"""

from __future__ import annotations

import collections
import sqlite3
import typing

import pytest

from mlflow_qc.recipe import Recipe
from tests.e2e.recipe_mutations import base_recipe, dump, mutations
from tests.helpers import cli_in_process, mlflow_run

pytestmark = pytest.mark.e2e

SEED = 15
COUNT = 330


def field_names(model=Recipe, seen=None) -> set[str]:
    """Every key of the recipe schema, at any depth."""
    seen = set() if seen is None else seen
    for name, info in model.model_fields.items():
        seen.add(name)
        for candidate in _models_in(info.annotation):
            if candidate not in seen:
                seen.add(candidate)
                field_names(candidate, seen)
    return {name for name in seen if isinstance(name, str)}


def _models_in(annotation):
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


FIELDS = field_names()


def train_in_process(recipe) -> tuple[int, str, str]:
    return cli_in_process("--quiet", "train", recipe)


def run_counts(db) -> tuple[int, int]:
    """(all runs, RUNNING runs) in the sqlite store."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db) as connection:
        if not connection.execute("select name from sqlite_master where name = 'runs'").fetchall():
            return 0, 0
        total, running = connection.execute("select count(*), sum(status = 'RUNNING') from runs").fetchone()
    return total, running or 0


def problem_with(code: int, out: str, err: str, recipe) -> str | None:
    """Why an outcome breaks the rule, or None."""
    if "Traceback" in err:
        return f"traceback: {err.strip().splitlines()[-1][:200]}"
    if code == 0:
        return None if "model(s) finished" in out else f"exit 0 without training: {out[-200:]}"
    if code != 2:
        return f"exit {code}: {err.strip()[-300:]}"
    last = err.strip().splitlines()[-1]
    if not last.startswith("error: "):
        return f"last line is not one error line: {last[:200]}"
    where = last[len("error: ") :].split(": ")
    named = str(recipe) in where[0] or any(name in part for part in where[:2] for name in FIELDS)
    return None if named else f"names no field: {last[:200]}"


def test_mutated_recipes_end_in_one_line_naming_a_field_or_train(workspace):
    recipe = workspace / "recipes" / "fuzz.yaml"
    recipe.parent.mkdir(exist_ok=True)
    db = workspace / "mlflow.db"
    cases = mutations(SEED, COUNT)
    problems, outcomes = [], collections.Counter()
    for number, mutation in enumerate(cases):
        recipe.write_bytes(mutation.text)
        before, _ = run_counts(db)
        try:
            code, out, err = train_in_process(recipe)
        except BaseException as exc:  # anything but SystemExit escaping main is a traceback
            problems.append(f"#{number} {mutation.kind} {mutation.detail}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        after, running = run_counts(db)
        problem = problem_with(code, out, err, recipe)
        if running:
            problem = f"{running} run(s) left RUNNING"
        if problem:
            problems.append(f"#{number} {mutation.kind} {mutation.detail}: {problem}")
        outcomes["trained" if code == 0 else "refused before any run" if after == before else "refused in a run"] += 1
    summary = dict(outcomes, cases=len(cases))
    assert problems == [], f"{len(problems)} of {len(cases)} broke the rule ({summary}):\n" + "\n".join(problems[:25])
    assert len(cases) >= 300 and outcomes["trained"] >= 10
    assert outcomes["refused before any run"] >= 0.8 * (len(cases) - outcomes["trained"]), summary


def test_a_handful_through_a_real_mlflow_run(workspace):
    """The same rule through ``mlflow run`` (real processes): the README's bare ``version: off`` trains."""
    recipe = workspace / "recipes" / "real.yaml"
    recipe.parent.mkdir(exist_ok=True)
    firsts = {}
    for mutation in mutations(SEED, 40):
        firsts.setdefault(mutation.kind, mutation)
    cases = [("base", dump(base_recipe()).encode())] + [
        (kind, firsts[kind].text) for kind in ("yaml_word", "non_utf8", "deep_nesting", "duplicate_key")
    ]
    refused = 0
    for kind, text in cases:
        recipe.write_bytes(text)
        result = mlflow_run("fuzz-real", recipe)
        assert "Traceback" not in result.stderr, (kind, result.stderr[-2000:])
        assert run_counts(workspace / "mlflow.db")[1] == 0, kind
        if result.returncode == 0:
            assert "model(s) finished" in result.stdout, kind
            continue
        assert kind != "base", result.stderr[-2000:]
        [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert str(recipe) in line or any(name in line for name in FIELDS), line
        refused += 1
    assert refused >= 2
