"""Per-model cost of mlflow_qc on N-D data: the epilepsy (Keras Conv1D) and brain-tumour (PyTorch CNN)
recipes of recipes/ through ``mlflow-qc train`` against the same models trained by a bare Keras /
PyTorch loop with the same preprocessing (the scaler per channel, fit on each context's training
samples), predictions of every split and the same metric code, nothing tracked.

    python bench/nd_overhead.py --repeats 2

Two sizes per recipe (the models differ only by the number of combinations or repeats), each
variant a fresh process (imports included), taking turns; medians. The marginal cost of one more
model (the difference between the sizes) is the per-model figure; peak RSS shows the prepared
arrays are not loaded once per model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from train_overhead import measure  # noqa: E402

WORKLOADS = {  # recipe, (small, large) overrides, models per size
    "epilepsy": (
        "epilepsy_keras.yaml",
        ("model.hyperparameters.filters=[8]", "model.hyperparameters.filters=[8, 12, 16]"),
        (2, 6),
    ),
    "brain_tumor": ("brain_tumor_pytorch.yaml", ("trainer.repeat_count=2", "trainer.repeat_count=6"), (2, 6)),
}


def bare_epilepsy(root: Path, recipe: dict) -> None:
    import keras
    from sklearn.preprocessing import StandardScaler

    from mlflow_qc.cache import CacheEntry  # noqa: F401  (same imports as a trainer: the package is on the path)
    from mlflow_qc.models.metrics import classification_metrics
    from mlflow_qc.models.outputs import probabilities_by_class
    from mlflow_qc.models.user_module import import_user_module

    fn_build = import_user_module(REPO / "models" / "epilepsy_keras.py").fn_build
    samples = np.load(root / "data" / "epilepsy.npy").astype(np.float64)
    import pandas as pd

    label = pd.read_parquet(root / "data" / "epilepsy_labels.parquet")["seizure"].to_numpy()[:, None].astype(np.float64)
    splits, folds = _splits(len(samples), label[:, 0], recipe)
    hp = recipe["model"]["hyperparameters"]
    for fold in folds:
        scaler = StandardScaler().fit(samples[fold["train"]].reshape(-1, 1))
        scaled = scaler.transform(samples.reshape(-1, 1)).reshape(samples.shape)
        parts = {**fold, **splits}
        for filters in hp["filters"]:
            keras.backend.clear_session()
            keras.utils.set_random_seed(1)
            model = fn_build(samples.shape[1:], (1,), filters=filters)
            model.compile(
                loss=keras.losses.BinaryCrossentropy(),
                optimizer=keras.optimizers.Adam(hp["learning_rate"][0]),
                metrics=["accuracy"],
            )
            model.fit(
                scaled[fold["train"]],
                label[fold["train"]],
                validation_data=(scaled[fold["fold_validation"]], label[fold["fold_validation"]]),
                epochs=hp["epochs"][0],
                batch_size=hp["batch_size"][0],
                verbose=0,
            )
            for rows in parts.values():
                output = keras.ops.convert_to_numpy(model(scaled[rows], training=False))
                classification_metrics(label[rows, 0].astype(int), probabilities_by_class(output))


def bare_brain_tumor(root: Path, recipe: dict) -> None:
    import pandas as pd
    import torch
    from PIL import Image
    from sklearn.preprocessing import MinMaxScaler

    from mlflow_qc.models.metrics import classification_metrics
    from mlflow_qc.models.outputs import probabilities_by_class
    from mlflow_qc.models.user_module import import_user_module

    fn_build = import_user_module(REPO / "models" / "brain_tumor_torch.py").fn_build
    manifest = pd.read_csv(root / "data" / "brain_tumor.csv")
    images = np.stack([np.asarray(Image.open(root / "data" / f).convert("L"))[None] for f in manifest["file"]]).astype(
        np.float64
    )
    label = manifest["status"].to_numpy()[:, None].astype(np.float32)
    splits, _ = _splits(len(images), label[:, 0], recipe)
    hp = recipe["model"]["hyperparameters"]
    scaler = MinMaxScaler().fit(images[splits["train"]].reshape(-1, 1))
    scaled = (
        scaler.transform(images.reshape(-1, 1)).reshape(images.shape)[:, 0].astype(np.float32)
    )  # reshape_indices [0, 2, 3]
    for repeat in range(recipe["trainer"]["repeat_count"]):
        torch.manual_seed(repeat)
        model = fn_build(scaled.shape[1:], (1,), filters=hp["filters"][0])
        optimizer = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"][0])
        loss = torch.nn.BCELoss()
        x, y = torch.from_numpy(scaled[splits["train"]]), torch.from_numpy(label[splits["train"]])
        generator = torch.Generator().manual_seed(repeat)
        for _ in range(hp["epochs"][0]):
            model.train()
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), hp["batch_size"][0]):
                batch = order[start : start + hp["batch_size"][0]]
                optimizer.zero_grad()
                loss(model(x[batch]), y[batch]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                loss(
                    model(torch.from_numpy(scaled[splits["validation"]])), torch.from_numpy(label[splits["validation"]])
                )
        with torch.no_grad():
            for rows in splits.values():
                output = model(torch.from_numpy(scaled[rows])).numpy()
                classification_metrics(label[rows, 0].astype(int), probabilities_by_class(output))


def _splits(count: int, strata: np.ndarray, recipe: dict):
    from mlflow_qc.recipe import Stratifier
    from mlflow_qc.split import make_splits

    made = make_splits(count, strata.astype(str), Stratifier(**recipe["data"]["stratifier"]), recipe["seed"])
    return made.splits, made.folds


def effective_recipe(name: str, overrides: str) -> dict:
    from mlflow_qc.overrides import apply_overrides

    return apply_overrides(yaml.safe_load((REPO / "recipes" / WORKLOADS[name][0]).read_text()), overrides)


def setup(root: Path) -> None:
    from mlflow_qc.data.demo import write_demo_data
    from mlflow_qc.scaffold import init_dvc_repo

    root.mkdir(parents=True)
    init_dvc_repo(root)
    write_demo_data(root / "data")
    shutil.copytree(REPO / "recipes", root / "recipes")
    shutil.copytree(REPO / "models", root / "models")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variant", choices=list(WORKLOADS))
    parser.add_argument("--root")
    parser.add_argument("--overrides", default="")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    if args.variant:
        {"epilepsy": bare_epilepsy, "brain_tumor": bare_brain_tumor}[args.variant](
            Path(args.root), effective_recipe(args.variant, args.overrides)
        )
        return
    root = Path(tempfile.mkdtemp(prefix="qc-nd-bench-")) / "project"
    setup(root)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_QC_QUIET": "1",
        "DVC_NO_ANALYTICS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    print("| recipe | models | bare s | mlflow_qc s | qc/bare | peak MiB bare / qc |")
    print("|---|---|---|---|---|---|")
    for name in args.workloads:
        recipe_file, sizes, counts = WORKLOADS[name]
        walls = {}
        for overrides, count in zip(sizes, counts):
            runs = {"bare": [], "qc": []}
            for attempt in range(args.repeats):
                env["MLFLOW_QC_CACHE"] = str(root / f"cache-{name}-{count}-{attempt}")
                qc = [
                    sys.executable,
                    "-m",
                    "mlflow_qc.cli",
                    "--quiet",
                    "train",
                    str(root / "recipes" / recipe_file),
                    "--overrides",
                    f"{overrides};name={name}-{count}-{attempt}",
                ]
                bare = [sys.executable, __file__, "--variant", name, "--root", str(root), "--overrides", overrides]
                runs["bare"].append(measure(bare, root, env))
                runs["qc"].append(measure(qc, root, env))
            (bare_s, bare_mib), (qc_s, qc_mib) = (
                (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for v in runs.values()
            )
            walls[count] = (bare_s, qc_s)
            print(
                f"| {name} | {count} | {bare_s:.1f} | {qc_s:.1f} | {qc_s / bare_s:.2f} | {bare_mib:.0f} / {qc_mib:.0f} |",
                flush=True,
            )
        (small, (bare_a, qc_a)), (large, (bare_b, qc_b)) = sorted(walls.items())
        per_bare, per_qc = (bare_b - bare_a) / (large - small), (qc_b - qc_a) / (large - small)
        print(
            f"| {name} | per model (marginal) | {per_bare:.2f} | {per_qc:.2f} | {per_qc / per_bare:.2f} | |", flush=True
        )
    shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
