"""Training overhead of mlflow_qc against no tracking and against GridSearchCV + autolog.

Workload (issue 3): synthetic classification, 20,000 rows x 30 numeric + 2 categorical
columns; StandardScaler + OneHotEncoder; LogisticRegression over C; 5 folds x 2 repeats.

    python bench/train_overhead.py --combos 4 40 --repeats 3    # 40 and 400 models
    python bench/train_overhead.py --combos 4 40 --repeats 4 --blas-threads 1 --skip-peer

``--blas-threads 1`` runs every variant with one BLAS/OpenMP thread (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS): on a 2-vCPU VM OpenBLAS's second thread makes this workload's
fit several times slower and far noisier, and that noise, paid by the bare loop and mlflow_qc
alike, is what hides a per-model overhead of tens of milliseconds. ``--skip-peer`` leaves out the
GridSearchCV + autolog variant (half the time of a run) when only the marginal overhead is wanted.

Variants: bare, peer, mlflow_qc through ``mlflow run`` and the same entry point's command
(``mlflow-qc train``) without the launcher, so the launcher's part is the difference.

Each variant runs as its own fresh process (interpreter start and imports included), one
after another on an idle machine; wall time and peak RSS of its process tree are measured
from outside. The tracking store and the DVC-versioned dataset exist before timing (both
are made once per project); mlflow_qc's prepared-array cache starts empty.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ROWS, NUMERIC, FOLDS, REPEATS, SEED = 20_000, 30, 5, 2, 42


def c_values(combos: int) -> list[float]:
    return [float(c) for c in np.logspace(-2, 1, combos)] if combos != 4 else [0.01, 0.1, 1.0, 10.0]


def make_data(path: Path, rows: int = ROWS) -> None:
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=NUMERIC, n_informative=12, random_state=SEED)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(NUMERIC)])
    rng = np.random.default_rng(SEED)
    frame["site"] = rng.choice(["north", "south", "east", "west"], size=rows)
    frame["grade"] = pd.cut(X[:, 0] + rng.normal(0, 1, rows), 5, labels=list("abcde")).astype(str)
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_parquet(path, index=False)


def in_process_workspace(root: Path) -> Path:
    """``root`` as the project of an in-process benchmark: data/bench.parquet, recipes/, the cwd,
    a sqlite store and a prepared-array cache of its own, no progress bars."""
    (root / "data").mkdir(parents=True)
    (root / "recipes").mkdir()
    make_data(root / "data" / "bench.parquet")
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_QC_CACHE"] = str(root / ".qc_cache")
    os.environ["MLFLOW_QC_QUIET"] = "1"
    return root


def recipe(combos: int) -> dict:
    return {
        "name": "bench",
        "seed": SEED,
        "data": {
            "inputs": [
                {
                    "dataset": {"path": "../data/bench.parquet"},
                    "encoders": [
                        {"sklearn": "StandardScaler", "dtypes": ["float64"]},
                        {"sklearn": "OneHotEncoder", "columns": ["site", "grade"]},
                    ],
                }
            ],
            "target": {"column": "label", "encoder": {"sklearn": "LabelBinarizer"}},
            "stratifier": {"size_test": 0.2, "fold_count": FOLDS},
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "hyperparameters": {"C": c_values(combos), "max_iter": [500]},
        },
        "trainer": {"repeat_count": REPEATS},
    }


# --- the variants, each run in its own process ---------------------------------------


def variant_bare(root: Path, combos: int) -> None:
    """Same preprocessing (scaler per fold, one-hot on all rows), fits, predictions and the
    same metric code (mlflow_qc's, which only calls sklearn), nothing tracked."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlflow_qc.models.metrics import classification_metrics

    frame = pd.read_parquet(root / "data" / "bench.parquet")
    y = (frame.pop("label") == "yes").to_numpy(int)
    numeric, categorical = frame.select_dtypes("float64"), frame[["site", "grade"]]
    onehot = OneHotEncoder(sparse_output=False).fit(categorical).transform(categorical)
    rows = np.arange(ROWS)
    train, test = train_test_split(rows, test_size=0.2, stratify=y, random_state=SEED)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(train, y[train])
    for fit_idx, held_idx in folds:
        fit_rows, held_rows = train[fit_idx], train[held_idx]
        scaler = StandardScaler().fit(numeric.iloc[fit_rows])
        features = np.hstack([scaler.transform(numeric), onehot])
        for c in c_values(combos):
            for repeat in range(REPEATS):
                model = LogisticRegression(C=c, max_iter=500, random_state=repeat).fit(features[fit_rows], y[fit_rows])
                for split in (fit_rows, held_rows, test):
                    classification_metrics(y[split], model.predict_proba(features[split]))


def variant_peer(root: Path, combos: int) -> None:
    """What users do today: GridSearchCV with RepeatedStratifiedKFold and mlflow.sklearn.autolog()."""
    import mlflow
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_parquet(root / "data" / "bench.parquet")
    y = (frame.pop("label") == "yes").to_numpy(int)
    X_train, X_test, y_train, y_test = train_test_split(frame, y, test_size=0.2, stratify=y, random_state=SEED)
    columns = ColumnTransformer(
        [
            ("scale", StandardScaler(), [c for c in frame.columns if c.startswith("x")]),
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["site", "grade"]),
        ]
    )
    pipeline = Pipeline([("prep", columns), ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(
        pipeline,
        {"clf__C": c_values(combos)},
        cv=RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=SEED),
        scoring=["accuracy", "f1", "precision", "recall", "roc_auc", "neg_log_loss"],
        refit="accuracy",
        return_train_score=True,
    )
    mlflow.set_experiment("peer")
    mlflow.sklearn.autolog()
    with mlflow.start_run():
        search.fit(X_train, y_train)
        search.score(X_test, y_test)


def variant_qc(root: Path, experiment: str) -> list[str]:
    # a fresh experiment per attempt: the same one would resume and reuse every finished model
    return [
        shutil.which("mlflow"),
        "run",
        str(REPO),
        "--env-manager",
        "local",
        "--experiment-name",
        experiment,
        "-P",
        f"recipe={root / 'recipes' / 'bench.yaml'}",
    ]


def variant_train(root: Path, experiment: str) -> list[str]:
    """The MLproject entry point's command on its own (no ``mlflow run`` launcher): qc - train is the launcher."""
    return [
        shutil.which("mlflow-qc"),
        "--quiet",
        "train",
        str(root / "recipes" / "bench.yaml"),
        "--overrides",
        f"name={experiment}",
    ]


# --- harness -------------------------------------------------------------------------


def setup_workspace(root: Path, combos: int) -> None:
    import yaml

    (root / "data").mkdir(parents=True)
    (root / "recipes").mkdir()
    from mlflow_qc.scaffold import init_dvc_repo

    init_dvc_repo(root)
    run = lambda *cmd: subprocess.run(cmd, cwd=root, check=True, capture_output=True)  # noqa: E731
    make_data(root / "data" / "bench.parquet")
    run(sys.executable, "-m", "mlflow_qc.cli", "data", "add", "data/bench.parquet")
    (root / "recipes" / "bench.yaml").write_text(yaml.safe_dump(recipe(combos)))
    run(sys.executable, "-c", "import mlflow; mlflow.MlflowClient().search_experiments()")  # create the store


def measure(command: list[str], root: Path, env: dict) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of a command's process tree. The CPU
    figure counts its children once they are waited for (the launcher waits for its entry point); on a
    shared VM it moves less with the host's load than the wall figure."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{command} failed:\n{process.stderr.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def model_count(root: Path) -> int:
    import sqlite3

    with sqlite3.connect(root / "mlflow.db") as db:
        return db.execute(
            "select count(*) from runs join tags t on t.run_uuid = runs.run_uuid "
            "where t.key = 'qc.level' and t.value = 'model' and runs.status = 'FINISHED'"
        ).fetchone()[0]


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
NOT_RUN = (float("nan"),) * 3


def run_workload(combos: int, repeats: int, variants: tuple[str, ...], blas_threads: int | None) -> tuple[dict, dict]:
    """Every variant ``repeats`` times, taking turns: the medians of wall time, peak memory and CPU, and
    each attempt's (wall, peak, CPU) per variant (NaN for a variant not run)."""
    root = Path(tempfile.mkdtemp(prefix="qc-bench-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_QC_QUIET": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    if blas_threads is not None:
        env.update(dict.fromkeys(BLAS_THREAD_VARIABLES, str(blas_threads)))
    os.environ.update(env)
    setup_workspace(root, combos)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for attempt in range(repeats):
        for name in runs:
            env["MLFLOW_QC_CACHE"] = str(root / f"cache-{name}-{attempt}")  # every qc run prepares from scratch
            if name in ("qc", "train"):
                command = (variant_qc if name == "qc" else variant_train)(root, f"bench-{name}-{attempt}")
            else:
                command = [sys.executable, __file__, "--variant", name, "--root", str(root), "--combos", str(combos)]
            runs[name].append(measure(command, root, env))
            print(
                f"  {combos * FOLDS * REPEATS} models, {name}: {runs[name][-1][0]:.1f} s, "
                f"CPU {runs[name][-1][2]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    assert model_count(root) == 2 * combos * FOLDS * REPEATS * repeats, "mlflow_qc did not finish every model"
    shutil.rmtree(root, ignore_errors=True)
    medians = {name: tuple(statistics.median(column) for column in zip(*values)) for name, values in runs.items()}
    return {"peer": NOT_RUN, **medians}, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--combos", type=int, nargs="+", default=[4, 40], help="C values per workload (x10 models)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant per workload (medians)")
    parser.add_argument("--variant", choices=["bare", "peer"])
    parser.add_argument("--root")
    parser.add_argument(
        "--blas-threads", type=int, help="BLAS/OpenMP threads of every variant (default: the libraries' own)"
    )
    parser.add_argument("--skip-peer", action="store_true", help="leave out GridSearchCV + autolog")
    args = parser.parse_args()
    if args.variant:
        {"bare": variant_bare, "peer": variant_peer}[args.variant](Path(args.root), args.combos[0])
        return
    rows, cpu_rows, attempts = {}, {}, {}
    variants = ("bare", "qc", "train") if args.skip_peer else ("bare", "peer", "qc", "train")
    if args.blas_threads is not None:
        print(f"every variant with {args.blas_threads} BLAS/OpenMP thread(s)")
    print(
        "| models | bare s | peer s | mlflow_qc s (mlflow run) | mlflow-qc train s | qc/bare | train/bare | qc/peer "
        "| peak MiB bare / peer / qc / train | overhead ms/model |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for combos in args.combos:
        models = combos * FOLDS * REPEATS
        results, attempts[models] = run_workload(combos, args.repeats, variants, args.blas_threads)
        (bare, bare_mib, bare_cpu), (peer, peer_mib, _), (qc, qc_mib, qc_cpu), (train, train_mib, train_cpu) = (
            results[k] for k in ("bare", "peer", "qc", "train")
        )
        rows[models], cpu_rows[models] = (bare, qc, train), (bare_cpu, qc_cpu, train_cpu)
        print(
            f"| {models} | {bare:.1f} | {peer:.1f} | {qc:.1f} | {train:.1f} "
            f"| {qc / bare:.2f} | {train / bare:.2f} | {qc / peer:.2f} "
            f"| {bare_mib:.0f} / {peer_mib:.0f} / {qc_mib:.0f} / {train_mib:.0f} | {(qc - bare) * 1000 / models:.0f} |",
            flush=True,
        )
    if len(rows) > 1:
        small, large = min(rows), max(rows)
        for measured, table in (("wall", rows), ("CPU", cpu_rows)):
            (bare_s, qc_s, train_s), (bare_l, qc_l, train_l) = table[small], table[large]
            for name, (low, high) in {"mlflow run": (qc_s, qc_l), "mlflow-qc train": (train_s, train_l)}.items():
                marginal = ((high - low) - (bare_l - bare_s)) * 1000 / (large - small)
                fixed = (low - bare_s) - marginal * small / 1000
                print(
                    f"\n{name} ({measured}): marginal overhead per model between {small} and {large} models: "
                    f"{marginal:.0f} ms; "
                    f"fixed cost per run: {fixed:.1f} s"
                )
        print_attempts(attempts[small], attempts[large], large - small)
        (bare_s, qc_s, train_s), (bare_l, qc_l, train_l) = rows[small], rows[large]
        print(
            f"\nthe launcher of mlflow run (mlflow run - mlflow-qc train): {qc_s - train_s:.1f} s at {small} models, "
            f"{qc_l - train_l:.1f} s at {large}"
        )


def print_attempts(small: dict, large: dict, more_models: int) -> None:
    """The marginal overhead per model of each attempt (attempt i of the small workload against
    attempt i of the large one, each against the bare loop's attempts i), for both variants, and
    their mean: the two variants run the same code per model, so together they are 2 x repeats
    estimates of one figure, and their spread is the host's noise."""
    for measured, column in (("wall", 0), ("CPU", 2)):
        estimates = {}
        for name in ("qc", "train"):
            estimates[name] = [
                ((high[column] - low[column]) - (bare_high[column] - bare_low[column])) * 1000 / more_models
                for low, high, bare_low, bare_high in zip(small[name], large[name], small["bare"], large["bare"])
            ]
        pooled = [value for values in estimates.values() for value in values]
        print(
            f"\nmarginal overhead per model ({measured}), attempt by attempt: mlflow run "
            f"{' / '.join(f'{v:.0f}' for v in estimates['qc'])} ms, mlflow-qc train "
            f"{' / '.join(f'{v:.0f}' for v in estimates['train'])} ms; mean of all {statistics.mean(pooled):.1f} ms, "
            f"median {statistics.median(pooled):.1f} ms (range {min(pooled):.0f} to {max(pooled):.0f})"
        )


if __name__ == "__main__":
    main()
