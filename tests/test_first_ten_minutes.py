"""Issue 31, "the first ten minutes": mistakes caught before anything heavy loads and with the nearest
valid name, the ui's port checked first, the README's recipe block true to recipe.py, the cache's
commands, the demo data, the forecast figure's gaps, ``.gitignore`` after set-up, logging and
``--version``, and no private name of plotly or Dask in the package (hyperopt's in one module)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_qc.errors import QCError
from tests.helpers import REPO_ROOT, cli_in_process

HEAVY = ("mlflow", "sklearn", "tensorflow", "torch", "dvc", "pandas", "scipy", "dask", "distributed")
DEMO_RECIPE = REPO_ROOT / "recipes" / "demo.yaml"


def demo_recipe(tmp_path: Path, text: str | None = None) -> Path:
    """recipes/demo.yaml beside a copy of sonar.csv (``text`` replaces the recipe's text)."""
    from mlflow_qc.data.demo import write_demo_data

    write_demo_data(tmp_path / "data")
    path = tmp_path / "recipes" / "demo.yaml"
    path.parent.mkdir()
    recipe = DEMO_RECIPE.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    path.write_text(text if text is not None else recipe)
    return path


def first_error_without_heavy_imports(*args: str, cwd: Path) -> tuple[int, str, list[str]]:
    """``mlflow-qc ARGS`` in a fresh interpreter: (exit status, stderr, the heavy packages it imported)."""
    script = textwrap.dedent(f"""
        import sys
        from mlflow_qc.cli import main
        try:
            main({list(args)!r})
        except SystemExit as exc:
            code = exc.code
        heavy = sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r}))
        print("HEAVY", ",".join(heavy))
        sys.exit(code)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    heavy = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY")).split(" ", 1)[1]
    return done.returncode, done.stderr, [name for name in heavy.split(",") if name]


# --- 1. mistakes in seconds, with the nearest valid name --------------------------------------------


def test_a_misspelt_key_is_named_with_its_fix_before_anything_heavy_loads(tmp_path):
    path = demo_recipe(tmp_path)
    path.write_text(path.read_text().replace("  hyperparameters:", "  hyperparameter:"))
    code, err, heavy = first_error_without_heavy_imports("train", str(path), cwd=tmp_path)
    assert code == 2
    assert "model.hyperparameter: unknown key 'hyperparameter' in model; did you mean 'hyperparameters'?" in err
    assert heavy == []


def test_a_misspelt_column_lists_the_near_match_first_before_anything_heavy_loads(tmp_path):
    columns = [f"feature_{k:02d}" for k in range(20)] + ["Object"]
    frame = pd.DataFrame(np.arange(4 * len(columns)).reshape(4, -1), columns=columns)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    recipe = {
        "data": {"inputs": [{"dataset": {"path": "wide.csv"}}], "target": {"column": "object"}},
        "model": {"library": "sklearn", "analysis_type": "classification_binary", "estimator": "sklearn.svm.SVC"},
    }
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code, err, heavy = first_error_without_heavy_imports("train", str(path), cwd=tmp_path)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "data.target.column: column(s) ['object'] not in wide.csv; did you mean 'Object'?" in line
    assert "expected some of [Object, feature_00," in line  # the near match first, never cut off
    assert heavy == []


def test_a_typo_in_the_overrides_is_blamed_on_the_overrides(tmp_path):
    path = demo_recipe(tmp_path)
    code, _, err = cli_in_process("train", path, "--overrides", "trainer.repeat_cout=1")
    assert code == 2
    assert (
        "error: overrides: trainer.repeat_cout: unknown key 'repeat_cout' in trainer; did you mean 'repeat_count'"
        in err
    )
    assert str(path) not in err.splitlines()[-1].split(";")[0]
    code, _, err = cli_in_process("train", path, "--overrides", "trainer.repeat_count=many")
    assert code == 2 and "error: overrides: trainer.repeat_count: Input should be a valid integer" in err


def test_a_list_in_the_overrides_is_written_as_in_the_recipe(tmp_path):
    from mlflow_qc.recipe import load_recipe

    recipe = load_recipe(
        demo_recipe(tmp_path), "data.inputs.0.exclude_columns=[object, a];model.hyperparameters.epochs=[5, 6]"
    )
    assert recipe.data.inputs[0].exclude_columns == ["object", "a"]
    assert recipe.model.hyperparameters["epochs"] == [5, 6]


def sklearn_recipe(tmp_path: Path, estimator: str, encoder: str = "StandardScaler") -> Path:
    path = demo_recipe(tmp_path)
    text = DEMO_RECIPE.read_text()
    model = text[text.index("model:") : text.index("trainer:")]
    sklearn_model = (
        f"model:\n  library: sklearn\n  analysis_type: classification_binary\n  estimator: {estimator}\n"
        "  hyperparameters: {n_estimators: [5]}\n"
    )
    path.write_text(
        text.replace(model, sklearn_model)
        .replace("sklearn: PowerTransformer", f"sklearn: {encoder}")
        .replace("params: {method: yeo-johnson}", "params: {}")
    )
    return path


def test_a_short_estimator_name_resolves_as_encoder_names_do(tmp_path):
    from mlflow_qc.recipe import load_recipe

    recipe = load_recipe(sklearn_recipe(tmp_path, "RandomForestClassifier"))
    assert recipe.model.estimator == "sklearn.ensemble.RandomForestClassifier"


@pytest.mark.parametrize(
    "estimator, encoder, expected",
    [
        (
            "RandomForestClasifier",
            "StandardScaler",
            "unknown estimator 'RandomForestClasifier'; did you mean 'RandomForestClassifier'",
        ),
        ("randomforestclassifier", "StandardScaler", "did you mean 'RandomForestClassifier'?"),
        ("RandomForestClassifier", "StandardScalar", "unknown encoder 'StandardScalar'; did you mean 'StandardScaler'"),
    ],
)
def test_a_misspelt_estimator_or_encoder_gets_the_nearest_name(tmp_path, estimator, encoder, expected):
    from mlflow_qc.recipe import load_recipe

    with pytest.raises(QCError, match=re.escape(expected)):
        load_recipe(sklearn_recipe(tmp_path, estimator, encoder))


def test_a_misspelt_ranking_metric_gets_the_nearest_name():
    from mlflow_qc.run.experiment_run import check_ranking_metric

    with pytest.raises(QCError, match=re.escape("did you mean 'validation_accuracy'?")):
        check_ranking_metric("validation_acuracy", "classification_binary", ["train", "validation"])


def test_close_names_prefer_a_case_only_difference():
    from mlflow_qc.suggest import close_names, preview_names

    assert close_names("object", ["a", "Object", "objects"]) == ["Object"]
    assert close_names("zzz", ["a", "b"]) == []
    assert (
        preview_names([f"c{k}" for k in range(30)] + ["Object"], near_to=["object"], limit=3) == "[Object, c0, c1, ...]"
    )


# --- 2. the ui's port ----------------------------------------------------------------------------


def test_ui_on_a_busy_port_fails_at_once_naming_a_free_one():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        code, out, err = cli_in_process("ui", "--port", busy, "--backend-store-uri", "sqlite:///unused.db")
        assert code == 2
        assert out == ""  # no link printed to a server that is not ours
        found = re.search(
            rf"error: --port: {busy} on 127.0.0.1 is not free \(in use by another program\); "
            r"expected a free port, such as --port (\d+)",
            err,
        )
        assert found, err
        with socket.socket() as probe:  # the port named is free
            probe.bind(("127.0.0.1", int(found.group(1))))


# --- 5. the README against the behaviour ------------------------------------------------------------


def readme_recipe_block() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## The recipe") :]
    return section[section.index("```yaml") + len("```yaml") : section.index("```", section.index("```yaml") + 3)]


def test_every_default_the_readme_shows_is_the_default_of_recipe_py():
    from mlflow_qc.recipe import Recipe, Register, Search, Stratifier, Trainer

    sections = {"trainer": Trainer, "register": Register, "search": Search, "stratifier": Stratifier}
    shown = yaml.safe_load(readme_recipe_block())
    lines = readme_recipe_block().splitlines()
    checked = 0
    for name, model in sections.items():
        values = shown.get(name) or shown["data"].get(name) or {}
        for key, value in values.items():
            field = model.model_fields[key]
            if field.is_required():
                continue
            line = next(line for line in lines if re.search(rf"(^\s*|[{{,]\s*){key}:", line))
            named = re.search(r"# default (\S+?):", line)
            if named:  # a demo's choice beside the default it names
                assert yaml.safe_load(named.group(1)) == field.get_default(call_default_factory=True), line
            elif key in ("metric", "model_name"):
                assert "default" in line or field.default is None or key == "model_name"
            else:
                assert value == field.get_default(call_default_factory=True), (name, key, value)
            checked += 1
    assert checked >= 15
    assert Recipe.model_fields["seed"].default == shown["seed"]


def test_cache_info_and_clear_touch_only_the_prepared_arrays(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    entry = root / "prepared" / "abc123"
    (entry / "ctx").mkdir(parents=True)
    (entry / "ctx" / "features_0.npy").write_bytes(b"x" * 2048)
    (root / "locks").mkdir()
    (root / "locks" / "one.lock").write_text("1 run")
    monkeypatch.setenv("MLFLOW_QC_CACHE", str(root))
    code, out, _ = cli_in_process("cache", "info")
    assert code == 0 and f"{root}: 1 prepared entry, 0.0 MiB" in out
    code, out, _ = cli_in_process("cache", "clear")
    assert code == 0 and "removed 1 prepared entry" in out
    assert not entry.exists() and (root / "locks" / "one.lock").exists()
    assert "0 prepared entries" in cli_in_process("cache", "info")[1]


# --- 6. demo data, the forecast figure, git status after set-up --------------------------------------


def test_the_demo_climate_has_no_corrupt_pressure(tmp_path):
    from mlflow_qc.data.demo import write_demo_data

    write_demo_data(tmp_path)
    pressure = pd.read_parquet(tmp_path / "delhi_climate.parquet")["pressure"]
    assert pressure.notna().all() and pressure.between(950, 1100).all()
    assert len(pressure) == 1575


def test_the_forecast_line_breaks_between_time_blocks():
    from mlflow_qc.evaluate.figures_forecast import forecast_figures

    steps = [5, 6, 7, 20, 21]  # two blocks: a gap after step 7
    predictions = pd.DataFrame(
        {
            "model": "m",
            "horizon": 1,
            "split": ["train"] * 3 + ["test"] * 2,
            "step": steps,
            "row": range(5),
            "y_true_t": [1.0, 2, 3, 4, 5],
            "prediction_t": [1.5, 2, 3, 4, 5],
        }
    )
    actual, train, test = forecast_figures(predictions)[0].data
    assert np.isnan(np.asarray(actual.x, dtype=float)).tolist() == [False, False, False, True, False, False]
    assert np.isnan(np.asarray(actual.y, dtype=float)[3])
    assert not np.isnan(np.asarray(train.y, dtype=float)).any()  # one block each: nothing to break
    assert not np.isnan(np.asarray(test.y, dtype=float)).any()


def test_git_status_stays_clean_after_the_demo_set_up(tmp_path):
    """The demo's .dvc files are committed (DVC refuses to write a git-ignored one) and record the bytes
    `mlflow-qc data demo` writes, so the set-up leaves git status clean."""
    import hashlib

    import yaml

    from mlflow_qc.data.demo import write_demo_data

    written = write_demo_data(tmp_path / "data")
    names = [f"data/{path.name}.dvc" for path in written]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == []  # never ignored: `dvc add` would refuse to write them
    tracked = subprocess.run(["git", "ls-files", *names], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert sorted(tracked.stdout.split()) == sorted(names)
    for path in written:
        if path.is_file():
            [out] = yaml.safe_load((REPO_ROOT / "data" / f"{path.name}.dvc").read_text())["outs"]
            assert out["md5"] == hashlib.md5(path.read_bytes()).hexdigest(), path.name
    data_file = subprocess.run(
        ["git", "check-ignore", "--no-index", "data/mine.csv"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    assert data_file.returncode == 0  # the data itself is DVC's


# --- 7. logging and --version -------------------------------------------------------------------------


def test_verbose_turns_on_the_mlflow_qc_logger_and_version_reads_the_metadata(tmp_path):
    logger = logging.getLogger("mlflow_qc")
    try:
        code, _, _ = cli_in_process("-vv", "cache", "info")
        assert code == 0 and logger.level == logging.DEBUG
        cli_in_process("-v", "cache", "info")
        assert logger.level == logging.INFO
        assert sum(getattr(h, "qc_cli", False) for h in logger.handlers) == 1
    finally:
        logger.setLevel(logging.NOTSET)
        for handler in [h for h in logger.handlers if getattr(h, "qc_cli", False)]:
            logger.removeHandler(handler)
    code, out, _ = cli_in_process("--version")
    assert code == 0 and importlib.metadata.version("mlflow-qc") in out


def test_the_modules_log_under_the_mlflow_qc_logger(caplog, tmp_path, monkeypatch):
    from mlflow_qc.prepare import prepare
    from mlflow_qc.recipe import load_recipe

    monkeypatch.setenv("MLFLOW_QC_CACHE", str(tmp_path / "cache"))
    recipe = load_recipe(demo_recipe(tmp_path), "data.version=off")
    with caplog.at_level(logging.INFO, logger="mlflow_qc"):
        prepare(recipe)
        prepare(recipe)
    messages = [(record.name, record.getMessage()) for record in caplog.records]
    assert any(
        name == "mlflow_qc.prepare" and message.startswith("preparing sonar-binary") for name, message in messages
    )
    assert any(name == "mlflow_qc.prepare" and "found in the cache" in message for name, message in messages)


# --- 8. public interfaces of plotly and Dask; hyperopt's internals in one module ----------------------

PRIVATE = {
    "plotly": re.compile(r"_plotly_utils|plotly(\.\w+)*\._\w+|\b(fig|figure)\._(?!_)\w+"),
    "dask": re.compile(r"\.state\.tasks|(dask|distributed)(\.\w+)*\._\w+|from (dask|distributed)\S* import _"),
}
HYPEROPT_INTERNALS = re.compile(r"\b(Domain|insert_trial_docs|new_trial_ids|spec_from_misc|JOB_STATE_\w+)\b")


def package_sources() -> dict[str, str]:
    return {
        str(path.relative_to(REPO_ROOT)): path.read_text() for path in sorted((REPO_ROOT / "mlflow_qc").rglob("*.py"))
    }


@pytest.mark.parametrize("library", sorted(PRIVATE))
def test_no_private_name_of_plotly_or_dask_in_the_package(library):
    found = [
        f"{path}: {match.group(0)}"
        for path, text in package_sources().items()
        for match in PRIVATE[library].finditer(text)
    ]
    assert found == []


def test_hyperopts_internals_are_used_in_one_module_on_a_tested_version():
    from mlflow_qc import search

    users = {path for path, text in package_sources().items() if HYPEROPT_INTERNALS.search(text)}
    assert users == {"mlflow_qc/search.py"}
    version = tuple(int(part) for part in re.findall(r"\d+", importlib.metadata.version("hyperopt"))[:3])
    low, high = search.HYPEROPT_TESTED
    assert low <= version < high, (
        f"hyperopt {importlib.metadata.version('hyperopt')} is outside the versions mlflow_qc/search.py was tested on "
        f"({search.HYPEROPT_TESTED}): tpe_search_batches drives hyperopt's Domain and Trials (insert_trial_docs, "
        "new_trial_ids, spec_from_misc) to propose batches; run tests/test_search.py on it, then widen HYPEROPT_TESTED"
    )


def test_the_grid_is_scikit_learns_parameter_grid_in_declaration_order():
    from sklearn.model_selection import ParameterGrid

    from mlflow_qc.search import grid, grid_item, grid_size

    hyperparameters = {"zeta": [1, 2], "alpha": [[3], {"k": 4}], "mid": [True]}
    expected = [{"zeta": z, "alpha": a, "mid": m} for z in (1, 2) for a in ([3], {"k": 4}) for m in (True,)]
    assert grid(hyperparameters) == expected
    assert [grid_item(hyperparameters, i) for i in range(grid_size(hyperparameters))] == expected
    assert grid_size(hyperparameters) == len(ParameterGrid({k: v for k, v in hyperparameters.items()}))


def test_a_dask_task_knows_through_public_api_whether_it_is_still_wanted(tmp_path):
    distributed = pytest.importorskip("distributed")
    from mlflow_qc.run.dask_executor import still_wanted

    def task(started: str, go: str, done: str, path: str):
        from distributed import Event

        Event(started).set()
        Event(go).wait(60)
        Path(path).write_text(json.dumps(still_wanted()))
        Event(done).set()

    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        kept = client.submit(task, "started-1", "go-1", "done-1", str(tmp_path / "kept"), pure=False)
        dropped = client.submit(task, "started-2", "go-2", "done-2", str(tmp_path / "dropped"), pure=False)
        assert distributed.Event("started-1").wait(60) and distributed.Event("started-2").wait(60)
        client.cancel([dropped])  # while it runs: the scheduler no longer wants it
        # cancel is a message, not a round trip: let the scheduler act on it before the task asks
        deadline = time.monotonic() + 60
        while any(dropped.key in keys for keys in client.processing().values()):
            assert time.monotonic() < deadline, "the scheduler never dropped the cancelled task"
            time.sleep(0.05)
        for name in ("go-1", "go-2"):
            distributed.Event(name).set()
        assert distributed.Event("done-1").wait(60) and distributed.Event("done-2").wait(60)
        kept.result()
    assert json.loads((tmp_path / "kept").read_text()) is True
    assert json.loads((tmp_path / "dropped").read_text()) is False


def test_the_header_check_reads_names_as_the_trainer_will(tmp_path):
    from mlflow_qc.recipe import load_recipe
    from mlflow_qc.recipe_columns import check_columns

    (tmp_path / "t.tsv").write_text("\tx\ty\n0\t1.0\ta\n1\t2.0\tb\n")  # an empty first name: pandas' "Unnamed: 0"
    base = {"model": {"library": "sklearn", "analysis_type": "classification_binary", "estimator": "sklearn.svm.SVC"}}

    def checked(data: dict):
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump({**base, "data": data}))
        check_columns(load_recipe(path, classes=False))

    checked({"inputs": [{"dataset": {"path": "t.tsv"}, "exclude_columns": ["Unnamed: 0"]}], "target": {"column": "y"}})
    checked({"inputs": [{"dataset": {"path": "t.tsv", "rename_columns": ["i", "X", "Y"]}}], "target": {"column": "Y"}})
    with pytest.raises(QCError, match=re.escape("data.target.column: column(s) ['y'] not in t.tsv; did you mean 'Y'?")):
        checked(
            {"inputs": [{"dataset": {"path": "t.tsv", "rename_columns": ["i", "X", "Y"]}}], "target": {"column": "y"}}
        )
    with pytest.raises(QCError, match=re.escape("data.inputs[0].encoders[0].columns: column(s) ['z']")):
        checked(
            {
                "inputs": [
                    {"dataset": {"path": "t.tsv"}, "encoders": [{"sklearn": "StandardScaler", "columns": ["z"]}]}
                ],
                "target": {"column": "y"},
            }
        )


def test_a_misspelt_dotted_estimator_gets_the_nearest_class_of_its_module():
    from mlflow_qc.models.sklearn_adapter import estimator_class

    with pytest.raises(QCError, match=re.escape("did you mean 'RandomForestClassifier'?")):
        estimator_class("sklearn.ensemble.RandomForestClasifier")
